"""flash(module, via=...): one module over one path, as the real tools do it.

dfu: raw DfuSe writes at the module's address — SoftDevice without its Particle prefix, the
  bootloader through the OTA region + OTA flag (§5.6), the 128 KB user-part invalidation before
  a ≥ 3.1.0 Gen 3 app (§7.4); the next boot decides.
usb: control requests 250/253/251 (§4.4), validated by the board.
serial: `f` + YMODEM in listening mode (§3.3–§3.4); gone in Device OS 6.
ota: through the cloud API (§6.6: the cloud never downgrades).
Each returns what it did and how long it took (wall, and on the rig's clock, which in the
simulated lab is the modelled hardware time).
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from rig.device.board import Device, Mode
from rig.device.modes import enter
from rig.firmware import versions
from rig.firmware.format import PREFIX_SIZE, ModuleFlag
from rig.firmware.format import ModuleFunction as F
from rig.firmware.hexfile import build_image, write_image
from rig.firmware.module import Module
from rig.firmware.parse import parse_modules
from rig.platforms import GEN3_USER_PART_MOVE, Platform
from rig.proto import control as pb
from rig.transport.console import Console, open_port
from rig.transport.dfuse import DfuSe
from rig.transport.errors import TimeoutError_, TransportError
from rig.transport.hub import wait_for
from rig.transport.results import DeviceResultError
from rig.transport.tools import DfuUtil, ParticleCli, PyOcd
from rig.transport.ymodem import YmodemSender

PATHS = ("dfu", "usb", "serial", "ota", "dfu-util", "particle-cli", "swd")
PYOCD_TARGETS = {"nrf52840": "nrf52840", "stm32f2": "stm32f205rg"}
CLI_SOURCE_ENV = "RIG_PARTICLE_CLI_SOURCE"  # a particle-cli source folder to run with `npm start`
PACK_ENV = "RIG_PYOCD_PACK"  # the Keil STM32F2xx_DFP pack pyocd needs for Gen 2 boards
REBOOT_TIMEOUT = 120.0
FORMER_USER_PART = 0xD4000  # DC `formerUserPart` (§2.3)


class FlashRefused(TransportError):
    """The module cannot go over this path to this board; nothing was written."""


@dataclass
class FlashResult:
    """What one flash did."""

    via: str
    module: str
    bytes_sent: int
    wall_seconds: float
    clock_seconds: float
    final_mode: Mode


RAW_PATHS = ("dfu", "dfu-util", "particle-cli", "swd")  # write bytes where they go; nothing inflates
MAX_COMBINED = 2  # modules one validated update can carry (§1.7, MAX_COMBINED_MODULE_COUNT)
# compressed and combined modules: Device OS takes them from 2.0.0-alpha.1 on (§1.7), the first
# system module version of the 2.0.0 line (2000; 2.0.0 itself is 2008, rig/firmware/versions.py)
FLAGS_SINCE = 2000
# a serial (YMODEM) image the board rejected resets it at once from 2.0.0-alpha.1 on; before, when
# listening mode ends (§3.3)
RESETS_AFTER_REJECTED_IMAGE = 2000
# (module flashed, dependency) pairs checked before writing. A system part's dependency on another
# system part is not: a Gen 2 release's parts need each other, so flashing them one by one always
# passes through a state where one is unmet (the board waits in safe mode for the next part).
CHECKED_DEPENDENCIES = {
    (F.USER_PART, F.SYSTEM_PART),
    (F.SYSTEM_PART, F.BOOTLOADER),
    (F.SYSTEM_PART, F.RADIO_STACK),
}


def _check(dev: Device, data: bytes, name: str, via: str) -> list[Module]:
    modules = parse_modules(data, name)
    for m in modules:
        if m.platform_id != dev.platform.id:
            raise FlashRefused(
                f"{name} is built for the {m.platform.display_name}; {dev.name} is a {dev.platform.display_name}."
            )
    compressed = any(m.inner is not None for m in modules)
    if compressed and via in RAW_PATHS:
        raise FlashRefused(f"{name} is compressed; only the board can inflate it: use the usb, serial or ota path.")
    if len(modules) > MAX_COMBINED and via not in RAW_PATHS:
        raise FlashRefused(
            f"{name} combines {len(modules)} modules; a board takes at most {MAX_COMBINED} in one update: split it."
        )
    return modules


def _installed(dev: Device) -> dict[tuple[int, int], int] | None:
    """Module versions by (function, index), when the board's firmware runs (else None: not checked)."""
    try:
        if dev.mode() not in (Mode.NORMAL, Mode.SAFE, Mode.LISTENING):
            return None
        return {(int(m.function), m.index): m.version for m in dev.modules_usb()}
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


