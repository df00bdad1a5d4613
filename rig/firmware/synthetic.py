"""Synthetic Device OS releases built with the module builder, for any platform and version.

They carry the real dependency graphs of particle-protocols §6.2 (read from the real binaries,
§1.10) and realistic sizes, so a fresh machine without Particle's binaries still has complete
releases for the simulated lab, the tests and the main command. File names follow the release
asset names (`boron-system-part1@2.2.0.bin`, Gen 2 bootloaders with `+lto`).
"""

from __future__ import annotations

import dataclasses
import re
import struct
from pathlib import Path

from rig import platforms
from rig.firmware import versions
from rig.firmware.build import ModuleSpec, build, filler, module_spec
from rig.firmware.format import SD_INFO_OFFSET, SD_MAGIC
from rig.firmware.format import ModuleFunction as F
from rig.firmware.module import Dependency

SOFTDEVICE_VERSION = 202  # S140 7.0.1 since Device OS 1.4.0 (§6.8)
DEFAULT_VERSIONS = ("1.5.2", "2.3.1", "4.0.1")
# Approximate sizes of the real files (§1.10), in bytes of content.
_SIZES = {
    ("stm32f2", F.BOOTLOADER): 15_000,
    ("stm32f2", F.SYSTEM_PART): 240_000,
    ("nrf52840", F.BOOTLOADER): 47_000,
    ("nrf52840", F.SYSTEM_PART): 500_000,
    ("nrf52840", F.RADIO_STACK): 153_000,
    ("rtl872x", F.BOOTLOADER): 40_000,
    ("rtl872x", F.SYSTEM_PART): 1_000_000,
}
_ELECTRON_PART_SIZES = {1: 114_000, 2: 123_000, 3: 87_000}
_BOOT_NEEDS_PART1 = {"argon", "boron", "xenon", "asom", "bsom"}  # Gen 3 1.5.x bootloaders (§1.10)


def _dep(function: F, index: int, version: int) -> Dependency:
    return Dependency(function, index, version)


def _gen2_boot_dep(system: int) -> int:
    """Bootloader version Gen 2 system parts require (§6.2: 400 on 1.5.x, 1003 on 2.x)."""
    return 400 if system < 2000 else 1003


def _gen3_boot_dep(plat: platforms.Platform, system: int, boot: int) -> int:
    """Bootloader version Gen 3 system part 1 requires (§1.10 observations)."""
    big = plat.name in ("b5som", "tracker")
    if 1500 <= system < 1600:
        return 502 if (plat.name == "b5som" and system >= 1512) else 501
    if 2000 <= system < 3000:
        return 1006 if big else 1005
    return boot


def _system_parts(plat: platforms.Platform, system: int, boot: int) -> list[tuple[int, tuple[Dependency, ...]]]:
    """(index, dependencies) of each system part, per §6.2."""
    if plat.family == "stm32f2" and plat.system_part_count == 3:  # Electron
        return [
            (1, (_dep(F.SYSTEM_PART, 3, system),)),
            (2, (_dep(F.SYSTEM_PART, 1, system), _dep(F.BOOTLOADER, 0, _gen2_boot_dep(system)))),
            (3, (_dep(F.SYSTEM_PART, 2, 110),)),
        ]
    if plat.family == "stm32f2":
        return [
            (1, (_dep(F.SYSTEM_PART, 2, 207),)),
            (2, (_dep(F.SYSTEM_PART, 1, system), _dep(F.BOOTLOADER, 0, _gen2_boot_dep(system)))),
        ]
    if plat.family == "nrf52840":
        boot_dep = _dep(F.BOOTLOADER, 0, _gen3_boot_dep(plat, system, boot))
        radio = _dep(F.RADIO_STACK, 0, SOFTDEVICE_VERSION)
        if plat.name == "tracker" and 3000 <= system < 5600:
            radio = _dep(F.NCP_FIRMWARE, 0, 7)  # Tracker NCP 0.0.7 (§6.9)
        if plat.name == "tracker" and system >= 5600:
            return [(1, (boot_dep,))]
        if plat.name == "argon" and system >= 3000:  # deliberately swapped on Argon >= 3.x
            return [(1, (radio, boot_dep))]
        return [(1, (boot_dep, radio))]
    return [(1, (_dep(F.BOOTLOADER, 0, boot),))]


