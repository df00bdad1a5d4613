"""The bench in a box: `rig sim serve --usb` in a process of its own, and real programs run
against it through `rig sim exec` (docs/bench-in-a-box.md); for tests_unit/box and tests_cli.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from rig.sim.box_env import preload_available

RIG = [sys.executable, "-c", "import sys, rig.cli; sys.exit(rig.cli.main())"]
TIME_SCALE = "0.25"  # wall s per modelled s: the board's 5 s YMODEM timeout is 1.25 s for a real-time host
START_TIMEOUT = 60.0
COMMAND_TIMEOUT = 300.0
DEVICES = """\
devices:
  - name: p
    platform: photon
    device_id: e00fa1b2c3d4e5f600000001
    hub: {location: "1-1", port: 1}
    sim: {device_os: "2.3.1"}
  - name: b
    platform: boron
    device_id: e00fa1b2c3d4e5f600000002
    hub: {location: "1-1", port: 2}
    sim: {device_os: "2.3.1"%s}
"""


@dataclass
class Box:
    """A served bench: its devices.yaml and env file, and a way to run programs against it."""

    devices: Path
    env_file: Path
    process: subprocess.Popen[bytes]

    def run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run `command` through `rig sim exec`; raises when it fails and `check`."""
        done = subprocess.run(
            [*RIG, "sim", "exec", "--env-file", str(self.env_file), "--", *command],
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"{command} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done

    def rig(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """The rig itself, without --sim: real pyusb (libusb), real dfu-util on PATH."""
        return self.run(*RIG, *args, "--devices", str(self.devices), check=check)


def needs_umockdev() -> None:
    """Skip where umockdev is not installed (CI installs it: .ci/run)."""
    missing = [tool for tool in ("lsusb", "dfu-util") if shutil.which(tool) is None]
    if not preload_available() or missing:
        pytest.skip(f"the bench in a box needs umockdev, usbutils and dfu-util (missing: {missing or 'umockdev'})")
    try:
        import gi  # noqa: F401
    except ImportError:
        pytest.skip("the bench in a box needs PyGObject (the project's 'box' extra)")


def serve(
    tmp: Path, firmware_dir: Path, boron_extra: str = "", time_scale: str = TIME_SCALE, devices_yaml: str = ""
) -> Iterator[Box]:
    """Start `rig sim serve --usb` at `time_scale` (with `devices_yaml`, else DEVICES), wait for its env
    file, stop it with SIGTERM afterwards.
    """
    needs_umockdev()
    devices, env_file, log = tmp / "devices.yaml", tmp / "bench.env", tmp / "serve.log"
    devices.write_text(devices_yaml or DEVICES % boron_extra)
    args = ["sim", "serve", str(devices), "--usb", "--env-file", str(env_file), "--time-scale", time_scale]
    with log.open("wb") as out:
        process = subprocess.Popen([*RIG, *args, "--releases", str(firmware_dir)], stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not env_file.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"rig sim serve --usb did not come up:\n{log.read_text()}")
            time.sleep(0.1)
        yield Box(devices, env_file, process)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            raise


def umockdev_dir(box: Box) -> Path:
    """The served bench's test bed folder."""
    line = next(x for x in box.env_file.read_text().splitlines() if x.startswith("UMOCKDEV_DIR="))
    return Path(line.partition("=")[2])
