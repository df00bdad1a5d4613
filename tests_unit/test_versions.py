"""Device OS semver <-> module version table (protocols §1.11)."""

from __future__ import annotations

import pytest

from rig.firmware import versions
from rig.firmware.versions import UnknownVersionError


@pytest.mark.parametrize(
    ("semver", "module", "boot"),
    [
        ("1.5.2", 1512, 502),
        ("2.0.1", 2011, 1005),
        ("2.0.2", 2021, 1005),
        ("4.0.1", 4005, 1101),
        ("5.0.0", 5002, 2000),
        ("6.3.4", 6305, None),
        ("2.2.0", 2202, 1006),
        ("1.5.0", 1502, 501),
    ],
)
def test_known_versions(semver: str, module: int, boot: int | None) -> None:
    assert versions.module_version(semver) == module
    assert versions.bootloader_version(semver) == boot
    assert versions.device_os(module) == semver


def test_table_is_unique_and_ordered() -> None:
    systems = [v.system for v in versions.VERSIONS]
    assert len(set(systems)) == len(systems)
    ordered = sorted(versions.VERSIONS, key=lambda v: versions.semver_key(v.semver))
    assert [v.system for v in ordered] == sorted(systems)


def test_normalize_and_errors() -> None:
    assert versions.normalize("v2.3.1") == "2.3.1"
    assert versions.normalize("1.5.0+lto") == "1.5.0"
    assert versions.semver_key("2.0.0-rc.1") < versions.semver_key("2.0.0")
    with pytest.raises(UnknownVersionError, match="not in the version table"):
        versions.module_version("9.9.9")
    with pytest.raises(UnknownVersionError, match="is not a Device OS version"):
        versions.lookup("latest")
    assert versions.device_os_or_none(1234) is None