def release_files(platform: str, version: str, with_user_app: bool = True) -> dict[str, bytes]:
    """File name -> bytes of every module of a synthetic release."""
    plat = platforms.by_name(platform)
    row = versions.lookup(version)
    system, semver = row.system, row.semver
    boot = row.bootloader or 1
    lto = "+lto" if plat.family == "stm32f2" else ""
    files: dict[str, bytes] = {}
    boot_deps = (_dep(F.SYSTEM_PART, 1, 1102),) if plat.name in _BOOT_NEEDS_PART1 and system < 1600 else ()
    boot_slot = plat.slot(F.BOOTLOADER, 0)
    files[f"{plat.name}-{boot_slot.asset}@{semver}{lto}.bin"] = build(
        module_spec(plat.name, F.BOOTLOADER, 0, boot, boot_deps, size=_SIZES[(plat.family, F.BOOTLOADER)])
    )
    for index, deps in _system_parts(plat, system, boot):
        slot = plat.slot(F.SYSTEM_PART, index, system)
        size = _ELECTRON_PART_SIZES[index] if plat.system_part_count == 3 else _SIZES[(plat.family, F.SYSTEM_PART)]
        files[f"{plat.name}-{slot.asset}@{semver}.bin"] = build(
            module_spec(plat.name, F.SYSTEM_PART, index, system, deps, size=size, system_version=system)
        )
    if plat.has_softdevice:
        sd_deps = (_dep(F.BOOTLOADER, 0, 501), _dep(F.SYSTEM_PART, 1, 1321))
        files[f"{plat.name}-softdevice@{semver}.bin"] = build(
            module_spec(plat.name, F.RADIO_STACK, 0, SOFTDEVICE_VERSION, sd_deps, content=softdevice_content())
        )
    if with_user_app:
        files[f"{plat.name}-tinker@{semver}.bin"] = build(user_app(plat.name, system))
    return files


def softdevice_content(fwid: int = SOFTDEVICE_VERSION, size: int = _SIZES[("nrf52840", F.RADIO_STACK)]) -> bytes:
    """SoftDevice bytes carrying the Nordic info structure that names its FWID (format.SD_INFO_OFFSET)."""
    body = bytearray(filler(size, 202))
    info = struct.pack("<IIIHHII", 0xFFFFFF2C, SD_MAGIC, 0x27000, fwid, 0xFFFF, 140, 7000001)
    body[SD_INFO_OFFSET : SD_INFO_OFFSET + len(info)] = info
    return bytes(body)


PANICS_FROM = b"rig-sim:panics-from="  # an app the simulated board runs until it hard-faults (below)


def user_app(
    platform: str, needs_system: int, version: int = 6, size: int = 12_000, seed: int = 0, panics_from: int = 0
) -> ModuleSpec:
    """Spec of a user app (Tinker-like) that needs system part >= `needs_system`; with `panics_from`
    (a system module version), an app that boots fine on older Device OS and, on that version and
    later, hard-faults soon after it starts (a behaviour the simulated board honours: it resets, and
    again, as a real board in a crash loop does), for `rig check-app --bisect`.
    """
    spec = _user_app(platform, needs_system, version, size, seed)
    if not panics_from:
        return spec
    marker = PANICS_FROM + str(panics_from).encode() + b";"
    return dataclasses.replace(spec, content=spec.content[: -len(marker)] + marker)


def _user_app(platform: str, needs_system: int, version: int, size: int, seed: int) -> ModuleSpec:
    plat = platforms.by_name(platform)
    part = 2 if plat.family == "stm32f2" else 1  # Gen 2 apps depend on the last system part (§6.2)
    slot = plat.user_slot(needs_system)
    return module_spec(
        plat.name,
        F.USER_PART,
        slot.index,
        version,
        (_dep(F.SYSTEM_PART, part, needs_system),),
        size=size,
        system_version=needs_system,
        seed=seed or needs_system * 7 + plat.id,
    )


def panics_from(data: bytes) -> int | None:
    """The system module version from which a `user_app(panics_from=...)` hard-faults, or None."""
    found = re.search(re.escape(PANICS_FROM) + rb"(\d+);", data)
    return int(found.group(1)) if found else None


def write_release(directory: Path, platform: str, version: str, with_user_app: bool = True) -> list[Path]:
    """Write a synthetic release into `directory`; returns the files."""
    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for name, data in release_files(platform, version, with_user_app).items():
        path = directory / name
        path.write_bytes(data)
        out.append(path)
    return out
