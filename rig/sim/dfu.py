"""DfuSe as a simulated Particle bootloader serves it (particle-protocols §5).

Alt settings with per-platform memory maps (read-only and non-erasable segments enforced),
sector erase, 4096-byte writes, GETSTATUS and the DFU states, upload, leave (Gen 2 reports
dfuDNLOAD_IDLE instead of dfuMANIFEST, §5.3) and Particle's 0xFA "enter safe mode" command.
DFU writes are raw flash writes: nothing is validated until the next boot.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from rig.dfu_map import Segment, parse_memory_map
from rig.sim.memory import Bank

if TYPE_CHECKING:
    from rig.sim.board import Board

DETACH, DNLOAD, UPLOAD, GETSTATUS, CLRSTATUS, GETSTATE, ABORT = range(7)
# states (§5.1)
APP_IDLE, APP_DETACH, IDLE, DNLOAD_SYNC, DNBUSY, DNLOAD_IDLE = 0, 1, 2, 3, 4, 5
MANIFEST_SYNC, MANIFEST, MANIFEST_WAIT_RESET, UPLOAD_IDLE, ERROR = 6, 7, 8, 9, 10
# status codes
OK, ERR_TARGET, ERR_FILE, ERR_WRITE, ERR_ERASE, ERR_CHECK_ERASED, ERR_PROG = 0, 1, 2, 3, 4, 5, 6
ERR_ADDRESS, ERR_UNKNOWN, ERR_STALLEDPKT = 0x08, 0x0E, 0x0F
TRANSFER_SIZE = 4096
CMD_GET, CMD_SET_ADDRESS, CMD_ERASE, CMD_SAFE_MODE, CMD_CLEAR_SECURITY = 0x00, 0x21, 0x41, 0xFA, 0xFB
# DFU functional descriptor: bmAttributes 0x0B, wDetachTimeout 255, wTransferSize 4096, bcdDFU 0x011A
FUNCTIONAL_DESCRIPTOR = struct.pack("<BBBHHH", 9, 0x21, 0x0B, 255, TRANSFER_SIZE, 0x011A)


class DfuStall(Exception):
    """The request is not valid in this state: the pipe stalls."""


class DfuSe:
    """The DFU interface of one board in DFU mode."""

    def __init__(self, board: Board) -> None:
        self.board = board
        self.alt = 0
        self.state = IDLE
        self.status = OK
        self.pointer = 0
        self.pending: tuple[str, bytes, int] | None = None  # (kind, data, block number)
        self.poll_ms = 0

    def _bank(self) -> tuple[Bank, list[Segment]]:
        plat = self.board.platform
        _name, segments = parse_memory_map(plat.dfu_alt(self.alt).memory_map)
        mem = self.board.mem
        if self.alt == 0:
            return mem.internal, segments
        if self.alt == plat.dct_alt:
            return mem.dct, segments
        if mem.external is None:
            raise DfuStall()
        return mem.external, segments

    def select_alt(self, alt: int) -> None:
        """SET_INTERFACE: choose the memory (alt 0 internal, 1 DCT, 2 external)."""
        self.board.platform.dfu_alt(alt)  # unknown alts raise
        self.alt = alt
        self.state, self.status = IDLE, OK

    def _fail(self, status: int) -> None:
        self.state, self.status = ERROR, status

    def erasable_sectors(self, address: int, length: int) -> list[int]:
        """Start addresses of the erasable sectors a write of `length` bytes at `address` touches."""
        _bank, segments = self._bank()
        out = []
        for seg in segments:
            for i in range(seg.count):
                start = seg.start + i * seg.sector_size
                if seg.erasable and start < address + length and address < start + seg.sector_size:
                    out.append(start)
        return out

    def _segment(self, address: int) -> Segment | None:
        _bank, segments = self._bank()
        for seg in segments:
            if seg.start <= address < seg.end:
                return seg
        return None

    def control_out(self, request: int, value: int, data: bytes) -> None:
        """Class OUT requests (bmRequestType 0x21)."""
        if request == DNLOAD:
            if self.state not in (IDLE, DNLOAD_IDLE):
                raise DfuStall()
            if not data:
                self.state = MANIFEST_SYNC  # leave request (§5.3)
                return
            self.pending = ("cmd" if value == 0 else "data", data, value)
            self.state = DNLOAD_SYNC
        elif request in (CLRSTATUS, ABORT):
            self.state, self.status = IDLE, OK
        elif request != DETACH:
            raise DfuStall()

    def control_in(self, request: int, value: int, length: int) -> bytes:
        """Class IN requests (bmRequestType 0xA1)."""
        if request == GETSTATUS:
            self._progress()
            return struct.pack("<B", self.status) + self.poll_ms.to_bytes(3, "little") + bytes([self.state, 0])
        if request == GETSTATE:
            return bytes([self.state])
        if request == UPLOAD:
            if self.state not in (IDLE, UPLOAD_IDLE):
                raise DfuStall()
            if value == 0:
                return bytes([CMD_GET, CMD_SET_ADDRESS, CMD_ERASE, CMD_SAFE_MODE, CMD_CLEAR_SECURITY])[:length]
            address = (value - 2) * TRANSFER_SIZE + self.pointer
            seg = self._segment(address)
            if seg is None or not seg.readable:
                self._fail(ERR_ADDRESS)
                raise DfuStall()
            bank, _ = self._bank()
            n = min(length, bank.end - address)
            self.state = UPLOAD_IDLE
            return bank.read(address, n)
        raise DfuStall()

    def _progress(self) -> None:
        """What a GETSTATUS advances: run the pending command or write, or manifest."""
        board = self.board
        if self.state == DNLOAD_SYNC and self.pending is not None:
            kind, data, block = self.pending
            self.pending = None
            self.state = DNBUSY
            if kind == "cmd":
                self._command(data)
            else:
                self._write(block, data)
            board.clock.busy(board.take_cost())
            return
        if self.state == DNBUSY:
            self.state = DNLOAD_IDLE
            return
        if self.state == MANIFEST_SYNC:
            gen2 = board.platform.family == "stm32f2"
            # Gen 2 reports dfuDNLOAD_IDLE to please dfu-util; Gen 3 shows dfuMANIFEST (§5.3)
            self.state = DNLOAD_IDLE if gen2 else MANIFEST
            board.note("DFU leave")
            board.reset("DFU leave", delay=0.05 if gen2 else 0.5)

    def _command(self, data: bytes) -> None:
        board = self.board
        cmd = data[0]
        if cmd == CMD_SET_ADDRESS and len(data) == 5:
            self.pointer = struct.unpack_from("<I", data, 1)[0]
        elif cmd == CMD_ERASE and len(data) == 5:
            address = struct.unpack_from("<I", data, 1)[0]
            seg = self._segment(address)
            if seg is None or not seg.erasable:
                self._fail(ERR_TARGET)
                return
            bank, _ = self._bank()
            board.spend(bank.erase_sector(address))
        elif cmd == CMD_ERASE:
            self._fail(ERR_TARGET)  # mass erase is refused (§5.2)
        elif cmd == CMD_SAFE_MODE:
            board.note("DfuSe 0xFA: enter safe mode")
            self.state = MANIFEST
            board.reset("DfuSe enter safe mode", delay=0.5, into="safe")
        elif cmd in (CMD_GET, CMD_CLEAR_SECURITY):
            pass
        else:
            self._fail(ERR_UNKNOWN)

    def _write(self, block: int, data: bytes) -> None:
        board = self.board
        if block < 2 or len(data) > TRANSFER_SIZE:
            self._fail(ERR_STALLEDPKT)
            return
        if board.faults.dfu_error_status is not None:
            status, board.faults.dfu_error_status = board.faults.dfu_error_status, None
            self._fail(status)
            return
        address = (block - 2) * TRANSFER_SIZE + self.pointer
        first, last = self._segment(address), self._segment(address + len(data) - 1)
        if first is None or last is None:
            self._fail(ERR_ADDRESS)
            return
        if not (first.writable and last.writable):
            self._fail(ERR_TARGET)
            return
        bank, _ = self._bank()
        board.spend(bank.program(address, data))
