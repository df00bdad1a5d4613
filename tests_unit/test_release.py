"""Release store: index by parsing, group, and say what is missing or inconsistent."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rig.firmware.build import build, module_spec
from rig.firmware.format import ModuleFunction as F
from rig.firmware.release import ReleaseError, ReleaseStore
from rig.firmware.synthetic import release_files, write_release


def test_real_store_groups_every_release(firmware_dir: Path) -> None:
    store = ReleaseStore.scan(firmware_dir)
    got = {(p, v) for (p, v) in store.releases}
    for plat in ("photon", "p1", "electron"):
        assert {(plat, v) for v in ("1.5.0", "1.5.2", "2.2.0", "2.3.1")} <= got
    for plat in ("argon", "boron", "bsom"):
        assert {(plat, v) for v in ("1.5.0", "1.5.2", "2.2.0", "4.0.1")} <= got
    assert {("tracker", "2.2.0"), ("tracker", "4.0.1")} <= got
    assert all(r.complete for r in store.releases.values())
    boron = store.get("boron", "4.0.1")
    assert [s.name for s in boron.modules()] == [
        "boron-bootloader@4.0.1.bin",
        "boron-softdevice@4.0.1.bin",
        "boron-system-part1@4.0.1.bin",
        "tinker-0.8.0-rc.27-boron.bin",
    ]
    electron = store.get("electron", "1.5.2")
    assert electron.bootloader is None and electron.complete and "§6.7" in electron.notes[0]
    assert [s.module.index for s in electron.system_parts] == [1, 2, 3]
    tracker = store.get("tracker", "4.0.1")
    assert tracker.softdevice is not None and tracker.ncp is None and "NCP" in tracker.notes[0]


def test_real_store_skips_non_modules_with_reasons(firmware_dir: Path) -> None:
    store = ReleaseStore.scan(firmware_dir)
    skipped = {p.name: why for p, why in store.skipped}
    assert set(skipped) == {
        "ota-flag-a5.bin",
        "cc3000-patch-programmer.bin",
        "cc3000-patch-programmer_1_14.bin",
        "deep_update_2014_06.bin",
        "core_doctor.bin",
        "core_tinker.bin",
        "voodoospark.bin",
    }
    assert "cannot flash" in skipped["voodoospark.bin"]


def test_files_are_identified_by_content_not_name(tmp_path: Path) -> None:
    for i, (name, data) in enumerate(sorted(release_files("boron", "2.3.1").items())):
        (tmp_path / f"blob{i}.bin").write_bytes(data)
        del name
    release = ReleaseStore.scan(tmp_path).get("boron", "2.3.1")
    assert release.complete and release.bootloader and release.softdevice and release.user_app
    assert release.bootloader.module.version == 1006


def test_missing_parts_are_named(tmp_path: Path) -> None:
    files = write_release(tmp_path, "photon", "2.3.1")
    next(f for f in files if "part1" in f.name).unlink()
    next(f for f in files if "bootloader" in f.name).unlink()
    release = ReleaseStore.scan(tmp_path).get("photon", "2.3.1")
    assert not release.complete
    text = "; ".join(release.problems)
    assert "system part 1 (photon-system-part1@2.3.1.bin) is missing" in text
    assert "bootloader version 1006 is missing" in text
    with pytest.raises(ReleaseError, match=r"photon 2\.3\.1 is incomplete: .*system part 1"):
        release.require_complete()


def test_gen3_release_without_softdevice_is_incomplete(tmp_path: Path) -> None:
    for f in write_release(tmp_path, "boron", "2.3.1"):
        if "softdevice" in f.name:
            f.unlink()
    release = ReleaseStore.scan(tmp_path).get("boron", "2.3.1")
    assert release.problems == ["radio stack (SoftDevice) >= 202 is missing"]


def test_two_different_files_for_one_module_are_inconsistent(tmp_path: Path) -> None:
    write_release(tmp_path, "argon", "4.0.1")
    other = module_spec("argon", F.BOOTLOADER, 0, 1101, size=1000, seed=99)
    (tmp_path / "argon-bootloader-copy.bin").write_bytes(build(other))
    release = ReleaseStore.scan(tmp_path).get("argon", "4.0.1")
    assert any("bootloader differs between files" in p for p in release.problems)


def test_identical_copies_are_fine_and_the_release_named_file_wins(firmware_dir: Path, tmp_path: Path) -> None:
    for name in (
        "photon-bootloader@2.2.0+lto.bin",
        "photon-bootloader@2.3.1+lto.bin",
        "photon-system-part1@2.3.1.bin",
        "photon-system-part2@2.3.1.bin",
    ):
        shutil.copy(firmware_dir / name, tmp_path / name)
    release = ReleaseStore.scan(tmp_path).get("photon", "2.3.1")
    assert release.complete and release.bootloader and release.bootloader.name == "photon-bootloader@2.3.1+lto.bin"
    assert release.user_app is None and "no default user app" in release.notes[0]


def test_unknown_release_and_missing_directory(tmp_path: Path) -> None:
    write_release(tmp_path, "boron", "2.3.1")
    store = ReleaseStore.scan(tmp_path)
    with pytest.raises(ReleaseError, match=r"No boron 4\.0\.1 release .*it has: 2\.3\.1.*rig releases fetch 4\.0\.1"):
        store.get("boron", "4.0.1")
    with pytest.raises(ReleaseError, match="does not exist"):
        ReleaseStore.scan(tmp_path / "nope")


def test_default_app_must_be_runnable_by_the_release(tmp_path: Path) -> None:
    write_release(tmp_path, "boron", "2.3.1", with_user_app=False)
    from rig.firmware.synthetic import user_app

    (tmp_path / "new-app.bin").write_bytes(build(user_app("boron", 4005)))  # needs 4.0.1: not runnable
    (tmp_path / "old-app.bin").write_bytes(build(user_app("boron", 1512)))
    release = ReleaseStore.scan(tmp_path).get("boron", "2.3.1")
    assert release.user_app is not None and release.user_app.name == "old-app.bin"
