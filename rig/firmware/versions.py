"""Device OS semantic version <-> module version, as a data table (particle-protocols.md §1.11).

Module versions are not computable from the semver (2.0.1 -> 2011, 2.0.2 -> 2021, 4.0.1 ->
4005): every number below was read from the release tags' `system_module_version.mk` or from
real binaries. A version missing here is an error with a sentence, never a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rig.errors import RigError


class UnknownVersionError(RigError):
    """A Device OS version or module version that is not in the table."""


@dataclass(frozen=True)
class DeviceOsVersion:
    """One Device OS release: system-part module version and bootloader module version."""

    semver: str
    system: int
    bootloader: int | None  # None: that release line had no versioned bootloader in the table


# (semver, system-part module version, bootloader module version or None), §1.11.
_TABLE: tuple[tuple[str, int, int | None], ...] = (
    ("0.4.5", 6, None),  # Photon Tinker dependency 4/2/6
    ("0.4.8-rc.6", 10, None),
    ("0.5.2", 17, None),
    ("0.5.5", 23, None),
    ("0.6.0", 102, None),
    ("0.6.2", 108, None),
    ("0.6.4", 110, None),
    ("0.7.0", 207, 101),
    ("0.8.0-rc.27", 326, 215),
    ("0.9.0", 403, 300),
    ("1.0.0", 1000, 201),
    ("1.0.1", 1002, 201),
    ("1.1.0-rc.1", 1100, None),
    ("1.1.0", 1102, 301),
    ("1.1.1", 1104, 301),
    ("1.2.1", 1213, 311),
    ("1.3.1", 1321, 401),
    ("1.4.0", 1401, 500),
    ("1.4.1", 1403, 500),
    ("1.4.2", 1404, 501),
    ("1.4.3", 1405, 501),
    ("1.4.4", 1406, 501),
    ("1.5.0", 1502, 501),
    ("1.5.1", 1511, 501),
    ("1.5.2", 1512, 502),
    ("1.5.4-rc.1", 1514, None),
    ("2.0.0-rc.1", 2004, None),
    ("2.0.0", 2008, 1003),
    ("2.0.1", 2011, 1005),
    ("2.0.2", 2021, 1005),
    ("2.1.0", 2101, 1005),
    ("2.2.0", 2202, 1006),
    ("2.3.0", 2301, 1006),
    ("2.3.1", 2302, 1006),
    ("3.0.0", 3005, 1005),
    ("3.1.0", 3103, 1100),
    ("3.2.0", 3201, 1100),
    ("3.3.0", 3301, 1100),
    ("3.3.1", 3302, 1100),
    ("4.0.0", 4003, 1101),
    ("4.0.1", 4005, 1101),
    ("4.0.2", 4006, 1101),
    ("4.1.0", 4100, 1200),
    ("4.2.0", 4200, 1200),
    ("5.0.0", 5002, 2000),
    ("5.0.1", 5003, 2001),
    ("5.1.0", 5004, 2001),
    ("5.2.0", 5200, 2002),
    ("5.3.0", 5300, 2100),
    ("5.3.1", 5301, 2101),
    ("5.3.2", 5302, 2102),
    ("5.4.0", 5400, 2200),
    ("5.4.1", 5410, 2210),
    ("5.5.0", 5501, 2300),
    ("5.6.0", 5600, 2400),
    ("5.7.0", 5700, 2500),
    ("5.8.0", 5800, 2600),
    ("5.8.2", 5802, 2601),
    ("5.9.0", 5901, 2700),
    ("6.0.0", 6000, 3000),
    ("6.1.0", 6100, 3000),
    ("6.1.1", 6101, 3001),
    ("6.2.0", 6200, 3100),
    ("6.3.4", 6305, None),
)

VERSIONS: tuple[DeviceOsVersion, ...] = tuple(DeviceOsVersion(*row) for row in _TABLE)
_BY_SEMVER = {v.semver: v for v in VERSIONS}
_BY_SYSTEM = {v.system: v for v in VERSIONS}
_SEMVER = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")


def normalize(semver: str) -> str:
    """'v2.3.1' or '2.3.1+lto' -> '2.3.1'; raises for text that is not a version."""
    m = _SEMVER.match(semver.strip())
    if not m:
        raise UnknownVersionError(f"'{semver}' is not a Device OS version (expected e.g. 2.3.1).")
    core = ".".join(m.group(i) for i in (1, 2, 3))
    return f"{core}-{m.group(4)}" if m.group(4) else core


def semver_key(semver: str) -> tuple[int, int, int, int, str]:
    """Sort key for semantic versions: pre-releases before their release."""
    m = _SEMVER.match(normalize(semver))
    assert m is not None
    pre = m.group(4)
    return (int(m.group(1)), int(m.group(2)), int(m.group(3)), 0 if pre else 1, pre or "")


def lookup(semver: str) -> DeviceOsVersion:
    """The table row of a Device OS version."""
    key = normalize(semver)
    try:
        return _BY_SEMVER[key]
    except KeyError:
        raise UnknownVersionError(
            f"Device OS {key} is not in the version table; add its module versions "
            "(from system_module_version.mk) to rig/firmware/versions.py."
        ) from None


def known(semver: str) -> bool:
    """True when the version table has this Device OS version."""
    try:
        return normalize(semver) in _BY_SEMVER
    except RigError:
        return False


def module_version(semver: str) -> int:
    """System-part module version of a Device OS version (e.g. '4.0.1' -> 4005)."""
    return lookup(semver).system


def bootloader_version(semver: str) -> int | None:
    """Bootloader module version shipped with a Device OS version, if known."""
    return lookup(semver).bootloader


def device_os(system_module_version: int) -> str:
    """Device OS version whose system parts carry this module version (e.g. 1512 -> '1.5.2')."""
    try:
        return _BY_SYSTEM[system_module_version].semver
    except KeyError:
        raise UnknownVersionError(
            f"System module version {system_module_version} is not in the version table (rig/firmware/versions.py)."
        ) from None


def device_os_or_none(system_module_version: int) -> str | None:
    """Like device_os, but None for an unknown module version."""
    found = _BY_SYSTEM.get(system_module_version)
    return found.semver if found else None
