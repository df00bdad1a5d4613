"""Real programs against simulated boards on a umockdev USB bus: lsusb, dfu-util and the rig
itself without --sim (pyusb on libusb), as a lab engineer would run them (docs/bench-in-a-box.md)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rig.firmware.release import ReleaseStore
from testsupport.box import RIG, Box, umockdev_dir

PHOTON, BORON = "e00fa1b2c3d4e5f600000001", "e00fa1b2c3d4e5f600000002"


def test_lsusb_lists_the_boards_as_the_kernel_would(box: Box) -> None:
    listing = box.run("lsusb").stdout
    assert re.search(r"ID 2b04:c006 Particle Photon$", listing, re.M), listing
    assert re.search(r"ID 2b04:c00d Particle Boron$", listing, re.M), listing
    verbose = box.run("lsusb", "-v", "-d", "2b04:c00d").stdout
    assert re.search(rf"iSerial\s+3 {BORON}$", verbose, re.M), verbose  # lower case, as Device OS (§2.1)
    assert "bFunctionClass          2 Communications" in verbose or "CDC ACM" in verbose
    tree = box.run("lsusb", "-t").stdout
    assert tree.count("Port 1: Dev") >= 2 and "12M" in tree, tree


def test_the_rig_without_sim_identifies_a_board_over_libusb(box: Box) -> None:
    out = box.rig("identify", "p").stdout
    assert PHOTON in out and "2.3.1" in out and "mode: normal" in out, out


def test_serial_ports_are_ttyacm_with_their_usb_parent(box: Box) -> None:
    """pyserial finds each board's CDC port by USB serial number, as on a real host (§2.1)."""
    listing = "import serial.tools.list_ports as l; print(*sorted(f'{p.serial_number} {p.vid:04x}:{p.pid:04x} "
    listing += "{p.location}' for p in l.comports() if p.device.startswith('/dev/ttyACM')), sep='\\n')"
    ports = box.run(sys.executable, "-c", listing).stdout.split("\n")
    assert f"{PHOTON} 2b04:c006 1-1.1:1.0" in ports and f"{BORON} 2b04:c00d 1-1.2:1.0" in ports, ports
    out = box.rig("identify", "b").stdout  # a Gen 3 board's identity comes from its console
    assert BORON in out and "2.3.1" in out, out


def test_dfu_util_lists_reads_back_and_writes_a_photon(box: Box, firmware_dir: Path, tmp_path: Path) -> None:
    assert "in dfu mode" in box.rig("mode", "p", "dfu").stdout
    found = box.run("dfu-util", "-l").stdout
    internal = "@Internal Flash   /0x08000000/03*016Ka,01*016Kg,01*064Kg,07*128Kg"  # as the bootloader spells it
    assert f'alt=0, name="{internal}", serial="{PHOTON}"' in found
    assert f'alt=1, name="@DCT Flash   /0x00000000/01*016Kg", serial="{PHOTON}"' in found
    release = ReleaseStore.scan(firmware_dir).get("photon", "2.3.1")
    part2 = release.system_parts[1].module
    up = tmp_path / "part2.bin"
    where = f"0x{part2.start:x}:{part2.size}"
    box.run("dfu-util", "-d", "2b04:d006", "-S", PHOTON, "-a", "0", "-s", where, "-U", str(up))
    assert up.read_bytes() == part2.data  # read back over DfuSe UPLOAD, block by block
    app = tmp_path / "tinker.bin"
    app.write_bytes((firmware_dir / "tinker-0.4.5-photon.bin").read_bytes())
    done = box.run("dfu-util", "-d", "2b04:d006", "-S", PHOTON, "-a", "0", "-s", "0x080a0000:leave", "-D", str(app))
    assert "File downloaded successfully" in done.stdout
    out = box.rig("identify", "p").stdout  # the rig waits for nothing here: identify finds it running
    assert "mode: normal" in out or "mode: safe" in out, out


@pytest.mark.parametrize("via", ["dfu", "dfu-util", "usb", "serial"])
def test_rig_flash_paths_on_real_libusb(box: Box, firmware_dir: Path, via: str) -> None:
    app = firmware_dir / "tinker-0.8.0-rc.27-boron.bin"
    out = box.rig("flash", "b", str(app), "--via", via).stdout
    assert re.search(rf"flashed Boron user part 1 v\d+ \(\d+ bytes\) via {via} in", out), out
    assert "now in normal mode" in out or "now in safe mode" in out, out


def test_rig_sim_exec_refuses_a_missing_env_file(box: Box, tmp_path: Path) -> None:
    gone = tmp_path / "nothing.env"
    command = [*RIG, "sim", "exec", "--env-file", str(gone), "--", "lsusb"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"rig: error: {gone} does not exist: start `rig sim serve DEVICES.yaml --usb --env-file {gone}` first."
    )
    assert umockdev_dir(box).is_dir()


