"""particle-cli 3.51 on simulated boards, each command checked afterwards by the rig (no --sim)."""

from __future__ import annotations

import re
import time
from pathlib import Path

from testsupport.box import Box

PHOTON, BORON = "e00fa1b2c3d4e5f600000001", "e00fa1b2c3d4e5f600000002"
RESET_SEEN_WITHIN = 60.0  # real seconds: generous for a loaded machine, a real process per try


def usb_ids(box: Box) -> set[str]:
    return set(re.findall(r"ID (2b04:[0-9a-f]{4})", box.run("lsusb").stdout))


def test_usb_list_finds_both_boards(cli_box: Box) -> None:
    out = cli_box.run("particle", "usb", "list").stdout
    assert f"[{BORON}] (Boron)" in out and f"[{PHOTON}] (Photon)" in out, out


def test_usb_dfu_then_reset(cli_box: Box) -> None:
    assert "Done." in cli_box.run("particle", "usb", "dfu", BORON).stdout
    assert "2b04:d00d" in usb_ids(cli_box)
    assert "mode: dfu" in cli_box.rig("identify", "b").stdout
    assert "Done." in cli_box.run("particle", "usb", "reset", BORON).stdout
    out = cli_box.rig("identify", "b").stdout  # the rig waits for nothing: the board is back or coming
    assert BORON in out and "2.3.1" in out, out


def test_usb_start_listening_and_safe_mode(cli_box: Box) -> None:
    assert "Done." in cli_box.run("particle", "usb", "start-listening", PHOTON).stdout
    assert "mode: listening" in cli_box.rig("identify", "p").stdout
    assert "Done." in cli_box.run("particle", "usb", "safe-mode", PHOTON).stdout
    # Device OS replies, then resets 1 s later (§4.3): until then the board still listens, so ask
    # until it has reset (identify itself waits for a board that is off USB while it resets).
    deadline = time.monotonic() + RESET_SEEN_WITHIN
    out = cli_box.rig("identify", "p").stdout
    while "mode: listening" in out and time.monotonic() < deadline:
        out = cli_box.rig("identify", "p").stdout
    assert PHOTON in out and "mode: listening" not in out, out  # reset into safe mode


def test_flash_usb_user_app_and_system_part(cli_box: Box, firmware_dir: Path) -> None:
    cli_box.run("particle", "usb", "dfu", BORON)
    app = firmware_dir / "tinker-0.8.0-rc.27-boron.bin"
    assert "Flash success!" in cli_box.run("particle", "flash", "--usb", str(app)).stdout
    cli_box.run("particle", "usb", "dfu", PHOTON)
    part = firmware_dir / "photon-system-part1@2.3.1.bin"
    assert "Flash success!" in cli_box.run("particle", "flash", "--usb", str(part)).stdout
    modules = cli_box.rig("modules", "p").stdout
    assert re.search(r"system part 1 v2302\s*│\s*\d+\s*│ yes", modules), modules


def test_flash_local_of_a_full_release(cli_box: Box, firmware_dir: Path) -> None:
    files = [firmware_dir / f"boron-{name}@4.0.1.bin" for name in ("bootloader", "softdevice", "system-part1")]
    app = firmware_dir / "tinker-0.8.0-rc.27-boron.bin"
    out = cli_box.run("particle", "flash", "--local", BORON, *map(str, files), str(app)).stdout
    assert "Flash success!" in out, out
    modules = cli_box.rig("modules", "b").stdout
    assert re.search(r"system part 1 v4005\s*│\s*\d+\s*│ yes", modules), modules
    assert re.search(r"bootloader 0 v1101\s*│\s*\d+\s*│ yes", modules), modules


def test_the_rigs_particle_cli_path(cli_box: Box, firmware_dir: Path) -> None:
    app = firmware_dir / "tinker-0.8.0-rc.27-boron.bin"
    out = cli_box.rig("flash", "b", str(app), "--via", "particle-cli").stdout
    assert re.search(r"flashed Boron user part 1 v\d+ \(\d+ bytes\) via particle-cli", out), out
