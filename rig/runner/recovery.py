"""Bringing a board back from a bad state: power-cycle -> DFU -> restore a known release -> health
check; a board that fails its health check N times is quarantined and reported, not reused.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rig.device import Device, Mode
from rig.device.modes import cycle, enter
from rig.errors import RigError
from rig.firmware.release import Release
from rig.plan import plan
from rig.runner.run import FAIL, Runner, RunResult, verify

MAX_FAILED_HEALTH_CHECKS = 3


class QuarantinedError(RigError):
    """The board failed its health check too often and is taken out of service."""


@dataclass
class Quarantine:
    """Failed health checks per board; boards at the limit are quarantined."""

    limit: int = MAX_FAILED_HEALTH_CHECKS
    failures: dict[str, int] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)

    def is_quarantined(self, name: str) -> bool:
        """True once a board failed `limit` health checks."""
        return self.failures.get(name, 0) >= self.limit

    def record(self, name: str, reason: str | None) -> None:
        """Count a failed (reason) or passed (None) health check."""
        if reason is None:
            self.failures.pop(name, None)
            return
        self.failures[name] = self.failures.get(name, 0) + 1
        self.reasons[name] = reason


def health_check(dev: Device, release: Release) -> str | None:
    """None when the board runs `release` in normal mode, else why not."""
    try:
        problems = verify(dev, release)
    except RigError as exc:
        return str(exc)
    return "; ".join(problems) or None


def recover(dev: Device, release: Release, quarantine: Quarantine) -> RunResult:
    """Power-cycle, enter DFU, restore `release` completely, then health-check the board."""
    if quarantine.is_quarantined(dev.name):
        raise QuarantinedError(
            f"{dev.name} is quarantined after {quarantine.limit} failed health checks "
            f"({quarantine.reasons.get(dev.name)}); fix it by hand."
        )
    dev.note("recovery: power cycle, DFU, restore")
    try:
        if dev.hub is not None:
            cycle(dev)
        enter(dev, Mode.DFU)
        result = Runner(dev).run(plan([], release, "restore"), release)
    except RigError as exc:
        result = RunResult(FAIL, "restore", str(exc), type(exc).__name__)
    reason = health_check(dev, release) if result.outcome != FAIL else result.error
    quarantine.record(dev.name, reason)
    if reason is not None and quarantine.is_quarantined(dev.name):
        raise QuarantinedError(f"{dev.name} failed {quarantine.limit} health checks ({reason}) and is quarantined.")
    return result