def test_real_uhubctl_lists_and_switches_the_hub_ports(box: Box) -> None:
    status = box.run("uhubctl", "-l", "1-1").stdout
    assert "Current status for hub 1-1 [0424:2514 USB 2.0 Hub, USB 2.00, 4 ports, ppps]" in status, status
    assert f"  Port 2: 0103 power enable connect [2b04:c00d Particle Boron {BORON}]" in status, status
    box.rig("power", "b", "off")  # the rig without --sim: the real uhubctl on PATH
    assert "2b04:c00d" not in box.run("lsusb").stdout
    assert "  Port 2: 0000 off" in box.run("uhubctl", "-l", "1-1", "-p", "2").stdout
    box.rig("power", "b", "on")
    out = box.rig("identify", "b").stdout  # back on USB, and its console answers
    assert BORON in out, out


def test_a_program_holding_the_old_node_gets_enodev_after_a_reset(box: Box) -> None:
    """As with the kernel: once the board re-enumerated, the old device node answers ENODEV."""
    script = (
        "import time, usb.core\n"
        "dev = usb.core.find(idVendor=0x2B04, idProduct=0xC006)\n"
        "assert bytes(dev.ctrl_transfer(0xC0, 0x50, 0, 30, 64)).startswith(b'2.')\n"
        "dev.ctrl_transfer(0x40, 0x50, 0, 40, b'')  # raw reset request (protocols §4.2)\n"
        "end = time.monotonic() + 60  # until the board is back at a new address (it re-enumerated)\n"
        "while time.monotonic() < end:\n"
        "    back = usb.core.find(idVendor=0x2B04, idProduct=0xC006)\n"
        "    if back is not None and back.address != dev.address:\n"
        "        break\n"
        "    time.sleep(0.1)\n"
        "try:\n"
        "    dev.ctrl_transfer(0xC0, 0x50, 0, 30, 64)\n"
        "    print('answered')\n"
        "except usb.core.USBError as exc:\n"
        "    print('errno', exc.errno)\n"
    )
    assert box.run(sys.executable, "-c", script).stdout.strip() == "errno 19"
    assert PHOTON in box.rig("identify", "p").stdout  # the board itself is back


STOP_AFTER_OFF = """#!{python}
# The real uhubctl; right after it switched a port off, SIGTERM to the caller's process group.
import os, signal, subprocess, sys
done = subprocess.run(["{uhubctl}", *sys.argv[1:]])
if sys.argv[-2:] == ["-a", "off"]:
    os.killpg(os.getpgid(os.getppid()), signal.SIGTERM)
sys.exit(done.returncode)
"""

HIL_CYCLE = """
import pytest

from rig.device.modes import cycle

pytestmark = pytest.mark.hil


@pytest.mark.rig_platform("boron")
def test_cycle(board):
    cycle(board)
"""


@pytest.mark.parametrize("runner", ["rig power", "pytest"])
def test_sigterm_right_after_a_switch_off_leaves_the_port_on(box: Box, tmp_path: Path, runner: str) -> None:
    """A run stopped (CI cancel, systemctl stop) in the middle of a power cycle: the port is on again."""
    uhubctl = shutil.which("uhubctl")
    assert uhubctl is not None
    (tmp_path / "bin").mkdir()
    wrapper = tmp_path / "bin" / "uhubctl"
    wrapper.write_text(STOP_AFTER_OFF.format(python=sys.executable, uhubctl=uhubctl))
    wrapper.chmod(0o755)
    (tmp_path / "test_cycle.py").write_text(HIL_CYCLE)
    command = {
        "rig power": [*RIG, "power", "b", "cycle", "--devices", str(box.devices)],
        "pytest": [sys.executable, "-m", "pytest", str(tmp_path / "test_cycle.py"), "--rig-devices", str(box.devices),
                   "-p", "no:cacheprovider", "-n", "0", "-q", "--rig-lock-dir", str(tmp_path / "locks")],
    }[runner]  # fmt: skip
    done = subprocess.run(
        [*RIG, "sim", "exec", "--env-file", str(box.env_file), "--", *command],
        env={**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"},
        capture_output=True, text=True, timeout=300, check=False, start_new_session=True,
    )  # fmt: skip
    stopped = done.returncode == 3 if runner == "rig power" else "KeyboardInterrupt" in done.stdout
    assert stopped and done.returncode != 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert re.search(r"Port 2: 01\d\d power", box.run(uhubctl, "-l", "1-1", "-p", "2").stdout)
    assert BORON in box.rig("identify", "b").stdout  # back on USB
