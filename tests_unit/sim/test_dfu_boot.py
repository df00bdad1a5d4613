"""Raw DfuSe writes, then the boot decides (protocols §5, §6): normal, safe mode, DFU fallback."""

from __future__ import annotations

from rig.firmware.build import build, module_spec
from rig.firmware.format import ModuleFunction as F
from rig.firmware.parse import parse_module
from rig.sim.board import Mode
from rig.sim.lab import Lab
from testsupport import usbtools as u
from testsupport.boards import versions_on
from testsupport.dfu import dfu_release, to_dfu


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
