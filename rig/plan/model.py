"""What a plan is: ordered steps, what was skipped, and its modelled hardware time."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rig.errors import RigError
from rig.firmware.format import ModuleFunction as F
from rig.firmware.module import Module

METHODS = ("dfu", "serial", "usb", "restore", "ota", "dfu-util", "particle-cli", "swd")


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


@dataclass(frozen=True)
class Step:
    """One thing the runner does."""

    kind: str  # enter-mode | flash | reset | setup-done | wait-reboot | wait-cloud
    mode: str | None = None  # for flash: "normal" (control request / YMODEM / OTA writes) or "dfu"
    via: str | None = None  # dfu | usb | serial | ota | dfu-util | particle-cli | swd
    target: Target | None = None
    address: int | None = None  # DFU writes only
    alt: int | None = None
    data: bytes | None = None  # raw DFU payloads that are not module files (OTA flag, invalidation)
    label: str = ""

    @property
    def size(self) -> int:
        """Bytes written by a flash step."""
        if self.data is not None:
            return len(self.data)
        if self.target is None:
            return 0
        m = self.target.image
        stripped = self.via in ("dfu", "dfu-util") and self.mode == "dfu" and m.flags & 0x01
        return len(m.data) - 24 if stripped else len(self.target.module.data)

    def to_json(self) -> dict[str, Any]:
        """The step as `rig plan --json` prints it."""
        if self.kind != "flash":
            out: dict[str, Any] = {"kind": self.kind}
            if self.mode:
                out["mode"] = self.mode
            if self.label:
                out["label"] = self.label
            return out
        return {
            "kind": "flash",
            "file": self.target.name if self.target else self.label,
            "mode": self.mode,
            "address": self.address if self.mode == "dfu" else None,
            "size": self.size,
            "via": self.via,
            "module": self.target.image.describe() if self.target else self.label,
        }

    def describe(self) -> str:
        """One line for people."""
        if self.kind == "flash":
            where = f" at 0x{self.address:x} (alt {self.alt})" if self.address is not None else ""
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
        return [s for s in self.steps if s.kind == "flash"]

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