def _check_board(dev: Device, modules: list[Module], name: str, via: str) -> None:
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
    if packed and via not in RAW_PATHS and part1 < FLAGS_SINCE:
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
    if via not in PATHS:
        raise FlashRefused(f"Unknown flashing path '{via}': use one of {', '.join(PATHS)}.")
    modules = _check(dev, data, name, via)
    if not force:
        _check_board(dev, modules, name, via)
    wall0, clock0 = time.perf_counter(), dev.clock.now()
    dev.note(f"flash {name} via {via}")
    paths = {
        "dfu": _dfu,
        "usb": _usb,
        "serial": _serial,
        "ota": _ota,
        "dfu-util": _dfu_util,
        "particle-cli": _particle_cli,
        "swd": _swd,
    }
    paths[via](dev, modules, data, name)
    final = _wait_running(dev)
    return FlashResult(
        via, modules[0].image.describe(), len(data), time.perf_counter() - wall0, dev.clock.now() - clock0, final
    )


def _wait_running(dev: Device) -> Mode:
    modes: list[Mode] = []

    def running() -> bool:
        try:
            mode = dev.mode()
        except TransportError:
            return False
        modes.append(mode)
        return mode in (Mode.NORMAL, Mode.SAFE, Mode.LISTENING)

    if not wait_for(running, dev.clock, REBOOT_TIMEOUT, interval=0.5):
        raise TimeoutError_(f"{dev.name} did not come back after flashing within {REBOOT_TIMEOUT:g} s.")
    return modes[-1]


def dfu_writes(plat: Platform, module: Module) -> list[tuple[int, int, bytes]]:
    """(alt, address, bytes) DFU writes for one module on a platform (§5.6, §7.4)."""
    image = module.image
    if module.inner is not None:
        raise FlashRefused(f"{image.describe()} is compressed; only the board can inflate it (use usb or serial).")
    if image.function == F.NCP_FIRMWARE:
        raise FlashRefused("NCP firmware cannot be written over DFU; use the usb or serial path (§6.9).")
    if image.function == F.BOOTLOADER:
        region = plat.ota_region
        if region is None or plat.dct_alt is None or plat.ota_flag_offset is None:
            raise FlashRefused(f"The {plat.display_name}'s bootloader cannot be written in DFU mode by the rig.")
        return [(region.dfu_alt, region.dfu_address, module.data), (plat.dct_alt, plat.ota_flag_offset, b"\xa5")]
    writes = []
    if (
        image.function == F.USER_PART
        and plat.family == "nrf52840"
        and any(s.start == FORMER_USER_PART and s.until for s in plat.slots_for(F.USER_PART, 1))
    ):
        needs = max((d.version for d in image.real_dependencies if d.function == F.SYSTEM_PART), default=0)
        if needs >= GEN3_USER_PART_MOVE:
            writes.append((0, FORMER_USER_PART, b"\xff" * 4096))  # invalidate the 128 KB app (§7.4)
    data = image.data[PREFIX_SIZE:] if image.flags & ModuleFlag.DROP_MODULE_INFO else image.data
    writes.append((0, image.start, data))
    return writes


def _dfu(dev: Device, modules: list[Module], data: bytes, name: str) -> None:
    writes = [w for m in modules for w in dfu_writes(dev.platform, m)]
    if dev.mode() != Mode.DFU:
        enter(dev, Mode.DFU)
    dfu = DfuSe(dev.require_usb().device, dev.clock)
    for alt, address, chunk in writes:
        dfu.write(alt, address, chunk, erase=alt != dev.platform.dct_alt)
        dev.note(f"DFU alt {alt} 0x{address:x}: {len(chunk)} bytes")
    dfu.leave()
    wait_for(lambda: _left_dfu(dev), dev.clock, 10.0)


def _left_dfu(dev: Device) -> bool:
    board = dev.usb()
    return board is None or not board.dfu


def _usb(dev: Device, modules: list[Module], data: bytes, name: str) -> None:
    if dev.mode() not in (Mode.NORMAL, Mode.LISTENING, Mode.SAFE):
        enter(dev, Mode.NORMAL)
    ctl = dev.control(timeout=240)  # particle-cli allows 4 min for an update (§7.2)
    reply = ctl.call(pb.START_FIRMWARE_UPDATE, "StartFirmwareUpdateRequest", "StartFirmwareUpdateReply", size=len(data))
    chunk = reply.chunk_size or 1024
    for off in range(0, len(data), chunk):
        ctl.call(pb.FIRMWARE_UPDATE_DATA, "FirmwareUpdateDataRequest", None, data=data[off : off + chunk])
    reset = dev.reset_seen()
    ctl.call(pb.FINISH_FIRMWARE_UPDATE, "FinishFirmwareUpdateRequest", None, validate_only=False)
    dev.note(f"control-request update of {name} accepted; the board resets")
    wait_for(reset, dev.clock, 10.0)


