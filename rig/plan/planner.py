"""plan(installed, target release, method, user binary, device mode) -> ordered steps. Pure: no I/O.

Orders follow the real tools and Device OS's rules (particle-protocols §6.1, §6.5, §7.1–§7.4):
dfu as particle-cli 3.x (normal-mode steps then DFU steps, or the reverse when the board starts in
DFU); serial and usb validated on the board, so the bootloader and SoftDevice go first and system
parts forward for upgrades, the user app first and system parts in reverse for downgrades;
restore and dfu-util as Device Restore / particle-cli 2.x (bootloader through the OTA region and
flag); ota never downgrades; swd writes one HEX image.
"""

from __future__ import annotations

from rig import platforms
from rig.board_mode import Mode
from rig.firmware import versions
from rig.firmware.format import ModuleFunction as F
from rig.firmware.release import Release
from rig.methods import METHODS, PARTICLE_UPDATE, RESTORE, Via
from rig.plan import cli_update
from rig.plan.estimate import estimate
from rig.plan.model import InstalledModule, Plan, PlanRefused, Step, StepKind, Target
from rig.plan.steps import DOS_4_0_0, asset_number, dfu_plan, restore_plan

DOS_6_0_0 = 6000


def _targets(release: Release, user: Target | None) -> list[Target]:
    out = [Target(s.name, s.module) for s in release.modules(include_user=user is None)]
    if user is not None:
        out.append(user)
    return out


def check_method(method: str) -> str:
    """The method's base name (`particle-update@3.6.0` -> `particle-update`); an unknown one is refused."""
    base = method.split("@", maxsplit=1)[0]
    if base not in METHODS and base != PARTICLE_UPDATE:
        raise PlanRefused(f"Unknown method '{method}': use one of {', '.join(METHODS)} or particle-update@VERSION.")
    return base


def _check(plat: platforms.Platform, method: str, release: Release, targets: list[Target]) -> None:
    base = check_method(method)
    if base in METHODS and base not in plat.methods:
        raise PlanRefused(f"The {plat.display_name} has no {base} path in the rig.")
    release.require_complete()
    for t in targets:
        if t.module.platform_id != plat.id:
            raise PlanRefused(
                f"{t.name} is built for the {t.module.platform.display_name}, not the {plat.display_name}."
            )
        if not (t.module.crc_ok and t.image.crc_ok):
            raise PlanRefused(f"{t.name} has a wrong CRC-32: download it again.")


def _installed_version(installed: list[InstalledModule], key: tuple[int, int]) -> InstalledModule | None:
    return next((m for m in installed if (m.function, m.index) == key), None)


def _skip(installed: list[InstalledModule], targets: list[Target], plan: Plan) -> list[Target]:
    """Drop modules already installed (function, index, version and, when known, hash) and NCP downgrades."""
    keep = []
    for t in targets:
        have = _installed_version(installed, t.key())
        if have is not None and have.version == t.image.version:
            same_hash = have.sha256 is None or have.sha256 == t.image.sha256.hex()
            if same_hash and (t.image.function != F.USER_PART or have.sha256 is not None):
                plan.skipped.append((t.name, f"already installed ({t.image.describe()})"))
                continue
        if t.image.function == F.NCP_FIRMWARE and have is not None and have.version > t.image.version:
            plan.skipped.append((t.name, "NCP firmware is never downgraded (§6.9)"))
            continue
        keep.append(t)
    return keep


def _is_downgrade(installed: list[InstalledModule], release: Release) -> bool:
    part1 = _installed_version(installed, (int(F.SYSTEM_PART), 1))
    return part1 is not None and part1.version > release.system_version


def _by_kind(plat: platforms.Platform, targets: list[Target], downgrade: bool) -> list[Target]:
    """Validated paths: bootloader, SoftDevice, NCP, system parts forward, user app — reversed parts
    and the user app first for downgrades (§6.5).
    """
    rank = {F.BOOTLOADER: 0, F.RADIO_STACK: 1, F.NCP_FIRMWARE: 2, F.SYSTEM_PART: 3, F.USER_PART: 4}
    parts = sorted(
        (t for t in targets if t.image.function == F.SYSTEM_PART),
        key=lambda t: asset_number(plat, t),
        reverse=downgrade,
    )
    others = sorted((t for t in targets if t.image.function != F.SYSTEM_PART), key=lambda t: rank[t.image.function])
    if not downgrade:
        return (
            [t for t in others if rank[t.image.function] < 3]
            + parts
            + [t for t in others if t.image.function == F.USER_PART]
        )
    users = [t for t in others if t.image.function == F.USER_PART]
    return users + parts + [t for t in others if t.image.function != F.USER_PART][::-1]


def _setup_done(plat: platforms.Platform, release: Release) -> list[Step]:
    if plat.setup_done_offset is not None and release.system_version < DOS_4_0_0:
        return [Step(StepKind.SETUP_DONE)]
    return []


