"""The listening-mode console from the host side (particle-protocols §3.2, §3.5).

Opened with serial.serial_for_url (a device path or sim://<id>), optionally at a trigger baud
rate (28800 -> listening mode, 14400 -> DFU mode). Output is collected until the expected end or
250 ms of silence, within an overall timeout, as particle-cli's SerialBatchParser does.
"""

from __future__ import annotations

import errno
import json
import re
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import serial

from rig.clock import Clock, Deadline
from rig.transport.errors import BoardGoneError, ConsoleError, PortBusyError, TimeoutError_

LISTEN_BAUD = 28800
DFU_BAUD = 14400
SILENCE = 0.25
_DEVICE_ID = re.compile(r"(?:Your (?:core|device) id is\s+|Device ID:\s*)([0-9a-fA-F]{24})")
_VERSION = re.compile(r"system firmware version:\s+([\w.+-]+)")
_MAC = re.compile(r"([0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5})")


class SerialLike(Protocol):
    """What the rig uses of a pyserial port."""

    baudrate: int

    def read(self, size: int = 1) -> bytes: ...
    def write(self, data: bytes) -> int | None: ...
    def reset_input_buffer(self) -> None: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class ConsoleModule:
    """One module of the `s` describe, in the same shape as control request 90's records."""

    function: int
    index: int
    version: int
    size: int
    checked: int
    passed: int
    dependencies: tuple[tuple[int, int, int], ...]
    hash: str | None = None


@dataclass
class Identity:
    """What `i` reports."""

    device_id: str
    properties: dict[str, str] = field(default_factory=dict)

    @property
    def imei(self) -> str | None:
        """IMEI of cellular boards."""
        return self.properties.get("IMEI")

    @property
    def iccid(self) -> str | None:
        """ICCID of cellular boards."""
        return self.properties.get("ICCID")


FUNCTION_OF_CHAR = {c: i for i, c in enumerate("nrbmsu_cat")}


def open_port(url: str, baud: int = 9600, timeout: float = 0.1) -> SerialLike:
    """Open a serial port (path or URL); a trigger baud rate switches the board's mode (§3.5)."""
    try:
        return cast(SerialLike, serial.serial_for_url(url, baudrate=baud, timeout=timeout, exclusive=True))
    except serial.SerialException as exc:
        if getattr(exc, "errno", None) in (errno.EBUSY, errno.EAGAIN) or "exclusively lock" in str(exc):
            raise PortBusyError(
                f"The serial port {url} is in use by another program (a serial monitor, screen, "
                "particle serial monitor or ModemManager): close it and run again."
            ) from None
        raise BoardGoneError(f"Cannot open the serial port {url} ({exc}); is the board connected?") from None


class Console:
    """Commands of the listening-mode console on an open port."""

    def __init__(self, port: SerialLike, clock: Clock, log: bytearray | None = None) -> None:
        self.port = port
        self.clock = clock
        self.log = log if log is not None else bytearray()  # everything the board printed

    def _read(self, size: int = 4096) -> bytes:
        try:
            data = bytes(self.port.read(size))
        except serial.SerialException as exc:
            raise BoardGoneError(f"The board's serial port went away ({exc}).") from None
        self.log += data
        return data

    def write(self, data: bytes) -> None:
        """Send bytes."""
        try:
            self.port.write(data)
        except serial.SerialException as exc:
            raise BoardGoneError(f"The board's serial port went away ({exc}).") from None

    def command(self, key: str, until: bytes | None = None, timeout: float = 5.0) -> str:
        """Send one key and collect the answer until `until`, or 250 ms of silence after output."""
        self.port.reset_input_buffer()
        self.write(key.encode())
        deadline = Deadline(self.clock, timeout)
        out = b""
        quiet_since = self.clock.now()
        while not deadline.expired():
            chunk = self._read()
            if chunk:
                out += chunk
                quiet_since = self.clock.now()
                if until is not None and until in out:
                    break
            elif out and until is None and self.clock.now() - quiet_since >= SILENCE:
                break
        if not out:
            raise TimeoutError_(f"The board did not answer '{key}' within {timeout:g} s; is it in listening mode?")
        return out.decode(errors="replace")

    def identify(self, timeout: float = 20.0) -> Identity:
        """`i`: device id and properties (IMEI, ICCID, ...); 20 s for cellular modems (§3.2)."""
        text = self.command("i", timeout=timeout)
        m = _DEVICE_ID.search(text)
        if not m:
            raise ConsoleError(f"The board's answer to 'i' has no device id: {text.strip()[:80]!r}.")
        props = dict(re.findall(r"^([A-Za-z][A-Za-z ]+): (\S+)\r?$", text, re.MULTILINE))
        props.pop("Device ID", None)
        return Identity(m.group(1).lower(), props)

    def version(self, timeout: float = 2.0) -> str:
        """`v`: the Device OS version."""
        text = self.command("v", timeout=timeout)
        m = _VERSION.search(text)
        if not m:
            raise ConsoleError(f"The board's answer to 'v' has no version: {text.strip()[:80]!r}.")
        return m.group(1)

    def mac(self) -> str:
        """`m`: the MAC address."""
        m = _MAC.search(self.command("m"))
        if not m:
            raise ConsoleError("The board's answer to 'm' has no MAC address.")
        return m.group(1).lower()

    def describe(self, timeout: float = 20.0) -> dict[str, Any]:
        """`s`: the describe JSON."""
        text = self.command("s", until=b"}\r\n", timeout=timeout)
        start, end = text.find("{"), text.rfind("}")
        try:
            value = json.loads(text[start : end + 1])
        except json.JSONDecodeError:
            raise ConsoleError(f"The board's answer to 's' is not JSON: {text.strip()[:80]!r}.") from None
        if not isinstance(value, dict):
            raise ConsoleError("The board's answer to 's' is not a JSON object.")
        return value

    def modules(self, timeout: float = 20.0) -> list[ConsoleModule]:
        """`s` parsed into module records."""
        out = []
        for m in self.describe(timeout).get("m", []):
            try:
                deps = tuple((FUNCTION_OF_CHAR[d["f"]], int(d["n"]), int(d["v"])) for d in m.get("d", []))
                out.append(
                    ConsoleModule(
                        FUNCTION_OF_CHAR[m["f"]],
                        int(m["n"]),
                        int(m["v"]),
                        int(m.get("s", 0)),
                        int(m.get("vc", 0)),
                        int(m.get("vv", 0)),
                        deps,
                        m.get("u"),
                    )
                )
            except (KeyError, ValueError, TypeError):
                raise ConsoleError(f"The board described a module the rig cannot read: {m!r}.") from None
        return out

    def leave_listening(self) -> None:
        """`x`: leave listening mode."""
        self.write(b"x")
