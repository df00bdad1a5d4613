"""One user binary across Device OS versions: install each version, flash the app, check that the
board boots into normal mode (not safe mode) and stays up.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rig.clock import wait_for
from rig.device import Device, Mode
from rig.errors import RigError
from rig.firmware.release import ReleaseStore
from rig.plan import Target, plan
from rig.runner.prepare import PrepareError, ensure_release
from rig.runner.run import Runner, installed

STAY_UP_SECONDS = 30.0
NOT_RUN = "not run"
RUNS = "runs"
BENCH_FAILED = "bench failed"  # the release could not be installed: says nothing about the app
EVIDENCE_LINES = 8
WATCH_AFTER_LEAVING = 10.0  # seconds of modes noted once the board left normal mode


@dataclass
class AppCheck:
    """The verdict for one Device OS version."""

    version: str
    outcome: str  # runs | safe-mode | fail | not run (no release of that version in the store)
    detail: str = ""
    evidence: list[str] = field(default_factory=list)  # the board's log during the check (last lines)


def check_app(
    dev: Device, store: ReleaseStore, version: str, app: Target, stay_up: float = STAY_UP_SECONDS
) -> AppCheck:
    """Install `version`, flash `app` over DFU, and watch the board for `stay_up` seconds; the
    verdict keeps the last lines of the board's log as evidence.
    """
    start = len(dev.log)
    verdict = _check(dev, store, version, app, stay_up)
    verdict.evidence = dev.log[start:][-EVIDENCE_LINES:]
    return verdict


def _check(dev: Device, store: ReleaseStore, version: str, app: Target, stay_up: float) -> AppCheck:
    if version not in store.versions(dev.platform.name):
        return AppCheck(version, NOT_RUN, f"no release of Device OS {version} for the {dev.platform.name} in the store")
    release = store.get(dev.platform.name, version)
    try:
        ensure_release(dev, release)
    except PrepareError as exc:  # the board could not be given the release: no verdict on the app
        return AppCheck(version, BENCH_FAILED, str(exc))
    try:
        steps = plan(installed(dev, hashes=True), release, "dfu", app)
        result = Runner(dev).run(steps, release, user_version=app.image.version)
    except RigError as exc:
        return AppCheck(version, "fail", str(exc))
    if result.outcome == "fail" and dev.mode() == Mode.SAFE:
        needs = max((d.version for d in app.image.real_dependencies if d.function == 4), default=0)
        return AppCheck(version, "safe-mode", f"the app needs system part version {needs}; the board is in safe mode")
    if result.outcome == "fail":  # the app never got to run: flashing it failed
        return AppCheck(version, BENCH_FAILED, f"flashing the app failed: {result.error}")
    dev.note(f"watching {app.name} in normal mode for up to {stay_up:g} s")
    left = wait_for(lambda: dev.mode() != Mode.NORMAL, dev.clock, stay_up, interval=1.0)
    if left:
        return AppCheck(version, "fail", f"the board left normal mode within {stay_up:g} s ({_watch(dev)})")
    return AppCheck(version, RUNS, f"normal mode for {stay_up:g} s")


def _watch(dev: Device, seconds: float = WATCH_AFTER_LEAVING) -> str:
    """The modes the board goes through after it left normal mode (a crash loop comes back and
    leaves again), noted in its log.
    """
    seen = [dev.mode()]
    end = dev.clock.now() + seconds
    while dev.clock.now() < end:
        dev.clock.sleep(0.5)
        mode = dev.mode()
        if mode != seen[-1]:
            seen.append(mode)
    text = " -> ".join(str(m) for m in seen)
    dev.note(f"after leaving normal mode: {text}")
    return text
