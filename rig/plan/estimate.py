"""Modelled hardware time of a plan, from the same cited figures the simulator uses (rig.timing)."""

from __future__ import annotations

from rig import platforms, timing
from rig.board_mode import Mode
from rig.dfu_map import parse_memory_map
from rig.methods import Via
from rig.plan.model import Step, StepKind

OTA_BYTES_PER_SECOND = 20_000.0  # as the simulated cloud (an assumption: Wi-Fi / LTE-M OTA)


def _flash_timing(plat: platforms.Platform, alt: int) -> timing.FlashTiming:
    return timing.FLASH["external" if alt == 2 else plat.family]


def erase_and_program(plat: platforms.Platform, alt: int, address: int, size: int) -> float:
    """Seconds to erase the sectors a write touches (per the alt's memory map) and program it."""
    t = _flash_timing(plat, alt)
    try:
        _name, segments = parse_memory_map(plat.dfu_alt(alt).memory_map)
    except platforms.UnknownPlatformError:
        return size * t.write_seconds_per_byte
    seconds = size * t.write_seconds_per_byte
    for seg in segments:
        if not seg.erasable:
            continue
        for i in range(seg.count):
            start = seg.start + i * seg.sector_size
            if start < address + size and address < start + seg.sector_size:
                seconds += t.erase_seconds.get(seg.sector_size, 0.1)
    return seconds


def _validated_write(plat: platforms.Platform, step: Step) -> float:
    """Transfer into the OTA region, validation, reset, install at the target on the next boot."""
    size = step.size
    if step.via == Via.USB:
        transfer = (size // 1024 + 1) * 3 * timing.usb_control(1024)
    elif step.via == Via.SERIAL:
        transfer = size / timing.SERIAL_BYTES_PER_SECOND
    else:
        transfer = size / OTA_BYTES_PER_SECOND
    region = plat.ota_region
    ota_alt = region.dfu_alt if region else 0
    into_ota = erase_and_program(plat, ota_alt, region.dfu_address if region else 0, size)
    target = step.target.image if step.target else None
    install = erase_and_program(plat, 0, target.start, size) if target is not None else 0.0
    return transfer + into_ota + timing.RESET_AFTER_REPLY + install


def step_seconds(plat: platforms.Platform, step: Step) -> float:
    """Modelled seconds of one step."""
    if step.kind == StepKind.FLASH:
        if step.mode == Mode.NORMAL:
            return _validated_write(plat, step)
        transfer = 0.0 if step.via == Via.SWD else (step.size // 4096 + 1) * timing.usb_control(4096)
        return transfer + erase_and_program(plat, step.alt, step.address or 0, step.size)
    if step.kind == StepKind.ENTER_MODE:
        return timing.RESET_AFTER_REPLY + timing.BOOT_TO_SYSTEM
    if step.kind in (StepKind.RESET, StepKind.WAIT_REBOOT):
        return timing.BOOT_TO_SYSTEM
    if step.kind == StepKind.WAIT_CLOUD:
        return 3.0
    return 0.1


def estimate(plat: platforms.Platform, steps: list[Step]) -> float:
    """Modelled seconds of a whole plan."""
    return sum(step_seconds(plat, s) for s in steps)
