"""The cells of the fault matrix (issue 8): a fault the simulated lab injects × the stage of a path it
hits, and what the rig must end in. The stage is the plan step before which the fault is armed;
faults that ride on bytes (disconnect, early reboot, NAK storm, silence) fire that many bytes into
the step's transfer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from rig.plan.model import Plan, Step
from rig.sim.board import Board
from rig.sim.lab import Lab

PLATFORM, OLD, NEW = "photon", "1.5.2", "2.3.1"  # real binaries: 3 writes per path (bootloader, 2 parts)
UPGRADES = {  # real binaries; Gen 3: bootloader and one 510 KB system part (4 KB page erases)
    "photon": ("1.5.2", "2.3.1"),
    "boron": ("2.2.0", "4.0.1"),
}
RECOVERY = "recovery"  # cells whose stage is the recovery ladder itself, not a path


@dataclass(frozen=True)
class Where:
    """The n-th step of a plan of this kind (and mode / flashing path)."""

    kind: str
    mode: str | None = None
    via: str | None = None
    n: int = 0

    def index(self, plan: Plan) -> int:
        """Index of the step in `plan`."""
        hits = [
            i
            for i, s in enumerate(plan.steps)
            if s.kind == self.kind and self.mode in (None, s.mode) and self.via in (None, s.via)
        ]
        return hits[self.n]


Arm = Callable[[Lab, Board, Step | None], None]


def _size(step: Step | None) -> int:
    assert step is not None and step.target is not None
    return len(step.target.module.data)


def _at(position: str) -> Callable[[Step | None], int]:
    """Bytes into a transfer: the first data block, the middle, the last block."""

    def offset(step: Step | None) -> int:
        size = _size(step)
        return {"first": 600, "middle": size // 2, "last": size - 300}[position]

    return offset


def glitch_now(lab: Lab, board: Board, step: Step | None) -> None:
    """A power glitch right now: the board resets."""
    with lab.clock.lock:
        board.reset("fault: power glitch")


def disconnect(position: str) -> Arm:
    """Vanish from USB (a power glitch) that many bytes into the transfer."""

    def arm(lab: Lab, board: Board, step: Step | None) -> None:
        board.faults.disconnect_after_bytes = board.bytes_received + _at(position)(step)

    return arm


def early_reboot(position: str) -> Arm:
    """Reset spontaneously that many bytes into the transfer."""

    def arm(lab: Lab, board: Board, step: Step | None) -> None:
        board.faults.early_reboot_after_bytes = board.bytes_received + _at(position)(step)

    return arm


def later(position: str, **settings: int | bool) -> Arm:
    """Fault settings that take effect that many bytes into the transfer."""

    def arm(lab: Lab, board: Board, step: Step | None) -> None:
        board.faults.later = dict(settings)
        board.faults.later_after_bytes = board.bytes_received + _at(position)(step)

    return arm


def dfu_error(lab: Lab, board: Board, step: Step | None) -> None:
    """The next DFU download answers errWRITE."""
    board.faults.dfu_error_status = 0x03


def never_back(lab: Lab, board: Board, step: Step | None) -> None:
    """After its next reset the board never comes back (until the fault is gone)."""
    board.faults.stuck = True


def never_back_now(lab: Lab, board: Board, step: Step | None) -> None:
    """The board resets now and never comes back."""
    board.faults.stuck = True
    glitch_now(lab, board, step)


def cloud_offline(lab: Lab, board: Board, step: Step | None) -> None:
    """The whole cloud stops answering."""
    lab.cloud.reachable = False


def port_keeps_power(lab: Lab, board: Board, step: Step | None) -> None:
    """The hub port is switched off but the board keeps power."""
    board.faults.port_keeps_power = True


def uhubctl_hangs(lab: Lab, board: Board, step: Step | None) -> None:
    """The next uhubctl call for the board's hub never returns (the rig kills it at its timeout)."""
    lab.hubs.hub("1-1").hang = 1


@dataclass(frozen=True)
class Cell:
    """One cell: the fault, the stage, the path, and the outcome the rig must reach."""

    stage: str
    fault: str
    method: str  # a plan method, or RECOVERY
    where: Where | None
    arm: Arm
    expect: str  # "pass" or the name of the error the run ends with
    online: bool = False
    platform: str = PLATFORM
    # wall seconds the rig waits for each uhubctl call in this cell: only a cell where uhubctl hangs
    # shortens it. One call hangs; the explicit `-a on` after it always gets the default timeout, and
    # if a loaded machine kills the call before the fake got to hang, that `-a on` hangs instead and
    # is killed at the default: the outcome is the same either way. None keeps the rig's default.
    uhubctl_timeout: float | None = None

    @property
    def id(self) -> str:
        """Test id."""
        return f"{self.stage}-{self.fault}-{self.path}".replace(" ", "_").replace(",", "")

    @property
    def path(self) -> str:
        """The method, and the platform when it is not the Photon (a row of the table)."""
        return self.method if self.platform == PLATFORM else f"{self.method}, {self.platform}"

    @property
    def versions(self) -> tuple[str, str]:
        """(from, to) Device OS of the cell's path."""
        return UPGRADES[self.platform]


