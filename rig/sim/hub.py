"""Simulated USB hubs and the uhubctl 2.5 command line over them (python-stack §4).

Output is what uhubctl prints: `Current status for hub …` blocks with one `  Port N: XXXX words
[desc]` line per port, `Sent power off|on request`, `New status for hub …`; errors on stderr with
exit code 1. Port status words follow uhubctl.c: USB2 `power indicator test highspeed lowspeed
suspend`, USB3 `power 5gbps <link state>`, then `reset oc enable connect`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from rig.sim.board import Board
from rig.sim.clock import SimClock

USAGE_HINT = "Run with -h to get usage info.\n"
STUCK_HOLD = 120.0  # wall seconds a stuck hub request is held at most (the rig's uhubctl timeout: 20 s)
PLANS: dict[str, list[bool | None]] = {  # -a ACTION: the port power steps (None: toggle)
    "off": [False],
    "0": [False],
    "on": [True],
    "1": [True],
    "cycle": [False, True],
    "2": [False, True],
    "toggle": [None],
    "3": [None],
}


@dataclass
class Hub:
    """One hub (and, for USB3 hubs, its USB2 twin where the boards attach)."""

    location: str
    ports: int = 4
    vid_pid: str = "0424:2514"
    product: str = "USB 2.0 Hub"
    usb3_twin: str | None = None  # location of the USB3 side of the same physical hub
    power: dict[int, bool] = field(default_factory=dict)
    hang: bool | int = False  # fault: uhubctl action calls never return (True: every call; N: the next N)

    def hangs_now(self) -> bool:
        """Whether this action call hangs (and one fewer of the next N will)."""
        if self.hang is True:
            return True
        if self.hang:
            self.hang -= 1
            return True
        return False

    def is_on(self, port: int) -> bool:
        """Port power state (on unless switched off)."""
        return self.power.get(port, True)


@dataclass
class UhubctlResult:
    """What the fake uhubctl prints and returns."""

    stdout: str = ""
    stderr: str = ""
    rc: int = 0


@dataclass
class HubBank:
    """All hubs of a lab and the boards on their ports."""

    clock: SimClock
    boards_on: Callable[[str, int], Board | None]  # (hub location, port) -> board
    hubs: dict[str, Hub] = field(default_factory=dict)
    permission: bool = True
    release_hangs: threading.Event = field(default_factory=threading.Event)
    hung: threading.Event = field(default_factory=threading.Event)  # set once a call has got stuck

    def stick(self) -> None:
        """A hub request (and the uhubctl that sent it) stuck until the lab closes, or for STUCK_HOLD
        wall seconds, long past any caller's timeout: on the USB bus a stuck request holds one of its
        lanes (umockdev does not say when the program behind it was killed), and a night of them
        held every lane, after which no program could talk to any board.
        """
        self.hung.set()
        self.release_hangs.wait(STUCK_HOLD)

    def _hang(self) -> UhubctlResult:
        self.stick()
        return UhubctlResult(rc=137)

    def hub(self, location: str) -> Hub:
        """The hub at a location, created with defaults on first use."""
        if location not in self.hubs:
            self.hubs[location] = Hub(location)
        return self.hubs[location]

    # ---- output ----------------------------------------------------------------------

    def _port_line(self, hub: Hub, port: int, usb3: bool, nodesc: bool) -> str:
        on = hub.is_on(port)
        board = None if usb3 else self.boards_on(hub.location, port)
        present = board is not None and board.usb_present
        if usb3:
            status = (0x0200 | 0x00A0) if on else 0x00A0
            words = ["power", "5gbps", "Rx.Detect"] if on else ["off"]
        else:
            status = (0x0100 if on else 0) | (0x0003 if present and on else 0)
            words = ["off"] if status == 0 else ["power"] + (["enable", "connect"] if status & 0x3 else [])
        line = f"  Port {port}: {status:04x} {' '.join(words)}"
        if present and on and board is not None:
            vidpid = f"{board.platform.usb_vid:04x}:{board.usb_product_id:04x}"
            dfu = " DFU Mode" if board.usb_product_id == board.platform.dfu_pid else ""
            serial = board.usb_serial_number
            line += f" [{vidpid}]" if nodesc else f" [{vidpid} Particle {board.platform.display_name}{dfu} {serial}]"
        return line

    def _block(self, hub: Hub, head: str, ports: list[int], usb3: bool, nodesc: bool) -> list[str]:
        location = hub.usb3_twin if usb3 and hub.usb3_twin else hub.location
        version = "3.00" if usb3 else "2.10" if hub.usb3_twin else "2.00"  # 2.10: a hub with a BOS
        desc = hub.vid_pid if nodesc else f"{hub.vid_pid} {hub.product}"
        lines = [f"{head} status for hub {location} [{desc}, USB {version}, {hub.ports} ports, ppps]"]
        return lines + [self._port_line(hub, p, usb3, nodesc) for p in ports]

    # ---- command line ---------------------------------------------------------------

    def run(self, argv: list[str]) -> UhubctlResult:
        """Run `uhubctl argv` against the lab."""
        try:
            opts = _parse(argv)
        except _Usage as exc:
            return UhubctlResult(stderr=f"{exc}\n{USAGE_HINT}" if str(exc) else USAGE_HINT, rc=1)
        if "h" in opts:
            return UhubctlResult(stdout="uhubctl: utility to control USB port power for smart hubs.\n")
        where = f" at location {opts['l']}" if "l" in opts else ""
        if not self.permission:
            return UhubctlResult(
                stderr="There were permission problems while accessing USB.\nFollow https://git.io/JIB2Z for a fix!\n"
                f"No compatible devices detected{where}!\n{USAGE_HINT}",
                rc=1,
            )
        with self.clock.lock:
            hubs = self._select(opts.get("l"))
            if not hubs:
                return UhubctlResult(stderr=f"No compatible devices detected{where}!\n{USAGE_HINT}", rc=1)
            try:
                ports = _ports(opts.get("p"), max(h.ports for h in hubs))
            except _Usage as exc:
                return UhubctlResult(stderr=f"{exc}\n", rc=1)
            asked = opts.get("a", "").lower()
            action = asked if asked in PLANS else None  # uhubctl ignores an action it does not know
            if action is not None and len(hubs) > 1:
                return UhubctlResult(
                    stderr="Error: changing port state for multiple hubs at once is not supported.\n"
                    "Use -l to limit operation to one hub!\n",
                    rc=1,
                )
        return self._act(hubs, ports, action, opts)

    def _select(self, location: str | None) -> list[Hub]:
        if location is None:
            return [self.hubs[k] for k in sorted(self.hubs)]
        return [h for h in self.hubs.values() if location in (h.location, h.usb3_twin)]

    def _act(self, hubs: list[Hub], ports: list[int], action: str | None, opts: dict[str, str]) -> UhubctlResult:
        nodesc = "N" in opts
        out: list[str] = []

        # a USB3 hub is two hubs, its SuperSpeed twin listed first; uhubctl acts on each in turn:
        # its status, the requests, `Sent power … request`, the new status (main(), uhubctl.c v2.5.0)
        # with -e, only the half at -l's location
        exact, location = "e" in opts, opts.get("l")
        sides = [
            (hub, usb3)
            for hub in hubs
            for usb3 in ([True, False] if hub.usb3_twin else [False])
            if not exact or location in (None, hub.usb3_twin if usb3 else hub.location)
        ]
        if action is None:
            with self.clock.lock:
                for hub, usb3 in sides:
                    out.extend(self._block(hub, "Current", [p for p in ports if p <= hub.ports], usb3, nodesc))
            return UhubctlResult(stdout="\n".join(out) + "\n")
        delay = float(opts.get("d", "2"))
        shown = [p for p in ports if p <= hubs[0].ports]  # one hub: an action on several is refused above
        for i, target in enumerate(PLANS[action]):
            if i:
                self.clock.sleep(delay)
            for hub, usb3 in sides:
                with self.clock.lock:
                    out.extend(self._block(hub, "Current", shown, usb3, nodesc))
                    wanted = target if target is not None else not hub.is_on(shown[0])
                    stuck = self._switch(hub, shown, target)
                    if not stuck:
                        out.append(f"Sent power {'on' if wanted else 'off'} request")
                        out.extend(self._block(hub, "New", shown, usb3, nodesc))
                if stuck:  # the request is not completed: uhubctl stays in it (the lab lock let go)
                    return self._hang()
        return UhubctlResult(stdout="\n".join(out) + "\n")

    def _switch(self, hub: Hub, ports: list[int], target: bool | None) -> bool:
        """Switch the ports one request at a time, none for a port already there (as the USB bus sees
        uhubctl); True when a request got stuck (the ports after it are left as they were).
        """
        for port in ports:
            want = (not hub.is_on(port)) if target is None else target
            if port > hub.ports or hub.is_on(port) == want:
                continue
            self.set_power(hub, port, want)
            if hub.hangs_now():
                return True
        return False

    def set_power(self, hub: Hub, port: int, on: bool) -> None:
        """Switch a port; the board on it loses or gets power."""
        hub.power[port] = on
        board = self.boards_on(hub.location, port)
        if board is None:
            return
        if on:
            board.power_on()
        else:
            board.power_off()


class _Usage(Exception):
    pass


def _parse(argv: list[str]) -> dict[str, str]:
    """Uhubctl's getopt subset: -l -p -a -d -w -r -N -e -f -R -v -h (long forms too)."""
    longs = {
        "--location": "l",
        "--ports": "p",
        "--action": "a",
        "--delay": "d",
        "--wait": "w",
        "--repeat": "r",
        "--nodesc": "N",
        "--exact": "e",
        "--force": "f",
        "--reset": "R",
        "--version": "v",
        "--help": "h",
    }
    takes_value = set("lpadwr")
    opts: dict[str, str] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        key = longs.get(arg.split("=")[0]) if arg.startswith("--") else (arg[1:2] if arg.startswith("-") else None)
        if arg.startswith("--") and key is None:  # glibc getopt's own words, as uhubctl prints them
            raise _Usage(f"uhubctl: unrecognized option '{arg}'")
        if key is None:
            raise _Usage("Invalid command line syntax!")  # a word that is no option
        if key not in set("lpadwrNefRvh"):
            raise _Usage(f"uhubctl: invalid option -- '{key}'")
        if not arg.startswith("--") and len(arg) > 2 and key not in takes_value:
            raise _Usage(f"uhubctl: invalid option -- '{arg[2]}'")
        if key in takes_value:
            if "=" in arg:
                value = arg.split("=", 1)[1]
            elif not arg.startswith("--") and len(arg) > 2:
                value = arg[2:]
            else:
                i += 1
                if i >= len(argv):
                    raise _Usage(f"uhubctl: option requires an argument -- '{key}'")
                value = argv[i]
            opts[key] = value
        else:
            opts[key] = ""
        i += 1
    return opts


def _ports(spec: str | None, count: int) -> list[int]:
    """Port list from '2', '1,3' or '1-4'; all ports when absent."""
    if spec is None:
        return list(range(1, count + 1))
    out: list[int] = []
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        first, last = _atoi(lo), _atoi(hi or lo)
        if not (1 <= first <= last <= 14):
            raise _Usage(f"Bad port spec {first}-{last}, port numbers must be from 1 to 14")
        out += range(first, last + 1)
    return sorted(set(out))


def _atoi(text: str) -> int:
    """C's atoi: the leading digits, 0 without any."""
    digits = ""
    for ch in text.strip():
        if not ch.isdigit():
            break
        digits += ch
    return int(digits) if digits else 0
