"""`particle update` of a given particle-cli version, as data (particle-protocols §7.1–§7.3).

Which Device OS each CLI version installs and how: 1.x–3.0 flash their bundled release with
dfu-util on a board already in DFU mode (Electron bootloader only from 2.10); 3.6 flashes the
bootloader by control request and the rest with dfu-util; 3.16 and later download the requested
LTS release and flash it natively (control requests + DFU, as the rig's `dfu` method). None of
them installs NCP firmware.
"""

from __future__ import annotations

from rig import platforms
from rig.firmware import versions
from rig.firmware.format import ModuleFunction as F
from rig.firmware.release import Release
from rig.methods import Via
from rig.plan.model import InstalledModule, PlanRefused, Step, Target
from rig.plan.steps import asset_number, dfu_plan, restore_plan

# CLI version -> bundled Device OS per platform ("*" = every platform the CLI supports; §7.1)
BUNDLED: dict[str, dict[str, str]] = {
    "1.16.0": {"photon": "0.5.2", "p1": "0.5.2", "electron": "0.5.2"},
    "2.3.0": {"*": "1.5.0", "asom": "1.4.4", "xsom": "1.4.4"},
    "2.6.0": {"*": "1.5.2", "asom": "1.4.4", "xsom": "1.4.4"},
    "2.10.0": {"*": "2.0.1", "xenon": "1.5.2", "asom": "1.4.4", "xsom": "1.4.4"},
    "2.16.0": {"*": "2.2.0", "xenon": "1.5.2", "asom": "1.4.4", "xsom": "1.4.4"},
    "3.0.0": {"*": "2.2.0", "xenon": "1.5.2", "asom": "1.4.4", "xsom": "1.4.4"},
    "3.6.0": {"photon": "2.3.1", "p1": "2.3.1", "electron": "2.3.1", "*": "4.0.1"},
}
NATIVE_FROM = (3, 16, 0)  # 3.16+: download from the cloud, flash with particle-usb
LTS_MAJORS = {2, 4, 6}
NO_TRACKER_BEFORE = (2, 10, 0)


def _tuple(version: str) -> tuple[int, int, int]:
    parts = versions.normalize(version).split("-")[0].split(".")
    return int(parts[0]), int(parts[1]), int(parts[2])


def bundled_version(cli: str, plat: platforms.Platform) -> str | None:
    """The Device OS a bundled-binaries CLI installs on a platform, if it supports it."""
    table = BUNDLED.get(cli)
    if table is None:
        return None
    if plat.name in table:
        return table[plat.name]
    if "*" in table and not (plat.name == "tracker" and _tuple(cli) < NO_TRACKER_BEFORE):
        return table["*"]
    return None


def plan_update(
    method: str, plat: platforms.Platform, release: Release, installed: list[InstalledModule], device_mode: str
) -> tuple[list[Step], list[tuple[str, str]]]:
    """Steps of `particle update` of CLI `method.split('@')[1]` towards `release`."""
    cli = method.partition("@")[2]
    if not cli:
        raise PlanRefused("Name the CLI version: particle-update@3.6.0, for example.")
    cli = versions.normalize(cli)
    native = _tuple(cli) >= NATIVE_FROM
    if native:
        if _tuple(release.version)[0] not in LTS_MAJORS:
            raise PlanRefused(f"particle update installs LTS releases only; {release.version} is a feature release.")
    else:
        bundled = bundled_version(cli, plat)
        if bundled is None:
            known = ", ".join(sorted(BUNDLED))
            raise PlanRefused(
                f"particle-cli {cli} cannot update a {plat.display_name} (known CLI versions with "
                f"bundled Device OS: {known}; 3.16.0 and later download releases)."
            )
        if bundled != release.version:
            raise PlanRefused(f"particle update of CLI {cli} installs Device OS {bundled}, not {release.version}.")
    skipped = [
        (s.name, "particle update never installs NCP firmware")
        for s in release.modules(include_user=False)
        if s.module.function == F.NCP_FIRMWARE
    ]
    targets = [
        Target(s.name, s.module) for s in release.modules(include_user=False) if s.module.function != F.NCP_FIRMWARE
    ]
    if plat.bootloader_embedded and _tuple(cli) < (2, 10, 0):
        skipped += [
            (t.name, f"CLI {cli} does not flash the Electron bootloader")
            for t in targets
            if t.image.function == F.BOOTLOADER
        ]
        targets = [t for t in targets if t.image.function != F.BOOTLOADER]
    if native:
        return dfu_plan(plat, targets, device_mode), skipped
    if _tuple(cli) >= (3, 6, 0):
        order = sorted(targets, key=lambda t: (t.image.function != F.BOOTLOADER, asset_number(plat, t)))
        return dfu_plan(plat, order, device_mode, dfu_via=Via.DFU_UTIL), skipped
    return restore_plan(plat, targets, release, Via.DFU_UTIL), skipped
