"""What a plan is: ordered steps, what was skipped, and its modelled hardware time."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from rig.board_mode import Mode
from rig.errors import RigError
from rig.firmware.dfu_writes import DfuWrite
from rig.firmware.format import ModuleFunction as F
from rig.firmware.module import Module
from rig.methods import Via


class PlanRefused(RigError):
    """The path cannot bring the board to the target; nothing is touched."""


@dataclass(frozen=True)
class InstalledModule:
    """A module on the board, as the runner learned it (hash when known)."""

    function: int
    index: int
    version: int
    sha256: str | None = None


@dataclass(frozen=True)
class Target:
    """A module file to install and its base name in the release store."""

    name: str
    module: Module

    @property
    def image(self) -> Module:
        """The module as it lands in flash."""
        return self.module.image

    def key(self) -> tuple[int, int]:
        """(function, index)."""
        return int(self.image.function), self.image.index


class StepKind(StrEnum):
    """What a step does."""

    ENTER_MODE = "enter-mode"
    FLASH = "flash"
    RESET = "reset"
    SETUP_DONE = "setup-done"
    WAIT_REBOOT = "wait-reboot"
    WAIT_CLOUD = "wait-cloud"


@dataclass(frozen=True)
class Step:
    """One thing the runner does."""

    kind: StepKind
    mode: Mode | None = None  # enter-mode: the mode to enter; flash: where the write happens (NORMAL: validated
    # by the running firmware; DFU: raw; None: through the debugger)
    via: Via | None = None
    target: Target | None = None
    write: DfuWrite | None = None  # a raw DFU write (from rig.firmware.dfu_writes)
    label: str = ""

    @classmethod
    def enter(cls, mode: Mode) -> Step:
        """Put the board in `mode`."""
        return cls(StepKind.ENTER_MODE, mode)

    @classmethod
    def flash(cls, via: Via, target: Target, mode: Mode | None = Mode.NORMAL) -> Step:
        """Send a module file over a path."""
        return cls(StepKind.FLASH, mode, via, target)

    @classmethod
    def dfu(cls, via: Via, write: DfuWrite, target: Target | None = None) -> Step:
        """One raw DFU write (of `target`'s module, or a flag)."""
        return cls(StepKind.FLASH, Mode.DFU, via, target, write, write.label)

    @property
    def address(self) -> int | None:
        """Where a DFU-mode write lands."""
        if self.write is not None:
            return self.write.address
        if self.mode in (Mode.DFU, None) and self.target is not None:
            return self.target.image.start
        return None

    @property
    def alt(self) -> int:
        """The DFU alt setting of a write."""
        return self.write.alt if self.write is not None else 0

    @property
    def size(self) -> int:
        """Bytes written by a flash step."""
        if self.write is not None:
            return len(self.write.data)
        return len(self.target.module.data) if self.target is not None else 0

    def to_json(self) -> dict[str, Any]:
        """The step as `rig plan --json` prints it."""
        if self.kind != StepKind.FLASH:
            out: dict[str, Any] = {"kind": str(self.kind)}
            if self.mode:
                out["mode"] = str(self.mode)
            if self.label:
                out["label"] = self.label
            return out
        return {
            "kind": "flash",
            "file": self.target.name if self.target else self.label,
            "mode": str(self.mode) if self.mode is not None else str(self.via),
            "address": self.address if self.mode == Mode.DFU else None,
            "size": self.size,
            "via": str(self.via),
            "module": self.target.image.describe() if self.target else self.label,
        }

    def describe(self) -> str:
        """One line for people."""
        if self.kind == StepKind.FLASH:
            alt = f" (alt {self.alt})" if self.mode == Mode.DFU else ""
            where = f" at 0x{self.address:x}{alt}" if self.address is not None else ""
            name = self.target.name if self.target else self.label
            return f"flash {name} via {self.via}{where}, {self.size} bytes"
        return f"{self.kind}{f' {self.mode}' if self.mode else ''}{f' ({self.label})' if self.label else ''}"


@dataclass
class Plan:
    """Ordered steps to bring a board to a target release over one method."""

    method: str
    platform: str
    target_version: str
    steps: list[Step] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, why)
    modelled_seconds: float = 0.0

    def flash_steps(self) -> list[Step]:
        """Only the writes."""
        return [s for s in self.steps if s.kind == StepKind.FLASH]

    def to_json(self) -> dict[str, Any]:
        """`rig plan --json`."""
        return {
            "method": self.method,
            "platform": self.platform,
            "target": self.target_version,
            "steps": [s.to_json() for s in self.steps],
            "skipped": [{"file": f, "reason": why} for f, why in self.skipped],
            "modelled_seconds": round(self.modelled_seconds, 1),
        }


def function_name(function: int) -> str:
    """'system part' for 4, etc."""
    return F(function).label