def _validated(plat: platforms.Platform, targets: list[Target], downgrade: bool, via: Via) -> list[Step]:
    mode = Mode.LISTENING if via == Via.SERIAL else Mode.NORMAL
    steps: list[Step] = []
    for t in _by_kind(plat, targets, downgrade):
        online = [Step(StepKind.WAIT_CLOUD)] if via == Via.OTA else []  # OTA needs the board connected first
        steps += [Step.enter(mode), *online, Step.flash(via, t), Step(StepKind.WAIT_REBOOT)]
    return steps


def installed_release(release: Release) -> list[InstalledModule]:
    """What a board running `release` reports as installed (every module of it, with its hash)."""
    return [
        InstalledModule(int(s.module.function), s.module.index, s.module.version, s.module.sha256.hex())
        for s in release.modules()
    ]


def plan(
    installed: list[InstalledModule],
    release: Release,
    method: str,
    user: Target | None = None,
    device_mode: str = "normal",
    order: str | None = None,
) -> Plan:
    """The steps that bring a board from `installed` to `release` over `method`.

    `order` ("forward"/"reverse") overrides the system-part order of validated paths, for tests
    that show why the right order matters.
    """
    plat = release.platform
    targets = _targets(release, user)
    _check(plat, method, release, targets)
    result = Plan(method, plat.name, release.version)
    downgrade = _is_downgrade(installed, release)
    if order is not None:
        downgrade = order == "reverse"
    base = method.split("@", maxsplit=1)[0]
    if base == PARTICLE_UPDATE:
        steps, skipped = cli_update.plan_update(method, plat, release, installed, device_mode)
        result.steps, result.skipped = steps, skipped
        result.modelled_seconds = estimate(plat, result.steps)
        return result
    ncp = [t for t in targets if t.image.function == F.NCP_FIRMWARE]
    if ncp and base in (Via.DFU_UTIL, RESTORE, Via.SWD):
        result.skipped += [(t.name, "NCP firmware cannot be written over DFU or SWD (§6.9)") for t in ncp]
        targets = [t for t in targets if t not in ncp]
    if base == Via.OTA:
        _refuse_ota_downgrade(installed, targets, release)
    if base == Via.SERIAL and (_sys(installed) >= DOS_6_0_0 or release.system_version >= DOS_6_0_0):
        raise PlanRefused("Serial (YMODEM) flashing was removed in Device OS 6.0.0: use dfu, usb or restore.")
    todo = _skip(installed, targets, result)
    if base in (Via.SERIAL, Via.USB, Via.OTA):
        steps = _validated(plat, todo, downgrade, Via(base))
    elif base == Via.DFU:
        steps = dfu_plan(plat, todo, device_mode)
    elif base == Via.PARTICLE_CLI:
        boot = [t for t in todo if t.image.function == F.BOOTLOADER]
        rest = [t for t in todo if t not in boot]
        steps = dfu_plan(plat, boot, device_mode) + [
            s
            for t in rest
            for s in (Step.enter(Mode.DFU), Step.flash(Via.PARTICLE_CLI, t, Mode.DFU), Step(StepKind.WAIT_REBOOT))
        ]
    elif base in (RESTORE, Via.DFU_UTIL):
        steps = restore_plan(plat, todo, release, Via.DFU if base == RESTORE else Via.DFU_UTIL) if todo else []
    elif base == Via.SWD:
        steps = [Step.flash(Via.SWD, t, None) for t in todo]
        steps += [Step(StepKind.WAIT_REBOOT)] if steps else []
    else:
        raise PlanRefused(f"The planner has no plan for the {base} path yet: add its branch in rig/plan/planner.py.")
    if todo and base not in (RESTORE, Via.DFU_UTIL):
        steps += _setup_done(plat, release)
    result.steps = steps
    result.modelled_seconds = estimate(plat, steps)
    return result


def _sys(installed: list[InstalledModule]) -> int:
    part1 = _installed_version(installed, (int(F.SYSTEM_PART), 1))
    return part1.version if part1 else 0


def refused_before_any_write(method: str, from_version: str, to_version: str) -> bool:
    """True for a path the planner refuses whatever the board holds, so the board stays where it is:
    OTA to an older Device OS (the rule `_refuse_ota_downgrade` applies to the modules).
    """
    return method == Via.OTA and versions.semver_key(to_version) < versions.semver_key(from_version)


def _refuse_ota_downgrade(installed: list[InstalledModule], targets: list[Target], release: Release) -> None:
    for t in targets:
        have = _installed_version(installed, t.key())
        if t.image.function != F.USER_PART and have is not None and have.version > t.image.version:
            raise PlanRefused(
                f"OTA never downgrades Device OS (§6.6): {t.image.describe()} is older than the "
                f"installed v{have.version}; use dfu, serial, usb or restore to reach "
                f"{release.version}."
            )
