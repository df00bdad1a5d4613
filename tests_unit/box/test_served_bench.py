"""`rig sim serve --usb` as a program: injected faults seen by real tools, and a clean stop."""

from __future__ import annotations

import signal
from pathlib import Path

from testsupport.box import serve, umockdev_dir


def test_an_injected_dfu_error_is_dfu_utils_own_message(tmp_path: Path, firmware_dir: Path) -> None:
    bench = serve(tmp_path, firmware_dir, ", faults: {dfu_error_status: 3}")
    box = next(bench)
    try:
        assert "in dfu mode" in box.rig("mode", "b", "dfu").stdout
        app = firmware_dir / "tinker-0.8.0-rc.27-boron.bin"
        done = box.run("dfu-util", "-d", "2b04:d00d", "-a", "0", "-s", "0xd4000", "-D", str(app), check=False)
        assert done.returncode != 0
        assert "DFU state(10) = dfuERROR, status(3) = Device is unable to write memory" in done.stdout + done.stderr
    finally:
        bench.close()


def test_sigterm_stops_the_bench_and_leaves_nothing_behind(tmp_path: Path, firmware_dir: Path) -> None:
    bench = serve(tmp_path, firmware_dir)
    box = next(bench)
    root = umockdev_dir(box)
    assert root.is_dir() and box.run("lsusb").returncode == 0
    box.process.send_signal(signal.SIGTERM)
    assert box.process.wait(timeout=30) == 0
    assert not box.env_file.exists() and not root.exists()
    assert "bench stopped" in (tmp_path / "serve.log").read_text()
    bench.close()
