"""A simulated board's USB serial port: the listening-mode console (particle-protocols §3.2),
YMODEM (§3.3) and what the host sees coming back, with the time each byte becomes available.
"""

from __future__ import annotations

import hashlib
import json
from collections import deque
from typing import TYPE_CHECKING

from rig.firmware.format import ModuleFunction as F
from rig.sim import installed as inst
from rig.sim.board import DOS_6_0_0, Mode
from rig.sim.ymodem import SOH, STX, WAITING, YmodemReceiver, refuse_on_6x

if TYPE_CHECKING:
    from rig.sim.board import Board


class SerialPort:
    """Device side of the CDC port: input from the host, timed output to it."""

    def __init__(self, board: Board) -> None:
        self.board = board
        self.output: deque[tuple[float, bytes]] = deque()
        self.ymodem: YmodemReceiver | None = None
        self.log = bytearray()  # everything the board sent, for serial logs
        board.listeners.append(self._on_change)

    def _on_change(self, board: Board) -> None:
        if board.mode not in (Mode.LISTENING, Mode.SAFE_LISTENING):
            self.ymodem = None
        if not board.cdc_present:
            self.output.clear()

    def emit(self, data: bytes, delay: float = 0.0) -> None:
        """Queue bytes for the host, available `delay` modelled seconds from now."""
        at = self.board.clock.now() + delay
        if self.output and self.output[-1][0] > at:
            at = self.output[-1][0]  # keep order
        self.output.append((at, data))
        self.log += data

    def available(self) -> bytes:
        """Pop every byte the host can read now."""
        now = self.board.clock.now()
        out = bytearray()
        while self.output and self.output[0][0] <= now:
            out += self.output.popleft()[1]
        return bytes(out)

    def next_at(self) -> float | None:
        """When the next queued byte becomes readable."""
        return self.output[0][0] if self.output else None

    def line_coding(self, baud: int) -> None:
        """SET_LINE_CODING from the host."""
        self.board.line_coding(baud)

    def feed(self, data: bytes) -> None:
        """Bytes the host wrote."""
        board = self.board
        if not board.received(len(data)) or not board.listening:
            return  # the app (Tinker) does not read its serial port
        for i, byte in enumerate(data):
            if self.ymodem is not None:
                self.ymodem.feed(data[i:])
                return
            if byte in (SOH, STX):
                self._start_ymodem(announce=False)
                if self.ymodem is not None:
                    self.ymodem.feed(data[i:])
                return
            self._command(chr(byte))

    def _start_ymodem(self, announce: bool) -> None:
        board = self.board
        if (board.system_module_version() or 0) >= DOS_6_0_0:
            refuse_on_6x(self.emit)
            return
        if announce:
            self.emit(WAITING)
        self.ymodem = YmodemReceiver(board, self.emit, self._ymodem_done)

    def _ymodem_done(self) -> None:
        self.ymodem = None

    def _command(self, key: str) -> None:
        board = self.board
        if key == "i":
            self._identify()
        elif key == "v":
            self.emit(f"system firmware version: {board.system_version()}\n\r\n".encode())
        elif key == "s":
            self.emit(("{" + describe(board)[1:-1] + "}\r\n").encode(), delay=self._modem_wait())
        elif key == "m":
            self.emit(f"Your device MAC address is\r\n{mac_address(board)}\r\n".encode())
        elif key == "f":
            self._start_ymodem(announce=True)
        elif key == "x":
            board.leave_listening()
        elif key == "L":
            board.listen_flag = True
            board.reset("L: start in listening mode", delay=0.1, into="safe")
        elif key == "c":
            self.emit(b"Device claimed: no\r\n")

    def _modem_wait(self) -> float:
        return max(0.0, self.board.modem_ready_at - self.board.clock.now())

    def _identify(self) -> None:
        board = self.board
        s = board.settings
        props = []
        if s.serial_number:
            props.append(("Serial Number", s.serial_number))
        if s.imei:
            props += [("IMEI", s.imei), ("ICCID", s.iccid or ""), ("Cell Radio Version", "L0.0.00.00.05.06")]
        if props or board.platform.generation >= 3:
            text = f"Device ID: {board.device_id}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in props)
        else:
            text = f"Your device id is {board.device_id}\r\n"
        self.emit(text.encode(), delay=self._modem_wait())


def mac_address(board: Board) -> str:
    """A stable MAC address derived from the device id (lower case, §3.2)."""
    digest = hashlib.sha256(board.device_id.encode()).digest()
    return ":".join(f"{b:02x}" for b in (0x00, 0x12, *digest[:4]))


def describe(board: Board) -> str:
    """The describe JSON of `s` (§3.2): platform, cellular properties, then modules."""
    found = board.installed()
    modules = []
    for m in found:
        if m.function == F.NCP_FIRMWARE:
            continue
        checked, passed = inst.validity(found, m)
        entry: dict[str, object] = {"s": m.slot.end - m.slot.start, "l": "m", "vc": checked, "vv": passed}
        if m.function == F.USER_PART and m.module is not None:
            entry["u"] = m.module.sha256.hex().upper()
        entry.update(
            f=m.function.char,
            n=str(m.index),
            v=m.version,
            d=[{"f": d.function.char, "n": str(d.index), "v": d.version} for d in m.dependencies],
        )
        modules.append(entry)
    doc: dict[str, object] = {"p": board.platform.id}
    if board.settings.imei:
        doc.update(imei=board.settings.imei, iccid=board.settings.iccid, cellfw="L0.0.00.00.05.06")
    doc["m"] = modules
    return json.dumps(doc, separators=(",", ":"))
