"""`rig sim serve`: ptys for external programs (lrzsz `sb` flashes a board), Ctrl-C ends it cleanly."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import serial

from rig.firmware.build import build
from rig.firmware.format import ModuleFunction as F
from rig.firmware.synthetic import user_app
from rig.sim.board import Mode
from rig.sim.lab import Lab
from rig.sim.serve import serve_forever


@contextmanager
def serving(lab: Lab, ready: Callable[[str], bool]) -> Iterator[list[str]]:
    """`serve_forever` in a thread for the block, which starts once a printed line is `ready`."""
    lines: list[str] = []
    stop = threading.Event()
    thread = threading.Thread(target=serve_forever, args=(lab, lines.append, stop), daemon=True)
    thread.start()
    try:
        for _ in range(500):
            if any(ready(line) for line in lines):
                break
            stop.wait(0.05)
        yield lines
    finally:
        stop.set()
        thread.join(10)


@pytest.mark.skipif(shutil.which("sb") is None, reason="lrzsz is not installed (apt-get install lrzsz)")
def test_lrzsz_sb_flashes_a_board_through_the_pty(tmp_path: Path) -> None:
    lab = Lab(time_scale=0.2)  # sb runs in real time: the receiver's 5 s timeouts take 1 s, ample under load
    board = lab.add_board("p", "photon", "2.2.0")
    with serving(lab, lambda line: "serial /dev/" in line) as lines:
        path = next(line.split("serial ")[1].split()[0] for line in lines if "serial /dev/" in line)
        app = build(user_app("photon", 2202, seed=42))
        (tmp_path / "app.bin").write_bytes(app)
        port = serial.Serial(path, 28800, timeout=5)  # 28800 baud: listening mode
        for _ in range(100):
            if board.mode == Mode.LISTENING:
                break
            lab.clock.sleep(0.2)
        assert board.mode == Mode.LISTENING
        port.write(b"f")
        assert b"Waiting for the binary file" in port.read_until(b"\r\n")
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        try:
            sent = subprocess.run(
                ["sb", "-k", str(tmp_path / "app.bin")],
                stdin=fd,
                stdout=fd,
                stderr=subprocess.PIPE,
                timeout=60,
                check=False,
            )
        finally:
            os.close(fd)
        assert sent.returncode == 0, sent.stderr.decode()[-500:]
        assert b"Transfer complete" in sent.stderr
        port.close()
        for _ in range(500):
            if board.mode == Mode.NORMAL:
                break
            lab.clock.sleep(0.2)
        assert board.mode == Mode.NORMAL
        with lab.clock.lock:
            apps = [m for m in board.installed() if m.function == F.USER_PART]
        assert apps[0].module is not None and apps[0].module.data == app
    assert lines[-1] == "bench stopped"


def test_rig_sim_serve_command_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    devices = tmp_path / "devices.yaml"
    devices.write_text(
        "devices:\n"
        "  - name: b1\n    platform: boron\n    device_id: e00fce68a1b2c3d4e5f60718\n"
        "    hub: {location: '1-1', port: 2}\n    sim: {device_os: 4.0.1}\n"
    )
    exe = Path(sys.executable).parent / "rig"
    proc = subprocess.Popen(
        [str(exe), "sim", "serve", str(devices), "--time-scale", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = proc.stdout.readline()  # type: ignore[union-attr]
        assert first.startswith("simulated bench: 1 boards")
        board_line = proc.stdout.readline()  # type: ignore[union-attr]
        assert "e00fce68a1b2c3d4e5f60718" in board_line and "Device OS 4.0.1" in board_line
        assert "serial /dev/pts/" in board_line
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0 and "bench stopped" in out and "Traceback" not in err


def test_rig_sim_serve_rejects_a_bad_devices_file(tmp_path: Path) -> None:
    devices = tmp_path / "devices.yaml"
    devices.write_text("devices:\n  - name: b1\n    platform: boron\n    device_id: xyz\n")
    exe = Path(sys.executable).parent / "rig"
    done = subprocess.run(
        [str(exe), "sim", "serve", str(devices)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"rig: error: {devices}: board 'b1', field 'device_id': must be the 24 hex digits "
        "of the device id (got 'xyz'); fix the file."
    )


def test_the_printed_export_line_lets_another_shell_reach_the_bench() -> None:
    lab = Lab(time_scale=0.2)
    board = lab.add_board("b", "boron", "2.3.1", hub="1-1", port=2)
    with serving(lab, lambda line: line.startswith("  export ")) as lines:
        export = next(line.strip() for line in lines if line.startswith("  export "))
        env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "UMOCKDEV_DIR", "RIG_SIM_SOCKET")}
        shell = subprocess.run(
            ["bash", "-c", f"{export}; uhubctl -l 1-1 -p 2; pyocd list"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert f"Port 2: 0103 power enable connect [2b04:c00d Particle Boron {board.device_id}]" in shell.stdout
        assert shell.returncode == 0, shell.stderr  # pyocd: a stand-in, reached through the PATH it exports
