"""Step builders shared by the planner and `particle update` plans (DFU writes, restore order)."""

from __future__ import annotations

import re

from rig import platforms
from rig.firmware.format import ModuleFunction as F
from rig.firmware.release import Release
from rig.plan.model import PlanRefused, Step, Target

DOS_3_1_0 = platforms.GEN3_USER_PART_MOVE
DOS_4_0_0 = 4003
FORMER_USER_PART = 0xD4000


def asset_number(plat: platforms.Platform, t: Target) -> int:
    """The N of a system part's release file name (`system-partN`): Electron idx 3 is part 1 (§1.10)."""
    for slot in plat.slots_for(F.SYSTEM_PART, t.image.index):
        m = re.search(r"(\d+)$", slot.asset)
        if m:
            return int(m.group(1))
    return t.image.index


def dfu_write(plat: platforms.Platform, t: Target, via: str = "dfu") -> list[Step]:
    """DFU steps for one module: the OTA-region trick for bootloaders (§5.6), invalidation (§7.4)."""
    image = t.image
    if image.function == F.BOOTLOADER:
        region = plat.ota_region
        if region is None or plat.dct_alt is None or plat.ota_flag_offset is None:
            raise PlanRefused(f"The {plat.display_name}'s bootloader cannot be written in DFU mode.")
        return [
            Step("flash", "dfu", via, t, region.dfu_address, region.dfu_alt, label="bootloader -> OTA region"),
            Step("flash", "dfu", via, None, plat.ota_flag_offset, plat.dct_alt, b"\xa5", "ota-flag"),
        ]
    steps = []
    if image.function == F.USER_PART and any(
        s.start == FORMER_USER_PART and s.until for s in plat.slots_for(F.USER_PART, 1)
    ):
        needs = max((d.version for d in image.real_dependencies if d.function == F.SYSTEM_PART), default=0)
        if needs >= DOS_3_1_0:
            steps.append(
                Step("flash", "dfu", via, None, FORMER_USER_PART, 0, b"\xff" * 4096, "invalidate-128k-user-part")
            )
    steps.append(Step("flash", "dfu", via, t, image.start, 0))
    return steps


def dfu_plan(
    plat: platforms.Platform, targets: list[Target], device_mode: str, dfu_via: str = "dfu", normal_via: str = "usb"
) -> list[Step]:
    """particle-cli 3.x createFlashSteps (§7.4): bootloader/NCP by control requests, the rest in DFU."""
    normal = [t for t in targets if t.image.function in (F.BOOTLOADER, F.NCP_FIRMWARE)]
    rank = {F.RADIO_STACK: 0, F.SYSTEM_PART: 1, F.USER_PART: 2}
    dfu = sorted(
        (t for t in targets if t.image.function not in (F.BOOTLOADER, F.NCP_FIRMWARE)),
        key=lambda t: (rank.get(t.image.function, 3), asset_number(plat, t)),
    )
    normal_steps = [
        s
        for t in normal
        for s in (Step("enter-mode", "normal"), Step("flash", "normal", normal_via, t), Step("wait-reboot"))
    ]
    dfu_steps = (
        (
            [Step("enter-mode", "dfu")]
            + [s for t in dfu for s in dfu_write(plat, t, dfu_via)]
            + [Step("reset", label="DFU leave"), Step("wait-reboot")]
        )
        if dfu
        else []
    )
    return dfu_steps + normal_steps if device_mode == "dfu" else normal_steps + dfu_steps


def restore_plan(plat: platforms.Platform, targets: list[Target], release: Release, via: str) -> list[Step]:
    """Device Restore / particle-cli 2.x order (§7.1): Photon/P1 bootloader first, others last."""
    boot = [t for t in targets if t.image.function == F.BOOTLOADER]
    parts = sorted((t for t in targets if t.image.function == F.SYSTEM_PART), key=lambda t: t.image.index)
    radio = [t for t in targets if t.image.function == F.RADIO_STACK]
    users = [t for t in targets if t.image.function == F.USER_PART]
    order = boot + parts + radio if plat.family == "stm32f2" and not plat.bootloader_embedded else parts + radio + boot
    steps = [Step("enter-mode", "dfu")] + [s for t in order + users for s in dfu_write(plat, t, via)]
    if plat.setup_done_offset is not None and plat.dct_alt is not None and release.system_version < DOS_4_0_0:
        steps.append(Step("flash", "dfu", via, None, plat.setup_done_offset, plat.dct_alt, b"\x01", "setup-done byte"))
    return [*steps, Step("reset", label="DFU leave"), Step("wait-reboot")]
