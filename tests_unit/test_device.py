"""rig.device on simulated Photon, Electron, Boron and Tracker boards: every mode change and every
flash path, with the result checked from the board's own flash."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from rig.device import Mode
from rig.device.board import RUNNING
from rig.device.flash import FlashRefused, flash
from rig.device.identify import identify
from rig.device.modes import ModeChangeError, enter
from rig.firmware.build import build
from rig.firmware.format import ModuleFunction as F
from rig.firmware.parse import parse_modules
from rig.firmware.release import ReleaseStore
from rig.firmware.synthetic import user_app
from rig.proto import control as pb
from rig.sim import control as sim_control
from rig.sim.board import Board, BoardSettings
from rig.sim.board import Mode as SimMode
from rig.sim.lab import Lab
from rig.timing import BACK_FROM_RESET
from rig.transport.cloud import CloudClient
from rig.transport.errors import BoardNotFoundError, ToolError
from rig.transport.results import DependencyCheckFailedError
from testsupport.boards import snapshot, versions_on
from testsupport.devices import device

PLATFORMS = ["photon", "electron", "boron", "tracker"]


@pytest.mark.parametrize("platform", PLATFORMS)
def test_every_mode_change(lab: Lab, platform: str) -> None:
    board = lab.add_board(platform, platform, "2.2.0")
    dev = device(lab, board, platform)
    assert dev.mode() == Mode.NORMAL
    for target, sim_mode in [
        (Mode.LISTENING, SimMode.LISTENING),
        (Mode.NORMAL, SimMode.NORMAL),
        (Mode.DFU, SimMode.DFU),
        (Mode.LISTENING, SimMode.LISTENING),
        (Mode.SAFE, SimMode.SAFE),
        (Mode.DFU, SimMode.DFU),
        (Mode.SAFE, SimMode.SAFE),
        (Mode.OFF, SimMode.OFF),
        (Mode.NORMAL, SimMode.NORMAL),
    ]:
        enter(dev, target)
        assert board.mode == sim_mode, f"{platform} -> {target}"
        # a requested safe mode looks like normal mode over USB (modules are valid)
        assert dev.mode() == (Mode.NORMAL if target == Mode.SAFE else target)


@pytest.mark.parametrize(("version", "steps"), [("6.1.1", 1), ("4.0.1", 3)])
def test_safe_mode_from_dfu_uses_0xfa_only_where_the_bootloader_has_it(lab: Lab, version: str, steps: int) -> None:
    board = lab.add_board("b", "boron", version)
    dev = device(lab, board, "b")
    enter(dev, Mode.DFU)
    tried = enter(dev, Mode.SAFE)
    assert board.mode == SimMode.SAFE
    assert tried == ["DfuSe 0xFA (safe mode)", "DFU leave", "control request 60 (safe mode)"][:steps]


def test_ladder_falls_back_to_the_baud_trigger_and_power_cycle(lab: Lab) -> None:
    board = lab.add_board("p", "photon", "2.3.1")
    dev = device(lab, board, "p")
    from rig.sim import control as simcontrol

    original = simcontrol.handle
    simcontrol.handle = lambda b, t, p, a: (-130, b"") if t == 50 else original(b, t, p, a)  # DFU refused
    try:
        steps = enter(dev, Mode.DFU)
    finally:
        simcontrol.handle = original
    assert steps == ["control request 50 (DFU)", "14400 baud"] and board.mode == SimMode.DFU


def test_mode_change_failure_is_one_sentence(lab: Lab) -> None:
    board = lab.add_board("p", "photon", "2.3.1")
    board.faults.stuck = True
    dev = device(lab, board, "p")
    with pytest.raises(ModeChangeError, match=r"p could not be put in dfu mode \(tried: .*power cycle"):
        enter(dev, Mode.DFU)
    assert lab.hubs.hub("1-1").is_on(1)  # power restored whatever happened


@pytest.mark.parametrize("platform", PLATFORMS)
def test_identify(lab: Lab, platform: str) -> None:
    settings = BoardSettings(imei="352753090000001", iccid="8934") if platform != "photon" else BoardSettings()
    board = lab.add_board(
        platform, platform, "2.3.1" if platform in ("photon", "electron") else "4.0.1", settings=settings
    )
    dev = device(lab, board, platform)
    ident = identify(dev)
    assert ident.device_id == board.device_id and ident.device_os == board.system_version()
    assert {(m.function, m.index, m.version) for m in ident.modules} >= {
        (int(f), i, v) for (f, i), v in versions_on(board).items() if f != F.NCP_FIRMWARE
    }
    if platform != "photon":
        assert (ident.imei, ident.iccid) == ("352753090000001", "8934")
        assert board.mode == SimMode.NORMAL  # listening mode was left again
    enter(dev, Mode.DFU)
    in_dfu = identify(dev)
    assert in_dfu.mode == Mode.DFU and in_dfu.device_os == board.system_version()


def test_identify_waits_for_a_board_that_is_resetting(lab: Lab) -> None:
    board = lab.add_board("p", "photon", "2.3.1")
    dev = device(lab, board, "p")
    board.reset("a reset just asked for", into="safe")
    assert not dev.present()  # booting: off USB for a moment
    assert identify(dev).device_id == board.device_id and board.mode == SimMode.SAFE


def test_identify_of_a_board_that_does_not_come_back_is_one_sentence(lab: Lab) -> None:
    board = lab.add_board("p", "photon", "2.3.1")
    board.faults.stuck = True
    dev = device(lab, board, "p")
    board.reset("a reset just asked for")
    start = lab.clock.now()
    with pytest.raises(BoardNotFoundError, match=r"p \(.*\) is not on USB \(hub 1-1 port 1\): check the cable"):
        identify(dev)
    assert lab.clock.now() - start >= BACK_FROM_RESET


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("via", ["dfu", "usb", "serial", "ota", "dfu-util", "particle-cli", "swd"])
def test_flash_a_user_app_over_every_path(lab: Lab, platform: str, via: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RIG_PYOCD_PACK", "/packs/Keil.STM32F2xx_DFP.2.9.0.pack")
    board = lab.add_board(
        platform, platform, "2.2.0", settings=BoardSettings(online=True, swd_probe=f"probe-{platform}")
    )
    lab.settle(5)
    dev = device(lab, board, platform)
    dev.cloud = CloudClient()
    app = build(user_app(platform, 2202, seed=7))
    result = flash(dev, app, via, "app.bin")
    assert result.final_mode == Mode.NORMAL and board.mode == SimMode.NORMAL
    running = board.running_user_app(board.installed())
    assert running is not None and running.module is not None and running.module.data == app
    assert result.clock_seconds > 0


@pytest.mark.parametrize("platform", PLATFORMS)
def test_flash_bootloader_by_dfu_uses_the_ota_region(lab: Lab, platform: str) -> None:
    board = lab.add_board(platform, platform, "2.2.0")
    dev = device(lab, board, platform)
    boot = next(m for m in lab.release_modules(platform, "2.3.1") if m.function == F.BOOTLOADER)
    flash(dev, boot.data, "dfu", "bootloader.bin")
    assert versions_on(board)[(F.BOOTLOADER, 0)] == boot.version
    assert board.dct_read(1753, 1) == b"\xff"  # the flag was consumed


def test_gen3_full_upgrade_over_usb_needs_the_bootloader_first(lab: Lab) -> None:
    board = lab.add_board("b", "boron", "2.2.0")
    dev = device(lab, board, "b")
    release = {m.function: m for m in lab.release_modules("boron", "4.0.1")}
    with pytest.raises(FlashRefused, match="needs bootloader v1101 or later; b has bootloader v1006"):
        flash(dev, release[F.SYSTEM_PART].data, "usb", "part1.bin")  # the rig's own check, before writing
    with pytest.raises(DependencyCheckFailedError):
        flash(dev, release[F.SYSTEM_PART].data, "usb", "part1.bin", force=True)  # the board's validation
    assert versions_on(board)[(F.SYSTEM_PART, 1)] == 2202  # nothing written
    for fn in (F.BOOTLOADER, F.SYSTEM_PART):
        flash(dev, release[fn].data, "usb", f"{fn.name}.bin")
    assert board.system_version() == "4.0.1"


def test_softdevice_and_system_part_by_dfu_with_user_part_move(lab: Lab) -> None:
    board = lab.add_board("b", "boron", "2.3.1")
    dev = device(lab, board, "b")
    release = {m.function: m for m in lab.release_modules("boron", "4.0.1")}
    for fn in (F.BOOTLOADER, F.RADIO_STACK, F.SYSTEM_PART, F.USER_PART):
        flash(dev, release[fn].data, "dfu", f"{fn.name}.bin")
    assert board.system_version() == "4.0.1" and board.mode == SimMode.NORMAL
    assert board.mem.read(0xD4000, 4096) == b"\xff" * 4096  # the stale 128 KB app was invalidated (§7.4)
    assert board.running_user_app(board.installed()).index == 2  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("version", "other", "after"), [("2.3.1", "1.5.2", Mode.NORMAL), ("1.5.2", "2.3.1", Mode.LISTENING)]
)
def test_a_serial_image_the_board_rejects_is_named_and_the_board_state_known(
    firmware_dir: Path, version: str, other: str, after: Mode
) -> None:
    """Device OS resets after rejecting a YMODEM image, 1.x only once listening mode ends (§3.3)."""
    store = ReleaseStore.scan(firmware_dir)
    with Lab(time_scale=0, releases=store) as lab:
        board = lab.add_board("p", "photon", version)
        dev = device(lab, board, "p")
        boots = board.boots
        part = store.get("photon", other).system_parts[0 if version == "2.3.1" else 1].module.data
        with pytest.raises(DependencyCheckFailedError):
            flash(dev, part, "serial", "part.bin", force=True)  # past the rig's own checks, to the board
        assert dev.mode() == after and board.boots == boots + (after == Mode.NORMAL)
        assert board.system_version() == version


def test_a_new_style_app_installed_by_the_board_invalidates_the_old_128k_app(lab: Lab) -> None:
    """From 3.1.0 the bootloader erases the first page at 0xD4000 when it installs a user part for
    0xB4000, or the old app would keep winning (v3.1.0 platform/MCU/nRF52840/src/flash_mal.c, §7.4)."""
    board = lab.add_board("b", "boron", "4.0.1")
    board.install(parse_modules(build(user_app("boron", 2302)))[0])  # a 2.x app left at 0xD4000
    assert board.running_user_app(board.installed()).index == 1  # type: ignore[union-attr]
    flash(device(lab, board, "b"), build(user_app("boron", 4005, version=7)), "usb", "app.bin")
    assert board.mem.read(0xD4000, 4096) == b"\xff" * 4096
    app = board.running_user_app(board.installed())
    assert app is not None and (app.index, app.version) == (2, 7)


def test_a_reset_that_is_over_before_the_next_poll_still_counts(lab: Lab) -> None:
    """After a flash the rig waits for the reset; a board back at a new address already has reset."""
    board = lab.add_board("b", "boron", "2.3.1")
    dev = device(lab, board, "b")
    reset = dev.reset_seen()
    assert not reset()
    board.reset("test")
    lab.settle(5)
    assert dev.present() and reset()


def test_the_rig_asks_the_board_only_what_it_needs(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whether the firmware runs needs no module list (request 90); finding a board takes one bus
    enumeration, also when it is away; a module list one enumeration too.
    """
    board = lab.add_board("b", "boron", "2.3.1", hub="1-1", port=2)
    lab.add_board("other", "boron", "2.3.1", hub="1-1", port=3)
    dev = device(lab, board, "b")
    asked: list[int] = []
    handle = sim_control.handle

    def counting(board: Board, req_type: int, payload: bytes, after: list[Callable[[], None]]) -> tuple[int, bytes]:
        asked.append(req_type)
        return handle(board, req_type, payload, after)

    monkeypatch.setattr(sim_control, "handle", counting)
    enumerations: list[int] = []
    enumerate_devices = lab.backend.enumerate_devices
    monkeypatch.setattr(lab.backend, "enumerate_devices", lambda: enumerations.append(1) or enumerate_devices())

    assert dev.in_mode(RUNNING) and asked == [pb.GET_DEVICE_MODE] and len(enumerations) == 1
    asked.clear(), enumerations.clear()
    assert dev.in_mode({Mode.NORMAL}) and asked == [pb.GET_DEVICE_MODE, pb.GET_MODULE_INFO]
    assert dev.mode() == Mode.NORMAL and asked[2:] == [pb.GET_DEVICE_MODE, pb.GET_MODULE_INFO]
    enumerations.clear()
    assert dev.modules() and len(enumerations) == 1
    board.power_off()
    enumerations.clear()
    assert dev.mode() == Mode.OFF and len(enumerations) == 1  # away from its port: not a second look


