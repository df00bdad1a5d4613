"""Planner details: particle-cli 3.x parity, skipping, serial order, OTA fallback, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rig.cli import main
from rig.firmware.build import build, module_spec
from rig.firmware.format import ModuleFunction as F
from rig.firmware.parse import parse_module
from rig.firmware.release import ReleaseStore
from rig.firmware.synthetic import user_app, write_release
from rig.plan import InstalledModule, Plan, PlanRefused, Target, plan
from rig.runner import FAIL, OVER_THE_AIR, PASS, Runner, installed
from rig.sim.lab import Lab
from testsupport.boards import on_board
from testsupport.devices import board_and_device


def flash_rows(p) -> list[tuple[str, str, int | None, int]]:
    return [(s["file"], s["mode"], s["address"], s["size"]) for s in p.to_json()["steps"] if s["kind"] == "flash"]


# particle-protocols §7.4: CLI 3.35 createFlashSteps on the real files
CLI_TABLE = {
    ("boron", "4.0.1"): (
        [
            ("boron-bootloader@4.0.1.bin", "normal", None, 48212),
            ("boron-softdevice@4.0.1.bin", "dfu", 0x1000, 153024),
            ("boron-system-part1@4.0.1.bin", "dfu", 0x30000, 510794),
        ],
        [
            ("boron-softdevice@4.0.1.bin", "dfu", 0x1000, 153024),
            ("boron-system-part1@4.0.1.bin", "dfu", 0x30000, 510794),
            ("boron-bootloader@4.0.1.bin", "normal", None, 48212),
        ],
    ),
    ("electron", "2.3.1"): (
        [
            ("electron-bootloader@2.3.1+lto.bin", "normal", None, 15672),
            ("electron-system-part1@2.3.1.bin", "dfu", 0x8060000, 87468),
            ("electron-system-part2@2.3.1.bin", "dfu", 0x8020000, 114012),
            ("electron-system-part3@2.3.1.bin", "dfu", 0x8040000, 123052),
        ],
        None,
    ),
    ("photon", "2.3.1"): (
        [
            ("photon-bootloader@2.3.1+lto.bin", "normal", None, 15124),
            ("photon-system-part1@2.3.1.bin", "dfu", 0x8020000, 241496),
            ("photon-system-part2@2.3.1.bin", "dfu", 0x8060000, 260984),
        ],
        [
            ("photon-system-part1@2.3.1.bin", "dfu", 0x8020000, 241496),
            ("photon-system-part2@2.3.1.bin", "dfu", 0x8060000, 260984),
            ("photon-bootloader@2.3.1+lto.bin", "normal", None, 15124),
        ],
    ),
}


def system_only(store: ReleaseStore, platform: str, version: str) -> ReleaseStore:
    """The same release without its default app (the CLI table lists Device OS files only)."""
    release = store.get(platform, version)
    release.user_app = None
    return store


@pytest.mark.parametrize("key", sorted(CLI_TABLE))
def test_dfu_plan_matches_particle_cli_3x(real_store: ReleaseStore, key: tuple[str, str]) -> None:
    platform, version = key
    release = real_store.get(platform, version)
    saved, release.user_app = release.user_app, None
    try:
        normal, in_dfu = CLI_TABLE[key]
        assert flash_rows(plan([], release, "dfu")) == normal
        if in_dfu:
            assert flash_rows(plan([], release, "dfu", device_mode="dfu")) == in_dfu
    finally:
        release.user_app = saved


def test_dfu_plan_with_apps_and_the_128k_invalidation(real_store: ReleaseStore, tmp_path: Path) -> None:
    tracker = real_store.get("tracker", "4.0.1")
    rows = flash_rows(plan([], tracker, "dfu"))
    assert rows[-1] == ("tracker-tinker@1.5.4-rc.1.bin", "dfu", 0xD4000, 11568)  # app dep 1514 < 3103: no invalidation
    write_release(tmp_path, "esomx", "4.0.1", with_user_app=False)
    esomx = ReleaseStore.scan(tmp_path).get("esomx", "4.0.1")
    app = Target("tinker-6.3.4-esomx.bin", parse_module(build(user_app("esomx", 6305))))
    rows = flash_rows(plan([], esomx, "dfu", app))
    assert [r[0] for r in rows] == [
        "esomx-bootloader@4.0.1.bin",
        "esomx-softdevice@4.0.1.bin",
        "esomx-system-part1@4.0.1.bin",
        "invalidate-128k-user-part",
        "tinker-6.3.4-esomx.bin",
    ]
    assert rows[3][1:] == ("dfu", 0xD4000, 4096) and rows[4][2] == 0xB4000


def test_serial_downgrade_goes_in_reverse_and_forward_order_fails(real_store: ReleaseStore) -> None:
    target = real_store.get("photon", "1.5.2")
    with Lab(releases=real_store) as lab:
        board, dev = board_and_device(lab, "photon", "2.3.1")
        p = plan(installed(dev, hashes=True), target, "serial")
        assert [s.target.name for s in p.flash_steps() if s.target] == [
            "photon-system-part2@1.5.2.bin",
            "photon-system-part1@1.5.2.bin",
            "photon-bootloader@1.5.2+lto.bin",
        ]
        result = Runner(dev).run(p, target)
        assert result.outcome == PASS
        assert result.serial_log.count("Downloaded file successfully!") == 3
        assert [s.step.split(" via")[0] for s in result.steps if s.step.startswith("flash")] == [
            "flash photon-system-part2@1.5.2.bin",
            "flash photon-system-part1@1.5.2.bin",
            "flash photon-bootloader@1.5.2+lto.bin",
        ]
        assert all(s.clock_seconds >= 0 for s in result.steps) and result.clock_seconds > 10
    with Lab(releases=real_store) as lab:
        board, dev = board_and_device(lab, "photon", "2.3.1")
        forward = plan(installed(dev, hashes=True), target, "serial", order="forward")
        result = Runner(dev).run(forward, target)
        assert result.outcome == FAIL and result.error_type == "DependencyCheckFailedError"
        assert "dependency check failed" in (result.error or "")
        assert on_board(board)[(4, 1)] == 2302  # the board refused part 1@1512 and kept 2.3.1


def test_serial_upgrade_finished_over_the_air_when_online(lab_store: tuple[ReleaseStore, Path]) -> None:
    store, _folder = lab_store
    target = store.get("boron", "2.3.1")
    app = Target("app-for-2.3.1.bin", parse_module(build(user_app("boron", 2302, seed=77))))
    for online, expected in ((True, OVER_THE_AIR), (False, PASS)):
        with Lab(releases=store) as lab:
            board, dev = board_and_device(lab, "boron", "1.5.2", online=online)
            p = plan(installed(dev, hashes=True), target, "serial", app)
            # the app first would break the intermediate boots; a user who sends it first gets the cloud's help
            p.steps = _app_first(p.steps)
            result = Runner(dev).run(p, target, user_version=6)
            assert result.outcome == expected, (online, result.error, result.foreign_changes)
            if online:
                assert result.foreign_changes and any("flash/status" in e for e in result.cloud_events)
            assert board.system_version() == "2.3.1"


def _app_first(steps):
    app = next(i for i, s in enumerate(steps) if s.kind == "flash" and s.target and s.target.image.function == 5)
    chunk = steps[app - 1 : app + 2]
    return chunk + steps[: app - 1] + steps[app + 2 :]


@pytest.fixture
def lab_store(tmp_path: Path) -> tuple[ReleaseStore, Path]:
    for version in ("1.5.2", "2.3.1"):
        write_release(tmp_path, "boron", version)
    return ReleaseStore.scan(tmp_path), tmp_path


def test_installed_modules_are_skipped_and_a_rerun_writes_nothing(real_store: ReleaseStore) -> None:
    target = real_store.get("boron", "4.0.1")
    with Lab(releases=real_store) as lab:
        board, dev = board_and_device(lab, "boron", "2.2.0")
        first = plan(installed(dev, hashes=True), target, "dfu")
        assert [name for name, _ in first.skipped] == ["boron-softdevice@4.0.1.bin", "tinker-0.8.0-rc.27-boron.bin"]
        assert Runner(dev).run(first, target).outcome == PASS
        before = bytes(board.mem.internal.data)
        again = plan(installed(dev, hashes=True), target, "dfu")
        assert again.flash_steps() == [] and again.steps == []
        assert Runner(dev).run(again, target).outcome == PASS
        assert bytes(board.mem.internal.data) == before


def test_refusals_are_sentences(real_store: ReleaseStore) -> None:
    boron = real_store.get("boron", "2.2.0")
    with pytest.raises(PlanRefused, match="built for the Photon, not the Boron"):
        plan([], boron, "dfu", Target("p.bin", real_store.get("photon", "2.3.1").system_parts[0].module))
    with pytest.raises(PlanRefused, match="Unknown method 'jtag'"):
        plan([], boron, "jtag")
    with pytest.raises(PlanRefused, match=r"removed in Device OS 6\.0\.0"):
        plan([InstalledModule(4, 1, 6101)], boron, "serial")
    with pytest.raises(PlanRefused, match=r"installs Device OS 2\.2\.0, not 4\.0\.1"):
        plan([], real_store.get("boron", "4.0.1"), "particle-update@2.16.0")
    with pytest.raises(PlanRefused, match=r"LTS releases only; 3\.1\.0 is a feature release"):
        from rig.firmware.synthetic import write_release as wr  # noqa: F401

        release = real_store.get("boron", "4.0.1")
        release.version, saved = "3.1.0", release.version
        try:
            plan([], release, "particle-update@3.51.0")
        finally:
            release.version = saved


def test_ncp_firmware_is_never_downgraded_nor_written_over_dfu(tmp_path: Path) -> None:
    """A Tracker 4.0.1 system part needs NCP 0.0.7 (§6.9): a newer NCP on the board is kept, an
    older one is updated over the validated paths, and DFU/SWD paths leave it out with the reason."""
    write_release(tmp_path, "tracker", "4.0.1")
    (tmp_path / "tracker-ncp@0.0.7.bin").write_bytes(build(module_spec("tracker", F.NCP_FIRMWARE, 0, 7)))
    tracker = ReleaseStore.scan(tmp_path).get("tracker", "4.0.1")
    assert tracker.ncp is not None and tracker.ncp.name == "tracker-ncp@0.0.7.bin"

    def ncp_writes(p: Plan) -> list[str]:
        return [s.target.name for s in p.flash_steps() if s.target and s.target.image.function == F.NCP_FIRMWARE]

    newer = plan([InstalledModule(int(F.NCP_FIRMWARE), 0, 9)], tracker, "usb")
    assert ("tracker-ncp@0.0.7.bin", "NCP firmware is never downgraded (§6.9)") in newer.skipped
    assert ncp_writes(newer) == []
    older = plan([InstalledModule(int(F.NCP_FIRMWARE), 0, 5)], tracker, "usb")
    assert ncp_writes(older) == ["tracker-ncp@0.0.7.bin"]
    for method in ("restore", "dfu-util", "swd"):
        over_dfu = plan([InstalledModule(int(F.NCP_FIRMWARE), 0, 5)], tracker, method)
        assert ("tracker-ncp@0.0.7.bin", "NCP firmware cannot be written over DFU or SWD (§6.9)") in over_dfu.skipped
        assert ncp_writes(over_dfu) == []


def test_particle_update_versions(real_store: ReleaseStore) -> None:
    electron = real_store.get("electron", "2.3.1")
    p36 = plan([], electron, "particle-update@3.6.0")
    assert [(s.via, s.mode) for s in p36.flash_steps()] == [("usb", "normal")] + [("dfu-util", "dfu")] * 3
    p216 = plan([], real_store.get("electron", "2.2.0"), "particle-update@2.16.0")
    assert [s.via for s in p216.flash_steps()] == ["dfu-util"] * 5  # parts, bootloader -> OTA region, flag
    p26 = plan([], real_store.get("photon", "1.5.2"), "particle-update@2.6.0")
    assert [s.label or s.target.name for s in p26.flash_steps()][:2] == ["bootloader -> OTA region", "ota-flag"]


def test_rig_plan_json(real_store: ReleaseStore, firmware_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "plan",
            "--releases",
            str(firmware_dir),
            "--platform",
            "boron",
            "--from",
            "2.2.0",
            "--to",
            "4.0.1",
            "--method",
            "dfu",
            "--json",
        ]
    )
    body = json.loads(capsys.readouterr().out)
    assert code == 0 and set(body) >= {"steps", "skipped", "modelled_seconds"}
    flashes = [s for s in body["steps"] if s["kind"] == "flash"]
    assert flashes == [
        {
            "kind": "flash",
            "file": "boron-bootloader@4.0.1.bin",
            "mode": "normal",
            "address": None,
            "size": 48212,
            "via": "usb",
            "module": "Boron bootloader 0 v1101",
        },
        {
            "kind": "flash",
            "file": "boron-system-part1@4.0.1.bin",
            "mode": "dfu",
            "address": 0x30000,
            "size": 510794,
            "via": "dfu",
            "module": "Boron system part 1 v4005",
        },
    ]
    assert 10 < body["modelled_seconds"] < 120
    assert [s["kind"] for s in body["steps"] if s["kind"] != "flash"] == [
        "enter-mode",
        "wait-reboot",
        "enter-mode",
        "reset",
        "wait-reboot",
    ]
