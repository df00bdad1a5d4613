"""Firmware updates through the OTA region: serial YMODEM, control requests, the cloud, and the
OTA flag that DFU tools use for bootloaders (particle-protocols §3.3, §4.4, §5.6, §6.1).

A rejected update writes nothing to its target and returns the Device OS error code.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Protocol

from rig import platforms
from rig.firmware.module import Module, ModuleError
from rig.firmware.parse import read_modules
from rig.sim import installed as inst
from rig.sim.memory import Memory

OTA_FLAG_SET = 0xA5


@dataclass
class UpdateSession:
    """An OTA-region transfer in progress (serial, control requests or cloud)."""

    size: int
    received: int = 0


class Board(Protocol):
    """What an update needs of a simulated board (rig.sim.board.Board; no import, no cycle)."""

    platform: platforms.Platform
    pending: list[Module]
    update: UpdateSession | None

    @property
    def mem(self) -> Memory:
        """The board's flash."""
        ...

    def note(self, text: str) -> None:
        """Add a line to the board's log."""
        ...

    def installed(self) -> list[inst.Installed]:
        """The modules in flash."""
        ...

    def dct_read(self, offset: int, length: int) -> bytes:
        """Bytes of the DCT."""
        ...

    def dct_write(self, offset: int, data: bytes) -> None:
        """Write the DCT."""
        ...

    def spend(self, seconds: float) -> None:
        """Busy for modelled seconds."""
        ...

    def install(self, module: Module) -> None:
        """Copy a module to its slot."""
        ...


def apply_ota_flag(board: Board, found: list[inst.Installed]) -> bool:
    """HAL_FLASH_ApplyPendingUpdate: the OTA region holds a module and the flag is 0xA5 (§5.6)."""
    offset = board.platform.ota_flag_offset
    if offset is None or board.dct_read(offset, 1) != bytes([OTA_FLAG_SET]):
        return False
    board.dct_write(offset, b"\xff")
    module = read_ota_region(board)
    if module is None:
        board.note("OTA flag set but no module in the OTA region")
        return False
    code = inst.update_error(board.platform, found, module, board.platform.ncp_id)
    if code != inst.OK:
        board.note(f"OTA region module rejected ({code})")
        return False
    board.install(module)
    return True


def read_ota_region(board: Board, size: int | None = None) -> Module | None:
    """The module at the start of the OTA region, if one is there."""
    region = board.platform.ota_region
    if region is None:
        return None
    length = size or (region.end - region.start)
    raw = board.mem.read(region.dfu_address, length)
    for candidate in _candidates(raw, size):
        try:
            return read_modules(candidate, "OTA region")[0]
        except ModuleError:
            continue
    return None


def begin_update(board: Board, size: int) -> int:
    """Spark_Prepare_For_Firmware_Update: erase the OTA region for `size` bytes."""
    region = board.platform.ota_region
    if region is None:
        return -120
    if size <= 0 or size > region.end - region.start:
        return inst.INVALID_SIZE
    bank = board.mem.bank_for(region.dfu_address, size)
    board.spend(bank.erase_range(region.dfu_address, size))
    board.update = UpdateSession(size)
    return inst.OK


def write_update(board: Board, offset: int, data: bytes) -> int:
    """Store a chunk in the OTA region."""
    if board.update is None or board.platform.ota_region is None:
        return -210
    if offset + len(data) > board.update.size:
        return -290
    address = board.platform.ota_region.dfu_address + offset
    board.spend(board.mem.bank_for(address, len(data)).program(address, data))
    board.update.received = max(board.update.received, offset + len(data))
    return inst.OK


def finish_update(board: Board, validate_only: bool = False) -> int:
    """Spark_Finish_Firmware_Update: validate (§6.1) and schedule the install; nothing is
    written to the target when validation fails.
    """
    if board.update is None:
        return -210
    session, board.update = board.update, None
    module_bytes = read_ota_raw(board, session.size)
    try:
        modules = read_modules(module_bytes, "update")
    except ModuleError:
        return inst.INVALID_FORMAT
    found = board.installed()
    for m in modules:
        code = inst.update_error(board.platform, found, m, board.platform.ncp_id)
        if code != inst.OK:
            board.note(f"update rejected: {m.describe()} -> {code}")
            return code
    if not validate_only:
        board.pending.extend(modules)
    return inst.OK


def read_ota_raw(board: Board, size: int) -> bytes:
    """The first `size` bytes of the OTA region."""
    assert board.platform.ota_region is not None
    return board.mem.read(board.platform.ota_region.dfu_address, size)


def _candidates(raw: bytes, size: int | None) -> list[bytes]:
    """Plausible module byte ranges at the start of a region (size from the prefix)."""
    if size is not None:
        return [raw[:size]]
    out = []
    for off in (0, 0x200, 0x184):
        if off + 8 <= len(raw):
            start, end = struct.unpack_from("<II", raw, off)
            if start < end and end - start + 4 <= len(raw):
                out.append(raw[: end - start + 4])
    return out
