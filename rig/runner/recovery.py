"""Bringing a board back from a bad state: power-cycle -> DFU -> restore a known release -> health
check; a board that fails its health check N times is quarantined and reported, not reused.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from rig.device import Device, Mode
from rig.device.modes import cycle, enter
from rig.device.story import render
from rig.errors import EXIT_FAILED, RigError
from rig.firmware.release import Release
from rig.methods import RESTORE
from rig.plan import plan
from rig.runner.run import FAIL, Runner, RunResult, StepResult, verify
from rig.runner.state import left_in

MAX_FAILED_HEALTH_CHECKS = 3


class QuarantinedError(RigError):
    """The board failed its health check too often and is taken out of service."""

    exit_code = EXIT_FAILED


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


PROCESS_QUARANTINE = Quarantine()  # what recovery counts when no quarantine is passed (one per process)


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
    start, done = dev.mark(), list[StepResult]()
    dev.note("recovery: power cycle, DFU, restore")
    try:
        if dev.power is not None:
            with _timed(dev, "recovery: power cycle", done, fatal=False):
                cycle(dev)  # a port that does not cut power or a hanging uhubctl: go on to DFU anyway
        with _timed(dev, "recovery: enter DFU mode", done):
            enter(dev, Mode.DFU)
        dev.path_start = start  # the restore's log starts with the power cycle
        result = Runner(dev).run(plan([], release, RESTORE), release)
        result.steps[:0] = done
    except RigError as exc:
        result = RunResult(FAIL, RESTORE, str(exc), type(exc).__name__, board_state=left_in(dev, failed=True))
        result.steps = [*done, StepResult(f"failed: {exc}", 0.0, 0.0, False)]
        result.last_good_step = next((s.step for s in reversed(done) if s.ok), None)
        result.log = render(dev.notes, start)
    reason = health_check(dev, release) if result.outcome != FAIL else result.error
    quarantine.record(dev.name, reason)
    if reason is not None and quarantine.is_quarantined(dev.name):
        raise QuarantinedError(f"{dev.name} failed {quarantine.limit} health checks ({reason}) and is quarantined.")
    return result


@contextmanager
def _timed(dev: Device, name: str, done: list[StepResult], fatal: bool = True) -> Iterator[None]:
    """Time one recovery step into `done`; with fatal=False a failure is noted and the ladder goes on."""
    wall0, clock0 = time.perf_counter(), dev.clock.now()
    try:
        yield
    except RigError as exc:
        done.append(StepResult(name, time.perf_counter() - wall0, dev.clock.now() - clock0, False, str(exc)))
        if fatal:
            raise
        dev.note(f"{name} failed ({exc}); going on")
        return
    done.append(StepResult(name, time.perf_counter() - wall0, dev.clock.now() - clock0, True))
