"""Wall time of a full Boron release written with the real dfu-util on the bench in a box.

Serves one Boron (Device OS 2.2.0) with `rig sim serve --usb` at each time scale given, puts it in
DFU mode with the rig, then writes the 4.0.1 release (bootloader through the OTA region and flag,
SoftDevice, system part, user app: the rig's own DFU write rules, `rig.firmware.dfu_writes`)
with one dfu-util call per write, RUNS times. Prints each scale's runs, failures and the
median/max wall seconds, with the machine's load average.

    .venv/bin/python bench/box_dfu_util.py [RUNS] [SCALE ...]      # default: 20 runs, 0.02 0.05 0.1
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rig import platforms
from rig.firmware.dfu_writes import module_writes
from rig.firmware.release import ReleaseStore
from rig.sim import box_env
from testsupport.box import RIG
from testsupport.paths import FIRMWARE_DIR as FIRMWARE

DEVICES = """devices:
  - name: b
    platform: boron
    device_id: e00fa1b2c3d4e5f600000002
    hub: {location: "1-1", port: 1}
    sim: {device_os: "2.2.0"}
"""


def release_writes(folder: Path) -> list[tuple[int, int, Path]]:
    """The DFU writes of the Boron 4.0.1 release, each saved to a file for dfu-util."""
    release = ReleaseStore.scan(FIRMWARE).get("boron", "4.0.1")
    plat = platforms.by_name("boron")
    out = []
    for i, stored in enumerate(release.modules()):
        for w in module_writes(plat, stored.module):
            alt, address = w.alt, w.address
            path = folder / f"write{i}-{alt}-{address:x}.bin"
            path.write_bytes(w.data)
            out.append((alt, address, path))
    return out


def measure(scale: str, runs: int, folder: Path) -> tuple[list[float], int]:
    """Wall seconds of each successful run, and the number of failed ones."""
    devices, env_file = folder / "devices.yaml", folder / f"bench-{scale}.env"
    devices.write_text(DEVICES)
    serve = subprocess.Popen(
        [*RIG, "sim", "serve", str(devices), "--usb", "--env-file", str(env_file), "--time-scale", scale,
         "--releases", str(FIRMWARE)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not env_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        run = [*RIG, "sim", "exec", "--env-file", str(env_file), "--"]
        subprocess.run([*run, *RIG, "mode", "b", "dfu", "--devices", str(devices)], check=True, timeout=120)
        writes = release_writes(folder)
        env = box_env.with_preload({**os.environ, **box_env.read_env_file(env_file)})  # dfu-util alone is timed
        times, failed = [], 0
        for _ in range(runs):
            start = time.perf_counter()
            ok = all(
                subprocess.run(
                    ["dfu-util", "-d", "2b04:d00d", "-a", str(alt), "-s", f"0x{address:x}", "-D", str(path)],
                    capture_output=True, timeout=300, check=False, env=env,
                ).returncode == 0
                for alt, address, path in writes
            )  # fmt: skip
            if ok:
                times.append(time.perf_counter() - start)
            else:
                failed += 1
        return times, failed
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=30)


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    scales = sys.argv[2:] or ["0.02", "0.05", "0.1"]
    print(f"Boron 4.0.1 release over the real dfu-util, {runs} runs per time scale")
    print(f"{'scale':>6} {'ok':>4} {'failed':>6} {'median s':>9} {'max s':>7}")
    for scale in scales:
        with tempfile.TemporaryDirectory(prefix="rig-box-bench-") as tmp:
            times, failed = measure(scale, runs, Path(tmp))
        median = statistics.median(times) if times else float("nan")
        print(f"{scale:>6} {len(times):>4} {failed:>6} {median:>9.2f} {max(times, default=float('nan')):>7.2f}")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
