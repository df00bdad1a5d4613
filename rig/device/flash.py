"""flash(): one module file over one path, checked first, then the board seen running again.

The paths themselves are in rig/device/paths (one module each). `flash` is what `rig flash` runs:
it parses the file and refuses what the board cannot take before anything is written.
`send_module` is what the runner uses for a step the planner already checked and ordered.
Both return what was done and how long it took (wall, and on the rig's clock, which in the
simulated lab is the modelled hardware time).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from rig.board_mode import Mode
from rig.device.board import RUNNING, Device
from rig.device.modes import REBOOT_TIMEOUT, wait_running
from rig.device.paths import PATHS, FlashRefused, ModuleFile
from rig.device.story import timed
from rig.firmware import versions
from rig.firmware.format import ModuleFunction as F
from rig.firmware.module import Module
from rig.firmware.parse import parse_modules
from rig.methods import RAW, Via, via_or_none
from rig.transport.errors import TimeoutError_, TransportError

MAX_COMBINED = 2  # modules one validated update can carry (§1.7, MAX_COMBINED_MODULE_COUNT)
# compressed and combined modules: Device OS takes them from 2.0.0-alpha.1 on (§1.7), the first
# system module version of the 2.0.0 line (2000; 2.0.0 itself is 2008, rig/firmware/versions.py)
FLAGS_SINCE = 2000
# (module flashed, dependency) pairs checked before writing. A system part's dependency on another
# system part is not: a Gen 2 release's parts need each other, so flashing them one by one always
# passes through a state where one is unmet (the board waits in safe mode for the next part).
CHECKED_DEPENDENCIES = {
    (F.USER_PART, F.SYSTEM_PART),
    (F.SYSTEM_PART, F.BOOTLOADER),
    (F.SYSTEM_PART, F.RADIO_STACK),
}


@dataclass
class FlashResult:
    """What one flash did."""

    via: str
    module: str
    bytes_sent: int
    wall_seconds: float
    clock_seconds: float
    final_mode: Mode


def _check(dev: Device, data: bytes, name: str, via: Via) -> list[Module]:
    modules = parse_modules(data, name)
    for m in modules:
        if m.platform_id != dev.platform.id:
            raise FlashRefused(
                f"{name} is built for the {m.platform.display_name}; {dev.name} is a {dev.platform.display_name}."
            )
    compressed = any(m.inner is not None for m in modules)
    if compressed and via in RAW:
        raise FlashRefused(f"{name} is compressed; only the board can inflate it: use the usb, serial or ota path.")
    if len(modules) > MAX_COMBINED and via not in RAW:
        raise FlashRefused(
            f"{name} combines {len(modules)} modules; a board takes at most {MAX_COMBINED} in one update: split it."
        )
    return modules


def _installed(dev: Device) -> dict[tuple[int, int], int] | None:
    """Module versions by (function, index), when the board's firmware runs (else None: not checked)."""
    try:
        if not dev.in_mode(RUNNING):
            return None
        return {(int(m.function), m.index): m.version for m in dev.modules()}
    except TransportError:
        return None


def _unmet(dev: Device, name: str, function: int, index: int, needed: int, has: int) -> FlashRefused:
    """The sentence for a dependency the board does not meet."""
    if function == F.SYSTEM_PART:
        need = versions.device_os_or_none(needed) or f"system part {index} v{needed}"
        runs = versions.device_os_or_none(has) or f"system part {index} v{has}"
        return FlashRefused(
            f"{name} needs Device OS {need} or later; {dev.name} runs {runs}: upgrade Device OS first "
            "(rig plan shows how), or pass --force."
        )
    kind = F(function).label
    return FlashRefused(
        f"{name} needs {kind} v{needed} or later; {dev.name} has {kind} v{has}: flash the {kind} first "
        "(rig plan shows the order), or pass --force."
    )


def _check_board(dev: Device, modules: list[Module], name: str, via: Via) -> None:
    """Refuse what the board cannot take, before anything is written: packed modules below Device OS
    2.0.0, a user app whose system parts, or a system part whose bootloader or SoftDevice, the board
    does not have; a dependency the board does not report is not checked.
    """
    have = _installed(dev)
    if have is None:
        return
    part1 = have.get((int(F.SYSTEM_PART), 1), 0)
    running = versions.device_os_or_none(part1) or f"module version {part1}"
    packed = len(modules) > 1 or any(m.inner is not None for m in modules)
    if packed and via not in RAW and part1 < FLAGS_SINCE:
        raise FlashRefused(
            f"{name} is compressed or combined, which needs Device OS 2.0.0 or later; {dev.name} runs "
            f"{running}: flash the uncompressed modules one by one."
        )
    after = {**have, **{(int(m.image.function), m.image.index): m.image.version for m in modules}}
    for m in modules:
        for d in m.image.real_dependencies:
            key = (int(d.function), d.index)
            if (m.image.function, d.function) not in CHECKED_DEPENDENCIES or key not in have or after[key] >= d.version:
                continue
            raise _unmet(dev, name, *key, d.version, have[key])


def flash(dev: Device, data: bytes, via: str, name: str = "firmware.bin", force: bool = False) -> FlashResult:
    """Flash one module file over one path and wait until the board runs again; a user app the
    board's Device OS cannot run is refused unless `force`.
    """
    path = via_or_none(via)
    if path is None:
        raise FlashRefused(f"Unknown flashing path '{via}': use one of {', '.join(PATHS)}.")
    modules = _check(dev, data, name, path)
    if not force:
        _check_board(dev, modules, name, path)
    return _send(dev, path, ModuleFile(name, data, tuple(modules)))


def send_module(dev: Device, via: Via, name: str, module: Module) -> FlashResult:
    """Send one parsed module over a path, as the plan ordered it (no single-file checks), and
    wait until the board runs again.
    """
    return _send(dev, via, ModuleFile(name, module.data, (module,)))


def _send(dev: Device, via: Via, file: ModuleFile) -> FlashResult:
    wall0, clock0 = time.perf_counter(), dev.clock.now()
    with timed(dev, f"{via} send of {file.name} ({file.modules[0].image.describe()}, {len(file.data)} bytes)"):
        PATHS[via].send(dev, file)
    sent = dev.clock.now()
    try:
        final = wait_running(dev, REBOOT_TIMEOUT)
    except TimeoutError_:
        dev.note(f"not running again {REBOOT_TIMEOUT:g} s after the write")
        raise TimeoutError_(f"{dev.name} did not come back after flashing within {REBOOT_TIMEOUT:g} s.") from None
    dev.note(f"running again in {final} mode {dev.clock.now() - sent:.2f} s after the write")
    wall, clock = time.perf_counter() - wall0, dev.clock.now() - clock0
    return FlashResult(via, file.modules[0].image.describe(), len(file.data), wall, clock, final)
