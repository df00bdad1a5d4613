"""Raw DfuSe writes, then the boot decides (protocols §5, §6): normal, safe mode, DFU fallback."""

from __future__ import annotations

import usb.core

from rig.firmware.build import build, module_spec
from rig.firmware.format import ModuleFunction as F
from rig.firmware.parse import parse_module
from rig.firmware.release import Release
from rig.proto import control as pb
from rig.sim import installed as inst
from rig.sim.board import Board, Mode
from rig.sim.lab import Lab
from tests_unit.sim import usbtools as u


def to_dfu(lab: Lab, board: Board) -> usb.core.Device:
    dev = u.find(board.device_id, dfu=False)
    assert u.request(dev, pb.DFU_MODE, clock=lab.clock) == (0, b"")
    lab.settle(3)
    assert board.mode == Mode.DFU
    found = u.find(board.device_id, dfu=True)
    assert found is not None
    return found


def dfu_release(lab: Lab, board: Board, release: Release, skip: set[F] = frozenset()) -> float:
    """Write a whole release as Device Restore does: bootloader via OTA region + flag (§5.6)."""
    dev = to_dfu(lab, board)
    start = lab.clock.now()
    plat = board.platform
    for stored in release.modules():
        m = stored.module
        if m.function in skip:
            continue
        if m.function == F.BOOTLOADER:
            assert plat.ota_region is not None
            assert u.dfu_write(dev, plat.ota_region.dfu_alt, plat.ota_region.dfu_address, m.data) == (0, 5)
        else:
            address, data = inst.flash_image(m)
            assert u.dfu_write(dev, 0, address, data) == (0, 5), stored.name
    if F.BOOTLOADER not in skip:
        assert u.dfu_write(dev, 1, 1753, b"\xa5", erase=False) == (0, 5)
    elapsed = lab.clock.now() - start
    u.dfu_leave(dev)
    lab.settle(10)
    return elapsed


def versions_on(board: Board) -> dict[tuple[F, int], int]:
    return {(m.function, m.index): m.version for m in board.installed() if m.integrity_ok}


def test_photon_full_release_by_dfu_boots_normal(real_lab: Lab, real_store) -> None:
    board = real_lab.add_board("photon", "photon", "1.5.2")
    seconds = dfu_release(real_lab, board, real_store.get("photon", "2.3.1"))
    assert board.mode == Mode.NORMAL and board.system_version() == "2.3.1"
    assert versions_on(board)[(F.BOOTLOADER, 0)] == 1006
    assert 3 < seconds < 30  # modelled: 128 KB sector erases dominate


def test_boron_full_release_by_dfu_boots_normal(real_lab: Lab, real_store) -> None:
    board = real_lab.add_board("boron", "boron", "2.2.0")
    seconds = dfu_release(real_lab, board, real_store.get("boron", "4.0.1"))
    assert board.mode == Mode.NORMAL and board.system_version() == "4.0.1"
    assert versions_on(board) == {
        (F.RADIO_STACK, 0): 202,
        (F.SYSTEM_PART, 1): 4005,
        (F.USER_PART, 1): 5,
        (F.BOOTLOADER, 0): 1101,
    }
    assert 10 < seconds < 60  # 4 KB page erases at 85 ms each dominate


def test_missing_bootloader_boots_safe_mode(real_lab: Lab, real_store) -> None:
    board = real_lab.add_board("photon", "photon", "1.5.2")
    dfu_release(real_lab, board, real_store.get("photon", "2.3.1"), skip={F.BOOTLOADER})
    assert board.mode == Mode.SAFE  # part 2 needs bootloader >= 1003, 502 is installed
    assert any("system part 2 dependencies" in text for _, text in board.log)


def test_erased_system_part_falls_back_to_dfu(lab: Lab) -> None:
    board = lab.add_board("b", "boron", "2.3.1")
    dev = to_dfu(lab, board)
    assert u.dfu_cmd(dev, b"\x41" + (0x30000).to_bytes(4, "little"))[0] == 0
    u.dfu_leave(dev)
    lab.settle(10)
    assert board.mode == Mode.DFU and "falls back to DFU" in " ".join(t for _, t in board.log)


def test_electron_reflashes_its_embedded_bootloader(real_lab: Lab, real_store) -> None:
    board = real_lab.add_board("e", "electron", "1.5.2")  # no bootloader file: provisioned from the parts
    assert board.mode == Mode.NORMAL and versions_on(board)[(F.BOOTLOADER, 0)] == 400
    release = real_store.get("electron", "2.3.1")
    parts = [s.module for s in release.system_parts] + [release.user_app.module]
    old_boot = parse_module(build(module_spec("electron", F.BOOTLOADER, 0, 300, size=2000)))
    board2 = real_lab.add_board("e2", "electron", modules=[*parts, old_boot])
    assert board2.mode == Mode.NORMAL
    assert versions_on(board2)[(F.BOOTLOADER, 0)] == 1004  # embedded in electron-system-part1@2.3.1 (§6.7)
    assert any("installed Electron bootloader 0 v1004" in text for _, text in board2.log)
