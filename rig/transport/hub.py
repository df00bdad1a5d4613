"""USB hub power through uhubctl (python-stack §3–§5).

uhubctl is resolved on PATH when called (never at import) and always run with a timeout. Output is
parsed from the hex port status (power bit 0x0100 on USB2 hubs, 0x0200 on USB3 hubs), not from the
words. `UhubctlPort` is one hub port as a `rig.device.power.PowerPort`; the rule that a switch-off
(even a failed or hung one: a killed uhubctl may have switched already) is followed by a
switch-on lives there, in `power_cut`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

import sh

from rig.errors import EXIT_USER_ERROR
from rig.transport.errors import TimeoutError_, ToolMissingError, TransportError
from rig.transport.tools import finished

HEADER = re.compile(
    r"^(Current|New) status for hub (\S+) \[([0-9a-f]{4}):([0-9a-f]{4})(.*?)"
    r"(?:, USB (\d+\.\d\d), (\d+) ports(?:, (ppps|ganged|nops))?)?\]$"
)
PORT = re.compile(r"^  Port (\d+): ([0-9a-f]{4})((?: [A-Za-z0-9.]+)*?)(?: \[(.*)\])?$")
DEFAULT_TIMEOUT = 20.0  # seconds per uhubctl call; RIG_UHUBCTL_TIMEOUT overrides
TIMEOUT_ENV = "RIG_UHUBCTL_TIMEOUT"


class HubError(TransportError):
    """uhubctl or the hub did not do what was asked."""


class HubNotFoundError(HubError):
    """No switchable hub at the location."""

    exit_code = EXIT_USER_ERROR  # devices.yaml names a hub this host does not have


class HubPermissionError(HubError):
    """uhubctl lacks permission."""

    exit_code = EXIT_USER_ERROR


@dataclass(frozen=True)
class PortStatus:
    """One `  Port N: XXXX ...` line."""

    number: int
    status: int
    words: tuple[str, ...]
    description: str | None
    powered: bool

    @property
    def connected(self) -> bool:
        """Bit 0x0001: a device is connected."""
        return bool(self.status & 0x0001)


@dataclass
class HubStatus:
    """One `Current|New status for hub …` block."""

    location: str
    vid_pid: str
    usb: str | None
    ports: int | None
    mode: str | None
    port_lines: list[PortStatus] = field(default_factory=list)

    @property
    def usb3(self) -> bool:
        """USB 3.x hubs use 0x0200 as the power bit."""
        return self.usb is not None and float(self.usb) >= 3.0


def parse(text: str) -> list[HubStatus]:
    """Hub blocks of uhubctl output (status or action runs)."""
    hubs: list[HubStatus] = []
    for line in text.splitlines():
        m = HEADER.match(line)
        if m:
            hubs.append(
                HubStatus(
                    m.group(2),
                    f"{m.group(3)}:{m.group(4)}",
                    m.group(6),
                    int(m.group(7)) if m.group(7) else None,
                    m.group(8),
                )
            )
            continue
        p = PORT.match(line)
        if p and hubs:
            status = int(p.group(2), 16)
            power_bit = 0x0200 if hubs[-1].usb3 else 0x0100
            hubs[-1].port_lines.append(
                PortStatus(int(p.group(1)), status, tuple(p.group(3).split()), p.group(4), bool(status & power_bit))
            )
    return hubs


class Uhubctl:
    """uhubctl invocations with timeouts and one-sentence errors."""

    def __init__(self, program: str = "uhubctl", timeout: float | None = None) -> None:
        self.program = program
        self.timeout = timeout or float(os.environ.get(TIMEOUT_ENV) or DEFAULT_TIMEOUT)

    def _command(self) -> sh.Command:
        try:
            return sh.Command(self.program)
        except sh.CommandNotFound:
            raise ToolMissingError(f"{self.program} is not installed: install it (apt-get install uhubctl).") from None

    def run(self, *args: str, timeout: float | None = None) -> str:
        """Run uhubctl; returns stdout or raises a HubError with uhubctl's reason."""
        cmd = self._command()
        try:
            return finished(cmd, args, timeout or self.timeout)
        except sh.TimeoutException:
            raise TimeoutError_(
                f"{self.program} {' '.join(args)} did not finish within {timeout or self.timeout:g} s."
            ) from None
        except sh.ErrorReturnCode as exc:
            raise self._error(exc.stderr.decode(errors="replace"), args) from None

    @staticmethod
    def _error(stderr: str, args: tuple[str, ...]) -> HubError:
        if "permission problems" in stderr:
            return HubPermissionError(
                "uhubctl has no permission to switch USB hub ports: run as root or install "
                "its udev rules (https://git.io/JIB2Z)."
            )
        m = re.search(r"No compatible devices detected(?: at location (\S+))?!", stderr)
        if m:
            where = f" at location {m.group(1)}" if m.group(1) else ""
            return HubNotFoundError(
                f"No USB hub with per-port power switching{where}: check the hub location in "
                "devices.yaml against `uhubctl` output."
            )
        if "Bad port spec" in stderr:
            return HubError(f"{stderr.strip().splitlines()[0]}: fix the hub port in devices.yaml.")
        first = stderr.strip().splitlines()[0] if stderr.strip() else "no message"
        return HubError(f"uhubctl {' '.join(args)} failed: {first}.")

    def status(self, location: str | None = None) -> list[HubStatus]:
        """Current status of one hub (or all)."""
        return parse(self.run(*(("-l", location) if location else ())))

    def set_power(self, location: str, port: int, on: bool) -> None:
        """Switch one port (`-l LOCATION -p PORT -a on|off`); switching on gets at least the
        default timeout, because it is what keeps a board powered.
        """
        timeout = max(self.timeout, DEFAULT_TIMEOUT) if on else self.timeout
        self.run("-l", location, "-p", str(port), "-a", "on" if on else "off", timeout=timeout)

    def port_powered(self, location: str, port: int) -> bool:
        """Whether one port is powered, from uhubctl's status (HubError when it is not listed)."""
        for hub in self.status(location):
            if hub.location != location:
                continue
            for line in hub.port_lines:
                if line.number == port:
                    return line.powered
        raise HubError(f"uhubctl did not list hub {location} port {port}")


@dataclass(frozen=True)
class UhubctlPort:
    """A hub port switched by uhubctl: the `PowerPort` of a board in devices.yaml."""

    uhubctl: Uhubctl
    location: str
    port: int

    @property
    def where(self) -> str:
        """'hub 1-1 port 3'."""
        return f"hub {self.location} port {self.port}"

    def switch(self, on: bool) -> None:
        """Uhubctl -a on|off."""
        self.uhubctl.set_power(self.location, self.port, on)

    def is_on(self) -> bool:
        """From uhubctl's port status."""
        return self.uhubctl.port_powered(self.location, self.port)
