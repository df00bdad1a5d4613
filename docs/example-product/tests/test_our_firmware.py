"""Our product's firmware on the bench, through particle-rig's pytest plugin.

    pytest --rig-sim --rig-user-binary build/app.bin                       # simulated lab
    pytest --rig-devices bench/devices.yaml --rig-releases releases \\
           --rig-user-binary build/app.bin --junitxml junit.xml            # real boards

Without --rig-devices or --rig-sim every test here is skipped with the reason (a laptop, a CI
runner without boards).
"""

from __future__ import annotations

import pytest

from rig.device import Device, Mode
from rig.device.identify import identify
from rig.firmware.release import ReleaseStore
from rig.hil.test_matrix import test_path  # noqa: F401  (the rig's own matrix, run in our CI too)
from rig.plan import Target
from rig.runner.check_app import check_app

pytestmark = pytest.mark.hil  # needs a board: a real one, or a simulated one with --rig-sim


@pytest.mark.rig_platform("boron")
def test_our_app_runs_on_the_newest_device_os(
    board: Device, rig_releases: ReleaseStore, rig_user_binary: Target
) -> None:
    """Our app boots into normal mode (not safe mode) on the newest Device OS and stays up."""
    newest = rig_releases.versions(board.platform.name)[-1]
    verdict = check_app(board, rig_releases, newest, rig_user_binary)
    assert verdict.outcome == "runs", verdict.detail
    assert board.mode() == Mode.NORMAL
    assert identify(board, cellular_details=False).device_os == newest


@pytest.mark.rig_platform("boron")
def test_our_app_is_refused_by_an_older_device_os(
    board: Device, rig_releases: ReleaseStore, rig_user_binary: Target
) -> None:
    """On the oldest Device OS, which our app does not support, it must not run (the board stops in
    safe mode, or, on a Gen 3 Device OS below 3.1.0, never finds the app where 3.1.0 moved it).
    """
    oldest = rig_releases.versions(board.platform.name)[0]
    verdict = check_app(board, rig_releases, oldest, rig_user_binary)
    assert verdict.outcome != "runs", f"our app ran on Device OS {oldest}: {verdict.detail}"