def test_refusals_write_nothing(lab: Lab) -> None:
    board = lab.add_board("b", "boron", "6.1.1")
    dev = device(lab, board, "b")
    before = snapshot(board)
    with pytest.raises(FlashRefused, match="is built for the Photon; b is a Boron"):
        flash(dev, build(user_app("photon", 2302)), "dfu", "photon-app.bin")
    with pytest.raises(FlashRefused, match="removed serial \\(YMODEM\\) flashing"):
        flash(dev, build(user_app("boron", 6101)), "serial", "app.bin")
    with pytest.raises(FlashRefused, match="No cloud is configured"):
        flash(dev, build(user_app("boron", 6101)), "ota", "app.bin")
    with pytest.raises(FlashRefused, match="Unknown flashing path 'jtag'"):
        flash(dev, build(user_app("boron", 6101)), "jtag", "app.bin")
    assert snapshot(board) == before  # flash banks, pending updates, bytes received


@pytest.mark.parametrize("platform", PLATFORMS)
def test_whole_release_over_dfu_util_and_swd(lab: Lab, platform: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RIG_PYOCD_PACK", "/packs/Keil.STM32F2xx_DFP.2.9.0.pack")
    board = lab.add_board(platform, platform, "2.2.0", settings=BoardSettings(swd_probe="p1"))
    dev = device(lab, board, platform)
    release = lab.release_modules(platform, "2.3.1")
    for m in release:
        flash(dev, m.data, "dfu-util", "module.bin")
    assert board.system_version() == "2.3.1" and board.mode == SimMode.NORMAL
    assert versions_on(board)[(F.BOOTLOADER, 0)] == next(m.version for m in release if m.function == F.BOOTLOADER)
    older = [m for m in lab.release_modules(platform, "2.2.0") if m.function in (F.SYSTEM_PART, F.USER_PART)]
    for m in older:  # SWD writes anything, in any order: a downgrade in one go
        flash(dev, m.data, "swd", "module.bin")
    assert board.system_version() == "2.2.0"


def test_swd_needs_a_probe_and_a_pack(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    board = lab.add_board("p", "photon", "2.2.0")
    dev = device(lab, board, "p")
    app = build(user_app("photon", 2202))
    with pytest.raises(FlashRefused, match=r"has no swd_probe in devices\.yaml"):
        flash(dev, app, "swd", "app.bin")
    board.settings.swd_probe = dev.swd_probe = "p9"
    monkeypatch.delenv("RIG_PYOCD_PACK", raising=False)
    with pytest.raises(ToolError, match="Target type stm32f205rg not recognized"):
        flash(dev, app, "swd", "app.bin")
