"""A YMODEM batch sender on any pyserial port (particle-protocols §3.3–§3.4).

1024-byte blocks with a real CRC-16 (binascii.crc_hqx, CRC-16/XMODEM), retries on NAK, per-packet
timeouts on the caller's clock, CAN CAN to abort. It speaks to Particle's receiver (no initial
'C', validation before the final ACK) and to standard receivers such as lrzsz `rb`.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass

from rig.clock import Clock, Deadline
from rig.transport.console import SerialLike
from rig.transport.errors import BoardGoneError, TimeoutError_, YmodemError
from rig.transport.results import raise_for, result_of_failed_checks

SOH, STX, EOT, ACK, NAK, CAN, CRC_C, PAD = 0x01, 0x02, 0x04, 0x06, 0x15, 0x18, 0x43, 0x1A
MAX_RETRIES = 10
PACKET_TIMEOUT = 20.0
RESEND_SETTLE = 0.5  # seconds before a resend the receiver asked for, longer on each attempt
_VALIDATION = re.compile(rb"Validation failed: (0x[0-9a-fA-F]+|-?\d+)")  # 1.x: failed checks; 2.x: code (§3.3)


@dataclass
class SendReport:
    """What the receiver said at the end."""

    blocks: int
    retries: int
    tail: bytes


def packet(seq: int, data: bytes, size: int) -> bytes:
    """One YMODEM packet: mark, seq, ~seq, data padded to `size`, CRC-16 big endian."""
    body = data.ljust(size, bytes([PAD]) if seq else b"\0")
    return (
        bytes([SOH if size == 128 else STX, seq & 0xFF, ~seq & 0xFF])
        + body
        + binascii.crc_hqx(body, 0).to_bytes(2, "big")
    )


class YmodemSender:
    """Send one file over an open port."""

    def __init__(self, port: SerialLike, clock: Clock, progress: Callable[[int, int], None] | None = None) -> None:
        self.port = port
        self.clock = clock
        self.progress = progress
        self.retries = 0

    def _byte(self, timeout: float) -> int | None:
        deadline = Deadline(self.clock, timeout)
        while True:
            try:
                data = self.port.read(1)
            except Exception as exc:
                raise BoardGoneError(f"The board's serial port went away during YMODEM ({exc}).") from None
            if data:
                return data[0]
            if deadline.expired():
                return None

    def _abort(self) -> None:
        try:
            self.port.write(bytes([CAN, CAN, CAN]))
        except Exception:
            return

    def _exchange(self, pkt: bytes, what: str, timeout: float = PACKET_TIMEOUT) -> None:
        """Send a packet until it is ACKed."""
        for _attempt in range(MAX_RETRIES):
            self.port.write(pkt)
            reply = self._byte(timeout)
            if reply == ACK:
                return
            if reply == CAN:
                tail = self._drain()
                self._raise_refusal(tail, what)
            self.retries += 1  # NAK, 'C', noise or silence: send again
            if reply in (NAK, CRC_C):  # the receiver asked again; a classic one purges its input
                self.clock.sleep(RESEND_SETTLE * (_attempt + 1))  # right after asking: let it
        self._abort()
        raise YmodemError(f"The receiver did not acknowledge {what} after {MAX_RETRIES} attempts.")

    def _drain(self) -> bytes:
        """What the receiver says after its last answer, until it is quiet or its port goes away."""
        out = b""
        try:
            while (b := self._byte(0.3)) is not None:
                out += bytes([b])
        except BoardGoneError:  # a board that resets right after refusing an image
            pass
        return out

    @staticmethod
    def _raise_refusal(tail: bytes, what: str) -> None:
        m = _VALIDATION.search(tail)
        if m:
            shown = m.group(1).decode()
            code = result_of_failed_checks(int(shown, 16)) if shown.startswith("0x") else int(shown)
            raise_for(code, "the YMODEM image")
        text = tail.replace(bytes([CAN]), b"").decode(errors="replace").strip().rstrip("!.")
        raise YmodemError(f"The receiver cancelled the transfer at {what}" + (f": {text}." if text else "."))

    def send(self, name: str, data: bytes, wait_for_c: bool = True, start_timeout: float = 60.0) -> SendReport:
        """Send `data` as `name`; raises YmodemError or the board's named result error."""
        # A classic receiver (lrzsz rb) purges its input right after each 'C' it sends, so what
        # arrives at once may be thrown away (10 s lost to its timeout): let it settle first.
        if wait_for_c:
            deadline = Deadline(self.clock, start_timeout)
            while self._byte(min(1.0, deadline.remaining() or 0.001)) != CRC_C:
                if deadline.expired():
                    raise TimeoutError_(f"The receiver did not ask for the file within {start_timeout:g} s.")
            self.clock.sleep(RESEND_SETTLE)
        header = name.encode()[:100] + b"\0" + f"{len(data)} ".encode()
        self._exchange(packet(0, header, 128), "the header")
        if self._byte(PACKET_TIMEOUT) == CRC_C and wait_for_c:  # the 'C' that asks for the data; a
            self.clock.sleep(RESEND_SETTLE)  # Particle board (no initial 'C') does not purge after it
        blocks = 0
        try:
            for seq, off in enumerate(range(0, len(data), 1024), start=1):
                self._exchange(packet(seq, data[off : off + 1024], 1024), f"block {seq}")
                blocks += 1
                if self.progress:
                    self.progress(min(off + 1024, len(data)), len(data))
            self._exchange(bytes([EOT]), "the end of the file")
            # End of batch: a null header, sent again on every 'C', NAK or silence until it is ACKed.
            # Particle's receiver waits for it without asking and answers after validating the
            # image (§3.3); lrzsz's rb asks with 'C' and purges its input right after, so a header
            # that arrives before that purge is lost: resends wait a little longer each time.
            self._exchange(packet(0, b"", 128), "the final header")
        except (YmodemError, TimeoutError_):
            self._abort()
            raise
        tail = self._drain()
        return SendReport(blocks, self.retries, tail)
