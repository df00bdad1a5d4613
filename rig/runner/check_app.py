"""One user binary across Device OS versions: install each version, flash the app, check that the
board boots into normal mode (not safe mode) and stays up.
"""

from __future__ import annotations

from dataclasses import dataclass

from rig.clock import wait_for
from rig.device import Device, Mode
from rig.errors import RigError
from rig.firmware.release import ReleaseStore
from rig.plan import Target, plan
from rig.runner.prepare import ensure_release
from rig.runner.run import Runner, installed

STAY_UP_SECONDS = 30.0
NOT_RUN = "not run"


@dataclass
class AppCheck:
    """The verdict for one Device OS version."""

    version: str
    outcome: str  # runs | safe-mode | fail | not run (no release of that version in the store)
    detail: str = ""


def check_app(
    dev: Device, store: ReleaseStore, version: str, app: Target, stay_up: float = STAY_UP_SECONDS
) -> AppCheck:
    """Install `version`, flash `app` over DFU, and watch the board for `stay_up` seconds."""
    if version not in store.versions(dev.platform.name):
        return AppCheck(version, NOT_RUN, f"no release of Device OS {version} for the {dev.platform.name} in the store")
    try:
        release = store.get(dev.platform.name, version)
        ensure_release(dev, release)
        steps = plan(installed(dev, hashes=True), release, "dfu", app)
        result = Runner(dev).run(steps, release, user_version=app.image.version)
    except RigError as exc:
        return AppCheck(version, "fail", str(exc))
    if result.outcome == "fail" and dev.mode() == Mode.SAFE:
        needs = max((d.version for d in app.image.real_dependencies if d.function == 4), default=0)
        return AppCheck(version, "safe-mode", f"the app needs system part version {needs}; the board is in safe mode")
    if result.outcome == "fail":
        return AppCheck(version, "fail", result.error or "")
    left = wait_for(lambda: dev.mode() != Mode.NORMAL, dev.clock, stay_up, interval=1.0)
    if left:
        return AppCheck(version, "fail", f"the board left normal mode within {stay_up:g} s ({dev.mode()})")
    return AppCheck(version, "runs", f"normal mode for {stay_up:g} s")