def _serial(dev: Device, modules: list[Module], data: bytes, name: str) -> None:
    sysver = next((m.version for m in dev.modules_usb() if m.function == 4 and m.index == 1), 0)
    if sysver >= 6000:
        raise FlashRefused(
            f"{dev.name} runs Device OS 6 or later, which removed serial (YMODEM) flashing; use dfu or usb."
        )
    if dev.mode() != Mode.LISTENING:
        enter(dev, Mode.LISTENING)
    port = open_port(dev.port_url(), timeout=0.2)
    try:
        con = Console(port, dev.clock, dev.serial_log)
        con.command("f", until=b"(press 'a' to abort)\r\n", timeout=10)  # as particle-cli: 10 s (§3.4)
        reset = dev.reset_seen()
        try:
            report = YmodemSender(con.port, dev.clock).send(name, data, wait_for_c=False)
        except DeviceResultError:
            if sysver >= RESETS_AFTER_REJECTED_IMAGE:  # the board resets anyway (§3.3): let it come back
                dev.note(f"the board rejected {name} and resets")
                wait_for(reset, dev.clock, 10.0)
                _wait_running(dev)
            raise
    finally:
        port.close()
    dev.serial_log += report.tail
    dev.note(f"YMODEM transfer of {name} accepted; the board resets")
    wait_for(reset, dev.clock, 10.0)


def _ota(dev: Device, modules: list[Module], data: bytes, name: str) -> None:
    if dev.cloud is None:
        raise FlashRefused("No cloud is configured: set RIG_CLOUD_URL and RIG_CLOUD_TOKEN.")
    events = dev.cloud.events(dev.device_id)
    reset = dev.reset_seen()
    try:
        dev.cloud.flash(dev.device_id, data, name)
        outcome: list[str] = []

        def finished() -> bool:
            for ev in events.poll():
                if ev.name == "spark/flash/status" and ev.data.strip() in ("success", "failed"):
                    outcome.append(ev.data.strip())
            return bool(outcome)

        if not wait_for(finished, dev.clock, REBOOT_TIMEOUT, interval=1.0):
            raise TimeoutError_(f"The cloud did not report the end of the OTA update of {dev.name} in time.")
        if outcome[0] != "success":
            raise FlashRefused(f"The OTA update of {name} to {dev.name} failed on the board.")
        wait_for(reset, dev.clock, 10.0)
    finally:
        events.close()


def _dfu_util(dev: Device, modules: list[Module], data: bytes, name: str) -> None:
    """The same DFU writes through dfu-util, as particle-cli 2.x does (§5.5): one call per write,
    :leave on the last, -S with the device id.
    """
    writes = [w for m in modules for w in dfu_writes(dev.platform, m)]
    if dev.mode() != Mode.DFU:
        enter(dev, Mode.DFU)
    tool = DfuUtil()
    vid_pid = f"{dev.platform.usb_vid:04x}:{dev.platform.dfu_pid:04x}"
    with tempfile.TemporaryDirectory(prefix="rig-dfu-") as tmp:
        for i, (alt, address, chunk) in enumerate(writes):
            path = Path(tmp) / f"write{i}.bin"
            path.write_bytes(chunk)
            tool.download(vid_pid, alt, address, str(path), leave=i == len(writes) - 1, serial=dev.device_id)
            dev.note(f"dfu-util alt {alt} 0x{address:x}: {len(chunk)} bytes")
    wait_for(lambda: _left_dfu(dev), dev.clock, 10.0)


def _swd(dev: Device, modules: list[Module], data: bytes, name: str) -> None:
    """An Intel HEX image of the module(s) programmed by pyocd through the board's debug probe."""
    if not dev.swd_probe:
        raise FlashRefused(f"{dev.name} has no swd_probe in devices.yaml; the SWD path needs a debug probe.")
    target = PYOCD_TARGETS.get(dev.platform.family)
    if target is None:
        raise FlashRefused(f"The rig has no SWD target for the {dev.platform.display_name}.")
    image = build_image(dev.platform, [(name, m) for m in modules])
    with tempfile.TemporaryDirectory(prefix="rig-swd-") as tmp:
        path = Path(tmp) / "image.hex"
        write_image(image, path)
        reset = dev.reset_seen()
        PyOcd().flash(str(path), target, dev.swd_probe, os.environ.get(PACK_ENV))
    dev.note(f"pyocd programmed {len(image)} bytes through probe {dev.swd_probe}")
    wait_for(reset, dev.clock, 5.0)


def _particle_cli(dev: Device, modules: list[Module], data: bytes, name: str) -> None:
    """`particle flash --usb FILE` with the board in DFU mode (CLI 2.x–3.x; it refuses bootloaders)."""
    if any(m.image.function == F.BOOTLOADER for m in modules):
        raise FlashRefused("particle flash --usb refuses bootloaders; use the dfu or usb path.")
    if dev.mode() != Mode.DFU:
        enter(dev, Mode.DFU)
    with tempfile.TemporaryDirectory(prefix="rig-cli-") as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        ParticleCli(source_dir=os.environ.get(CLI_SOURCE_ENV)).flash_usb(str(path))
    dev.note(f"particle flash --usb {name}")
    wait_for(lambda: _left_dfu(dev), dev.clock, 10.0)
