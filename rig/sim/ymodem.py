"""The YMODEM receiver of a simulated board (`f` in listening mode; particle-protocols §3.3).

As Device OS ≤ 5.9 does it (v2.3.1 `system/src/system_ymodem.cpp`): no initial 'C' (only after a
5 s timeout or a garbled packet), the CRC-16 trailer is never checked, the OTA region is written
block by block, EOT is ACKed at once, and the final empty header is ACKed only after the image has
been validated; then the board reboots. A session that ends early sends CAN CAN twice (once where
it stopped, once from the caller) and one line saying why. A rejected image still resets the board
(from 2.0.0 at once, before that when listening mode ends, §3.3). Refused on Device OS 6 (4 x CAN).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from rig.sim import ota
from rig.sim.clock import Timer

if TYPE_CHECKING:
    from rig.sim.board import Board

SOH, STX, EOT, ACK, NAK, CAN, CRC_C = 0x01, 0x02, 0x04, 0x06, 0x15, 0x18, 0x43
NAK_TIMEOUT = 5.0
MAX_ERRORS = 5
# Device OS below 2.0.0-alpha.1 (system module 2000) prints "Validation failed: 0x%x" with the
# validation checks that failed (MODULE_VALIDATION_* of hal/inc/ota_flash_hal.h, v1.5.2); later
# ones print the result code, and reset at once after a rejected image (§3.3)
FAILED_CHECKS_UNTIL = 2000
FAILED_CHECKS = {-1330: 0x02, -1340: 0x44, -1360: 0x10, -1350: 0x5E}
WAITING = b"Waiting for the binary file to be sent ... (press 'a' to abort)\r\n"


class YmodemReceiver:
    """One YMODEM session; `emit(bytes, delay)` queues output to the host."""

    def __init__(self, board: Board, emit: Callable[[bytes, float], None], done: Callable[[], None]) -> None:
        self.board = board
        self.emit = emit
        self.done = done
        self.buffer = bytearray()
        self.expected = 0  # next block number
        self.name = ""
        self.size = 0
        self.offset = 0
        self.errors = 0
        self.after_eot = False
        self.finished = False
        self._timer: Timer | None = None
        self._arm()

    def _arm(self) -> None:
        if self._timer:
            self._timer.cancel()
        self._timer = self.board.clock.schedule(NAK_TIMEOUT, self._timeout)

    def _timeout(self) -> None:
        if self.finished:
            return
        self.buffer.clear()
        self._error()

    def _error(self) -> None:
        self.errors += 1
        self.emit(bytes([CRC_C]), 0.0)
        if self.errors > MAX_ERRORS:  # the sixth 'C' is followed by the end of the session
            self._abort(b"Failed to receive the file!\r\n")
            return
        self._arm()

    def _abort(self, message: bytes, first: bytes = bytes([CAN, CAN])) -> None:
        """End the session: `first` where it stopped, then CAN CAN and the reason (one line)."""
        self.finished = True
        if self._timer:
            self._timer.cancel()
        self.board.update = None
        self.emit(first + bytes([CAN, CAN]) + message, 0.0)
        self.done()

    def feed(self, data: bytes) -> None:
        """Bytes from the host."""
        if self.finished or self.board.faults.ymodem_silent:
            return
        self._arm()
        self.buffer += data
        while self.buffer and not self.finished:
            mark = self.buffer[0]
            if mark in (SOH, STX):
                need = 3 + (128 if mark == SOH else 1024) + 2
                if len(self.buffer) < need:
                    return
                packet, self.buffer = bytes(self.buffer[:need]), self.buffer[need:]
                self._packet(packet)
            elif mark == EOT:
                del self.buffer[0]
                self.errors = 0
                self.after_eot = True
                self.emit(bytes([ACK]), 0.0)
            elif mark in (ord("a"), ord("A")):
                del self.buffer[0]
                self._abort(b"Aborted by user.\r\n")
            elif mark == CAN and len(self.buffer) >= 2 and self.buffer[1] == CAN:
                del self.buffer[:2]
                self._abort(b"Failed to receive the file!\r\n", first=bytes([ACK]))  # the sender's abort
            elif mark == CAN:
                return
            else:  # a lone space (or noise) is acknowledged and ignored
                del self.buffer[0]
                if mark == 0x20:
                    self.emit(bytes([ACK]), 0.0)

    def _packet(self, packet: bytes) -> None:
        seq, comp, data = packet[1], packet[2], packet[3:-2]  # the CRC-16 trailer is ignored
        if seq != (~comp & 0xFF):
            self._error()
            return
        self.errors = 0  # Device OS counts errors in a row: a good packet starts again (§3.3)
        if self.board.faults.ymodem_nak_packets > 0 and seq != 0:
            self.board.faults.ymodem_nak_packets -= 1
            self.emit(bytes([NAK]), 0.0)
            return
        if seq == 0 and self.after_eot:
            self._final(data)
            return
        if seq != (self.expected & 0xFF):
            self.emit(bytes([NAK]), 0.0)
            return
        if seq == 0 and self.expected == 0:
            self._header(data)
            return
        self._data(data)

    def _header(self, data: bytes) -> None:
        name, _, rest = data.partition(b"\0")
        try:
            self.size = int(rest.split(b" ")[0].split(b"\0")[0])
        except ValueError:
            self._error()
            return
        self.name = name.decode(errors="replace")
        board = self.board
        board.take_cost()
        if ota.begin_update(board, self.size) != 0:
            self._abort(b"The file size is higher than the allowed space memory!\r\n")
            return
        delay = board.take_cost()
        self.expected = 1
        self.emit(bytes([ACK]), delay)
        self.emit(bytes([CRC_C]), delay)

    def _data(self, data: bytes) -> None:
        board = self.board
        chunk = data[: max(0, self.size - self.offset)]
        board.take_cost()
        if chunk and ota.write_update(board, self.offset, chunk) != 0:
            self._abort(b"Failed to save chunk!\r\n")
            return
        self.offset += len(chunk)
        self.expected += 1
        self.emit(bytes([ACK]), board.take_cost())

    def _final(self, data: bytes) -> None:
        board = self.board
        board.take_cost()
        code = ota.finish_update(board)
        delay = board.take_cost()
        self.finished = True
        if self._timer:
            self._timer.cancel()
        if code != 0:
            old = (board.system_module_version() or 0) < FAILED_CHECKS_UNTIL  # 1.x prints flags (§3.3)
            shown = f"0x{FAILED_CHECKS.get(code, 0):x}" if old else str(code)
            self.emit(bytes([CAN, CAN]) + f"Validation failed: {shown}\r\n".encode(), delay)
            # Spark_Finish_Firmware_Update resets whether or not the image applied (§3.3)
            if old:
                board.reset_when_listening_ends = "serial firmware update (rejected)"
            else:
                board.reset("serial firmware update (rejected)", delay=delay + 0.1)
            self.done()
            return
        text = f"\r\nDownloaded file successfully!\r\nName: {self.name}\r\nSize: {self.size} bytes\r\n"
        self.emit(bytes([ACK]) + text.encode(), delay)
        self.emit(b"Restarting system to apply firmware update...\r\n", delay + 1.0)
        board.reset("serial firmware update", delay=delay + 1.1)
        self.done()


def refuse_on_6x(emit: Callable[[bytes, float], None]) -> None:
    """Device OS 6: 'f' prints the waiting line, then refuses (§3.2)."""
    emit(WAITING, 0.0)
    emit(bytes([CAN] * 4) + b"Serial/YModem flashing is no longer supported\r\n", 0.1)
