"""One user binary across the Device OS versions of the release store (--rig-user-binary FILE):
install each version, flash the app, check the board runs it in normal mode and stays up.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from rig.device import Device
from rig.firmware.release import ReleaseStore
from rig.plan import Target
from rig.pytest_plugin import AppCase
from rig.runner.check_app import check_app

pytestmark = pytest.mark.hil


def test_user_binary(
    rig_app_case: AppCase,
    board: Device,
    rig_releases: ReleaseStore,
    rig_user_binary: Target,
    record_property: Callable[[str, object], None],
) -> None:
    """The user binary runs in normal mode on this Device OS and stays up."""
    verdict = check_app(board, rig_releases, rig_app_case.version, rig_user_binary)
    record_property("device_os", rig_app_case.version)
    record_property("outcome", verdict.outcome)
    assert verdict.outcome == "runs", f"{rig_user_binary.name} on Device OS {rig_app_case.version}: {verdict.detail}"
