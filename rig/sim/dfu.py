"""DfuSe as a simulated Particle bootloader serves it (particle-protocols §5, §5.9).

Alt settings with per-platform memory maps (read-only and non-erasable segments enforced),
sector erase, 4096-byte writes, GETSTATUS and the DFU states, upload, leave (Gen 2 reports
dfuDNLOAD_IDLE instead of dfuMANIFEST, §5.3) and Particle's 0xFA "enter safe mode" command
(nRF52840 bootloaders from Device OS 6.1.1 only). How a refusal shows differs by generation, as in
the bootloaders' sources: Gen 2 stalls the status request that ran the command and carries on
(dfuDNLOAD_IDLE, status OK); Gen 3 enters dfuERROR with a status. DFU writes are raw flash
writes: nothing is validated until the next boot.
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
CMD_GET, CMD_SET_ADDRESS, CMD_ERASE, CMD_SAFE_MODE = 0x00, 0x21, 0x41, 0xFA
SAFE_MODE_COMMAND_SINCE = 3001  # nRF52840 bootloader of Device OS 6.1.1 (commit 13605e36f, §5.9)
GEN2_PROTECTED_END = 0x08020000  # Gen 2 MAL refuses erases and writes below the system (§5.9)
DCT_NAME_SINCE = 2001  # nRF52840 bootloader of 5.0.1: alt 1 renamed from "DCD Flash" (commit fe942aa62, §2.5)
LEAVE_RESET = 0.5  # after the leave's status: Gen 2 DFU_Reset_Count, Gen 3 USBD_DFU_POLL_TIMEOUT, 500 ms (§5.9)
# DFU functional descriptor: bmAttributes 0x0B, wDetachTimeout 255, wTransferSize 4096, bcdDFU 0x011A
FUNCTIONAL_DESCRIPTOR = struct.pack("<BBBHHH", 9, 0x21, 0x0B, 255, TRANSFER_SIZE, 0x011A)


def memory_map(board: Board, alt: int) -> str:
    """The alt setting's memory-map string as this board's bootloader sends it (§2.5)."""
    text = board.platform.dfu_alt(alt).memory_map
    old_gen3 = board.platform.family == "nrf52840" and board.bootloader_version() < DCT_NAME_SINCE
    return text.replace("@DCT Flash", "@DCD Flash") if old_gen3 and alt == board.platform.dct_alt else text


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
        self.stall_status = False  # Gen 2: the status request that ran a refused command stalls
        self.gen2 = board.platform.family == "stm32f2"

    def commands(self) -> bytes:
        """GET_COMMANDS: what this bootloader supports."""
        board = self.board
        safe = board.platform.family == "nrf52840" and board.bootloader_version() >= SAFE_MODE_COMMAND_SINCE
        return bytes([CMD_GET, CMD_SET_ADDRESS, CMD_ERASE] + ([CMD_SAFE_MODE] if safe else []))

    def _refuse(self, gen3_status: int) -> None:
        """A refused command, erase or write: Gen 2 stalls and carries on, Gen 3 reports dfuERROR."""
        if self.gen2:
            self.stall_status = True
            self.state = DNLOAD_SYNC  # the next GETSTATUS moves on to dfuDNLOAD_IDLE, status OK
        else:
            self._fail(gen3_status)

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
        """SET_INTERFACE: choose the memory (alt 0 internal, 1 DCT, 2 external); the state stays."""
        self.board.platform.dfu_alt(alt)  # unknown alts raise
        self.alt = alt

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
        elif request == CLRSTATUS and self.state != ERROR:
            self._fail(ERR_UNKNOWN)  # no transition defined: dfuERROR (and a stall on Gen 3)
            if not self.gen2:
                raise DfuStall()
        elif request in (CLRSTATUS, ABORT):
            self.state, self.status = IDLE, OK
            self.pending = None
        elif request != DETACH:
            raise DfuStall()

    def control_in(self, request: int, value: int, length: int) -> bytes:
        """Class IN requests (bmRequestType 0xA1)."""
        if request == GETSTATUS:
            shown = self._progress()
            reply = struct.pack("<B", self.status) + self.poll_ms.to_bytes(3, "little") + bytes([shown, 0])
            if self.stall_status:
                self.stall_status = False
                raise DfuStall()
            return reply
        if request == GETSTATE:
            return bytes([self.state])
        if request == UPLOAD:
            if self.state not in (IDLE, UPLOAD_IDLE):
                raise DfuStall()
            if value == 0:
                return self.commands()[:length]
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

    def _progress(self) -> int:
        """What a GETSTATUS advances; returns the state it reports. The request that finds a command
        or block pending reports dfuDNBUSY and runs it; a leave (or 0xFA) reports dfuMANIFEST (Gen 2:
        dfuDNLOAD_IDLE) and the board resets 0.5 s later (§5.3, §5.9).
        """
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
            return DNBUSY
        if self.state in (DNBUSY, DNLOAD_SYNC):
            self.state = DNLOAD_IDLE
        elif self.state == MANIFEST_SYNC:
            board.note("DFU leave")
            board.reset("DFU leave", delay=LEAVE_RESET)
            self.state = MANIFEST_WAIT_RESET
            return DNLOAD_IDLE if self.gen2 else MANIFEST  # Gen 2 pleases dfu-util (§5.3)
        return self.state

    def _command(self, data: bytes) -> None:
        board = self.board
        cmd = data[0]
        if cmd == CMD_SET_ADDRESS and len(data) == 5:
            self.pointer = struct.unpack_from("<I", data, 1)[0]
        elif cmd == CMD_ERASE and len(data) == 5:
            address = struct.unpack_from("<I", data, 1)[0]
            if self.alt == board.platform.dct_alt:
                return  # erasing the DCT is a no-op on both generations (§5.9)
            seg = self._segment(address)
            if seg is None or not seg.erasable or (self.gen2 and address < GEN2_PROTECTED_END):
                self._refuse(ERR_UNKNOWN)
                return
            bank, _ = self._bank()
            board.spend(bank.erase_sector(address))
        elif cmd == CMD_ERASE and len(data) == 1 and not self.gen2:
            self._fail(ERR_TARGET)  # mass erase is refused (§5.2)
        elif cmd == CMD_SAFE_MODE and CMD_SAFE_MODE in self.commands():
            board.note("DfuSe 0xFA: enter safe mode")
            board.backup_request = "safe"  # the backup register; the leave that follows resets
            self.state = MANIFEST_SYNC
        elif cmd == CMD_GET and len(data) == 1:
            pass
        else:
            self._refuse(ERR_STALLEDPKT if cmd != CMD_SET_ADDRESS else ERR_UNKNOWN)

    def _write(self, block: int, data: bytes) -> None:
        board = self.board
        if block < 2 or len(data) > TRANSFER_SIZE:
            self._fail(ERR_TARGET)
            return
        if board.faults.dfu_error_status is not None:
            status, board.faults.dfu_error_status = board.faults.dfu_error_status, None
            self._fail(status)
            return
        address = (block - 2) * TRANSFER_SIZE + self.pointer
        first, last = self._segment(address), self._segment(address + len(data) - 1)
        protected = self.gen2 and self.alt == 0 and address < GEN2_PROTECTED_END
        if first is None or last is None or not (first.writable and last.writable) or protected:
            self._refuse(ERR_UNKNOWN)
            return
        bank, _ = self._bank()
        board.spend(bank.program(address, data))
