"""Step builders shared by the planner and `particle update` plans (DFU writes, restore order)."""

from __future__ import annotations

import re

from rig import platforms
from rig.board_mode import Mode
from rig.firmware.dfu_writes import DfuWriteRefused, module_writes, setup_done_write
from rig.firmware.format import ModuleFunction as F
from rig.firmware.release import Release
from rig.methods import Via
from rig.plan.model import PlanRefused, Step, StepKind, Target

DOS_4_0_0 = 4003


def asset_number(plat: platforms.Platform, t: Target) -> int:
    """The N of a system part's release file name (`system-partN`): Electron idx 3 is part 1 (§1.10)."""
    for slot in plat.slots_for(F.SYSTEM_PART, t.image.index):
        m = re.search(r"(\d+)$", slot.asset)
        if m:
            return int(m.group(1))
    return t.image.index


def dfu_write(plat: platforms.Platform, t: Target, via: Via = Via.DFU) -> list[Step]:
    """DFU steps for one module (rig.firmware.dfu_writes: OTA region + flag, invalidation)."""
    try:
        writes = module_writes(plat, t.module)
    except DfuWriteRefused as exc:
        raise PlanRefused(str(exc)) from None
    return [Step.dfu(via, w, t if w.of_module else None) for w in writes]


def dfu_plan(
    plat: platforms.Platform,
    targets: list[Target],
    device_mode: str,
    dfu_via: Via = Via.DFU,
    normal_via: Via = Via.USB,
) -> list[Step]:
    """particle-cli 3.x createFlashSteps (§7.4): bootloader/NCP by control requests, the rest in DFU."""
    normal = [t for t in targets if t.image.function in (F.BOOTLOADER, F.NCP_FIRMWARE)]
    rank = {F.RADIO_STACK: 0, F.SYSTEM_PART: 1, F.USER_PART: 2}
    dfu = sorted(
        (t for t in targets if t.image.function not in (F.BOOTLOADER, F.NCP_FIRMWARE)),
        key=lambda t: (rank.get(t.image.function, 3), asset_number(plat, t)),
    )
    normal_steps = [
        s for t in normal for s in (Step.enter(Mode.NORMAL), Step.flash(normal_via, t), Step(StepKind.WAIT_REBOOT))
    ]
    dfu_steps = (
        (
            [Step.enter(Mode.DFU)]
            + [s for t in dfu for s in dfu_write(plat, t, dfu_via)]
            + [Step(StepKind.RESET, label="DFU leave"), Step(StepKind.WAIT_REBOOT)]
        )
        if dfu
        else []
    )
    return dfu_steps + normal_steps if device_mode == Mode.DFU else normal_steps + dfu_steps


def restore_plan(plat: platforms.Platform, targets: list[Target], release: Release, via: Via) -> list[Step]:
    """Device Restore / particle-cli 2.x order (§7.1): Photon/P1 bootloader first, others last."""
    boot = [t for t in targets if t.image.function == F.BOOTLOADER]
    parts = sorted((t for t in targets if t.image.function == F.SYSTEM_PART), key=lambda t: t.image.index)
    radio = [t for t in targets if t.image.function == F.RADIO_STACK]
    users = [t for t in targets if t.image.function == F.USER_PART]
    order = boot + parts + radio if plat.family == "stm32f2" and not plat.bootloader_embedded else parts + radio + boot
    steps = [Step.enter(Mode.DFU)] + [s for t in order + users for s in dfu_write(plat, t, via)]
    setup_done = setup_done_write(plat)
    if setup_done is not None and release.system_version < DOS_4_0_0:
        steps.append(Step.dfu(via, setup_done))
    return [*steps, Step(StepKind.RESET, label="DFU leave"), Step(StepKind.WAIT_REBOOT)]