def _transfer_cells(stage: str, method: str, via: str, n: int, positions: tuple[str, ...]) -> list[Cell]:
    cells = []
    for pos in positions:
        where = Where("flash", via=via, n=n)
        name = f"{stage} ({pos})"
        cells += [
            Cell(name, "disconnect", method, where, disconnect(pos), "BoardGoneError"),
            Cell(name, "early reboot", method, where, early_reboot(pos), "BoardGoneError"),
        ]
        if via == "serial":
            cells += [
                Cell(name, "NAK storm", method, where, later(pos, ymodem_nak_packets=1000), "YmodemError"),
                Cell(name, "receiver silent", method, where, later(pos, ymodem_silent=True), "YmodemError"),
            ]
    return cells


def _dfu_write_cells(
    n: int, faults: tuple[str, ...] = ("disconnect", "early reboot", "DFU error status")
) -> list[Cell]:
    """Faults during the n-th DFU write of a path."""
    where, name = Where("flash", via="dfu", n=n), f"DFU write {n + 1}"
    arms: dict[str, tuple[Arm, str]] = {
        "disconnect": (disconnect("middle"), "BoardGoneError"),
        "early reboot": (early_reboot("middle"), "BoardGoneError"),
        "DFU error status": (dfu_error, "DfuError"),
    }
    return [Cell(name, fault, "dfu", where, *arms[fault]) for fault in faults]


def _never_back_after_a_part(method: str, where: Where) -> Cell:
    """The board does not come back from the reboot that follows a part."""
    return Cell("reboot after a part", "never comes back", method, where, never_back, "TimeoutError_")


def _on(platform: str, cells: list[Cell]) -> list[Cell]:
    """The same cells on another platform's path."""
    return [replace(c, platform=platform) for c in cells]


CELLS: list[Cell] = [
    Cell("enter listening", "disconnect", "serial", Where("enter-mode", mode="listening"), glitch_now, "pass"),
    Cell(
        "enter listening",
        "never comes back",
        "serial",
        Where("enter-mode", mode="listening"),
        never_back_now,
        "ModeChangeError",
    ),
    Cell("enter DFU", "disconnect", "dfu", Where("enter-mode", mode="dfu"), glitch_now, "pass"),
    Cell("enter DFU", "never comes back", "dfu", Where("enter-mode", mode="dfu"), never_back, "ModeChangeError"),
    *_dfu_write_cells(0),
    *_dfu_write_cells(1),
    *_transfer_cells("YMODEM block", "serial", "serial", 1, ("first", "middle", "last")),
    *_transfer_cells("control-request update", "usb", "usb", 1, ("first", "middle", "last")),
    _never_back_after_a_part("serial", Where("flash", via="serial", n=1)),
    _never_back_after_a_part("usb", Where("flash", via="usb", n=1)),
    _never_back_after_a_part("dfu", Where("reset")),
    Cell(
        "waiting for the cloud",
        "cloud offline",
        "ota",
        Where("wait-cloud", n=1),
        cloud_offline,
        "CloudError",
        online=True,
    ),
    Cell(
        "OTA update", "cloud offline", "ota", Where("flash", via="ota", n=1), cloud_offline, "CloudError", online=True
    ),
    *_on(
        "boron",
        [
            *_dfu_write_cells(0, ("disconnect", "DFU error status")),
            *_transfer_cells("YMODEM block", "serial", "serial", 1, ("middle",)),
            *_transfer_cells("control-request update", "usb", "usb", 1, ("middle",)),
            _never_back_after_a_part("serial", Where("flash", via="serial", n=1)),
        ],
    ),
    Cell("hub power cycle", "port does not cut power", RECOVERY, None, port_keeps_power, "pass"),
    Cell("hub power cycle", "uhubctl hangs", RECOVERY, None, uhubctl_hangs, "pass", uhubctl_timeout=0.3),
    Cell("hub power cycle", "never comes back", RECOVERY, None, never_back, "ModeChangeError"),
]
