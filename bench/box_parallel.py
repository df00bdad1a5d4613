"""Do the boards of one served bench work at once? Two Borons on one `rig sim serve --usb` bench,
each written with the real dfu-util (a Boron 4.0.1 system part, 500 KB at 0x30000): first one
alone, then both at once (each through `rig sim exec`). Prints each time and the ratio both/alone
(1.0: the boards are independent, as on a real hub; 2.0: one waits for the other), with the load
average. Real boards on one hub each write at their own pace; the labgrid loopback lab runs two
such boards per host.

    .venv/bin/python bench/box_parallel.py [SCALE] [RUNS]      # default: time scale 0.5, 3 runs
"""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from testsupport.box import RIG, Box, serve
from testsupport.paths import FIRMWARE_DIR as FIRMWARE

SERIALS = ("e00fa1b2c3d4e5f600000001", "e00fa1b2c3d4e5f600000002")
DEVICES = "devices:\n" + "".join(
    f"  - {{name: b{i}, platform: boron, device_id: {serial}, hub: {{location: '1-1', port: {i}}},"
    f" sim: {{device_os: '2.2.0'}}}}\n"
    for i, serial in enumerate(SERIALS, start=1)
)
PART = FIRMWARE / "boron-system-part1@4.0.1.bin"


def write(box: Box, serials: tuple[str, ...]) -> float:
    """Wall seconds for dfu-util to write the system part to each board in `serials`, all at once."""
    run = [*RIG, "sim", "exec", "--env-file", str(box.env_file), "--"]
    start = time.perf_counter()
    writers = [
        subprocess.Popen(
            [*run, "dfu-util", "-d", "2b04:d00d", "-S", serial, "-a", "0", "-s", "0x30000", "-D", str(PART)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        for serial in serials
    ]  # fmt: skip
    for writer in writers:
        _, err = writer.communicate(timeout=600)
        if writer.returncode != 0:
            raise SystemExit(f"dfu-util failed ({writer.returncode}): {err.decode().strip()}")
    return time.perf_counter() - start


def main() -> None:
    scale = sys.argv[1] if len(sys.argv) > 1 else "0.5"
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    with (
        tempfile.TemporaryDirectory(prefix="rig-box-parallel-") as tmp,
        contextlib.contextmanager(serve)(Path(tmp), FIRMWARE, time_scale=scale, devices_yaml=DEVICES) as box,
    ):
        for name in ("b1", "b2"):
            box.rig("mode", name, "dfu")
        alone = [write(box, SERIALS[:1]) for _ in range(runs)]
        both = [write(box, SERIALS) for _ in range(runs)]
    a, b = statistics.median(alone), statistics.median(both)
    print(f"time scale {scale}, {runs} runs each, {PART.name} ({PART.stat().st_size} bytes) with dfu-util")
    print(f"one board alone: median {a:.2f} s {[round(x, 2) for x in alone]}")
    print(f"two boards at once: median {b:.2f} s {[round(x, 2) for x in both]}")
    print(f"both / alone: {b / a:.2f} (1.0: independent boards)")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
