"""Scenarios beyond the matrix: reverse-order serial downgrades, the cloud finishing a serial
upgrade, `particle update` of given CLI versions, a HEX restore image over SWD.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from rig.device import Device
from rig.device.identify import identify
from rig.device.modes import wait_running
from rig.firmware.build import build
from rig.firmware.hexfile import release_image, write_image
from rig.firmware.parse import parse_module
from rig.firmware.release import ReleaseStore
from rig.firmware.synthetic import user_app
from rig.plan import PlanRefused, Target, plan
from rig.plan.model import StepKind
from rig.plan.steps import asset_number
from rig.runner import ANY_APP, FAIL, OVER_THE_AIR, PASS, Runner, installed, verify
from rig.runner.prepare import ensure_release
from rig.transport.tools import PyOcd

pytestmark = pytest.mark.hil


def _slot(rig_releases: ReleaseStore, board: Device, version: str) -> object:
    return board.platform.user_slot(rig_releases.get(board.platform.name, version).system_version)


def _two(rig_releases: ReleaseStore, platform: str) -> tuple[str, str]:
    have = rig_releases.versions(platform)
    if len(have) < 2:
        pytest.skip(f"needs two {platform} releases")
    return have[0], have[-1]


@pytest.mark.rig_platform("photon", "p1", "electron")
@pytest.mark.rig_method("serial")
def test_serial_downgrade_goes_in_reverse_order(board: Device, rig_releases: ReleaseStore) -> None:
    old, new = _two(rig_releases, board.platform.name)
    target = rig_releases.get(board.platform.name, old)
    ensure_release(board, rig_releases.get(board.platform.name, new))
    steps = plan(installed(board, hashes=True), target, "serial")
    numbers = [
        asset_number(board.platform, s.target) for s in steps.flash_steps() if s.target and s.target.image.function == 4
    ]
    assert numbers == sorted(numbers, reverse=True) and len(numbers) >= 2
    assert Runner(board).run(steps, target).outcome == PASS
    ensure_release(board, rig_releases.get(board.platform.name, new))
    forward = Runner(board).run(plan(installed(board, hashes=True), target, "serial", order="forward"), target)
    assert forward.outcome == FAIL and forward.error_type == "DependencyCheckFailedError"


@pytest.mark.rig_platform("photon", "p1", "electron")  # Gen 2: the user slot never moved (protocols §0 fact 5)
@pytest.mark.rig_method("ota")
def test_cloud_finishes_a_serial_upgrade(board: Device, rig_releases: ReleaseStore) -> None:
    if board.cloud is None:
        pytest.skip("no cloud configured (RIG_CLOUD_URL, RIG_CLOUD_TOKEN)")
    _, new = _two(rig_releases, board.platform.name)
    target = rig_releases.get(board.platform.name, new)
    slot = board.platform.user_slot(target.system_version)
    # the running Device OS must know where the new app goes (protocols §0 fact 5: Gen 3 moved it in 3.1.0)
    olds = [v for v in rig_releases.versions(board.platform.name)[:-1] if v != new]
    olds = [v for v in olds if _slot(rig_releases, board, v) == slot]
    if not olds:
        pytest.skip(f"no older {board.platform.name} release shares the user slot of {new}")
    ensure_release(board, rig_releases.get(board.platform.name, olds[0]))
    app = Target("app-for-target.bin", parse_module(build(user_app(board.platform.name, target.system_version))))
    steps = plan(installed(board, hashes=True), target, "serial", app)
    first = next(i for i, s in enumerate(steps.steps) if s.kind == StepKind.FLASH and s.target is app)
    steps.steps = steps.steps[first - 1 : first + 2] + steps.steps[: first - 1] + steps.steps[first + 2 :]
    result = Runner(board).run(steps, target, user_version=app.image.version)
    assert result.outcome == OVER_THE_AIR, result.error
    assert result.foreign_changes


@pytest.mark.rig_platform("boron", "argon", "bsom", "tracker", "photon", "p1", "electron")
@pytest.mark.rig_method("dfu")
@pytest.mark.parametrize("cli", ["2.16.0", "3.6.0", "3.51.0"])
def test_particle_update_of_a_cli_version(board: Device, rig_releases: ReleaseStore, cli: str) -> None:
    have = rig_releases.versions(board.platform.name)
    ensure_release(board, rig_releases.get(board.platform.name, have[0]))
    tried = []
    for version in have[1:]:
        target = rig_releases.get(board.platform.name, version)
        try:
            steps = plan(installed(board, hashes=True), target, f"particle-update@{cli}")
        except PlanRefused as exc:
            tried.append(str(exc))
            continue
        result = Runner(board).run(steps, target, user_version=ANY_APP)  # `particle update` leaves the app
        assert result.outcome == PASS, result.error
        assert all("user part" not in s.step for s in result.steps)
        assert identify(board, cellular_details=False).device_os == version  # the board runs the new Device OS
        return
    pytest.skip(f"particle update of CLI {cli} installs none of the releases here ({'; '.join(tried)})")


@pytest.mark.rig_platform("boron", "argon", "bsom", "tracker", "photon", "p1", "electron")
@pytest.mark.rig_method("swd")
def test_hex_restore_image_over_swd(board: Device, rig_releases: ReleaseStore) -> None:
    if not board.swd_probe:
        pytest.skip("the board has no swd_probe in devices.yaml")
    pack = os.environ.get("RIG_PYOCD_PACK")
    if board.platform.family != "nrf52840" and not pack:
        pytest.skip("pyocd needs the STM32F2 pack for Gen 2 boards: set RIG_PYOCD_PACK (python-stack §7)")
    old, new = _two(rig_releases, board.platform.name)
    ensure_release(board, rig_releases.get(board.platform.name, new))
    target = rig_releases.get(board.platform.name, old)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "restore.hex"
        write_image(release_image(target), path)
        target_name = "nrf52840" if board.platform.family == "nrf52840" else "stm32f205rg"
        PyOcd().flash(str(path), target_name, board.swd_probe, pack)
    wait_running(board)
    assert verify(board, target) == []
