"""Bringing a board to a known release before a path is tested (through the rig's own paths)."""

from __future__ import annotations

from collections.abc import Callable

from rig.device import Device, Mode
from rig.device.modes import power_on
from rig.errors import EXIT_FAILED, RigError
from rig.firmware.release import Release, ReleaseStore
from rig.methods import RESTORE, Via
from rig.plan import plan
from rig.pool import Claimer
from rig.runner.recovery import PROCESS_QUARANTINE, Quarantine, recover
from rig.runner.run import FAIL, Runner, RunResult, installed, verify
from rig.runner.state import board_state


class PrepareError(RigError):
    """The board could not be brought to the source release of a path."""

    exit_code = EXIT_FAILED


def ensure_release(dev: Device, release: Release, quarantine: Quarantine | None = None) -> RunResult | None:
    """Install `release` (restore over DFU, installed modules skipped) unless the board already runs it;
    falls back to the recovery ladder once. Returns the run, or None when nothing was needed.
    """
    start, dev.path_start = dev.mark(), None
    dev.note(f"set-up: bring the board to {release.platform.name} {release.version}")
    result = _install(dev, release, quarantine)
    took = dev.clock.now() - start.clock
    dev.note(f"set-up: {'already there' if result is None else result.outcome} after {took:.2f} s")
    dev.path_start = start  # the path's run that follows logs from the start of its set-up
    return result


def _install(dev: Device, release: Release, quarantine: Quarantine | None) -> RunResult | None:
    try:
        if not verify(dev, release):
            return None
        method = RESTORE if RESTORE in dev.platform.methods else Via.DFU
        result = Runner(dev).run(plan(installed(dev, hashes=True), release, method), release)
    except RigError as exc:
        result = RunResult(FAIL, RESTORE, str(exc), type(exc).__name__)
    if result.outcome == FAIL:
        result = recover(dev, release, quarantine or PROCESS_QUARANTINE)
        if result.outcome == FAIL:
            dev.note(f"set-up failed: {result.error}")
            raise PrepareError(
                f"{dev.name} could not be brought to {release.platform.name} {release.version}: {result.error}"
            )
    return result


def take_over(dev: Device) -> None:
    """Make a freshly claimed board reachable: a holder that died mid power cycle (a killed xdist
    worker) may have left its hub port off; switch it on. Failures are noted, not raised: the
    next step (ensure_release) restores or quarantines the board.
    """
    if dev.power is None or dev.present():
        return
    dev.note("not on USB after claiming it: switching its hub port on (a previous holder may have died)")
    try:
        power_on(dev)
    except RigError as exc:
        dev.note(f"power on after claiming failed: {exc}")


def leave_usable(dev: Device, store: ReleaseStore, quarantine: Quarantine | None = None) -> str:
    """After a failed test: a board that does not run normally is recovered to the newest complete
    release of its platform, so the bench is usable the next morning; returns what was done.
    """
    try:
        if dev.mode() == Mode.NORMAL:
            return f"board left in {board_state(dev)}"
    except RigError:
        pass  # not answering: recover it
    have = store.versions(dev.platform.name)
    if not have:
        return f"no complete {dev.platform.name} release to recover {dev.name} to; it is in {board_state(dev)}"
    try:
        result = recover(dev, store.get(dev.platform.name, have[-1]), quarantine or PROCESS_QUARANTINE)
    except RigError as exc:
        return f"recovery of {dev.name} failed: {exc}"
    return f"recovered {dev.name} to Device OS {have[-1]}: {result.outcome}; {result.board_state}"


def hand_back(
    dev: Device, claimer: Claimer, store: ReleaseStore | None, failed: bool, say: Callable[[str], None]
) -> None:
    """Before a claimed board is released: after a failure it is recovered (leave_usable), a board
    this process quarantined is taken out of service for every later claim, and its hub port is
    switched on whatever happened before (also when the recovery is interrupted); `say` gets what
    was done and what could not be.
    """
    try:
        if failed and store is not None:  # leave the bench usable
            say(leave_usable(dev, store))
        if PROCESS_QUARANTINE.is_quarantined(dev.name):
            claimer.quarantine(dev.name, PROCESS_QUARANTINE.reasons.get(dev.name, "failed its health checks"))
    finally:
        if dev.power is not None:
            try:
                dev.power.switch(True)
            except Exception as exc:  # any failure is said; the claim is released next
                say(f"could not power the port on: {exc}")
