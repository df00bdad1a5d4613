"""Wall time of the whole matrix of the real binaries over dfu and serial (targets: under 60 s on
2 cores, modelled / wall >= 100, issue 19).

Runs `pytest tests_hil -k test_path` on the simulated lab at time scale 0 with the releases in
../shared/firmware, on 2 xdist workers, and prints the paths, outcomes, wall seconds, the modelled
seconds per wall second (Σ modelled / wall), then the CPU seconds per MB flashed through the
simulated USB (bench/usb_cpu.py: in this process through pyusb, and through the real dfu-util on
the bench in a box's umockdev bus), and the load average before and after
(os.getloadavg: another job on the machine slows the run, so a figure is only comparable with its load).

    .venv/bin/python bench/matrix_wall.py [WORKERS]
"""

from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
from collections import Counter
from pathlib import Path

from hil_run import run_hil
from usb_cpu import cpu_per_mb, report

FIRMWARE = Path(__file__).resolve().parent.parent.parent / "shared" / "firmware"


def main() -> None:
    if not FIRMWARE.is_dir():
        sys.exit(f"{FIRMWARE} is missing: this benchmark needs the real Device OS binaries.")
    workers = sys.argv[1] if len(sys.argv) > 1 else "2"
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        args = ["--rig-releases", str(FIRMWARE), "--rig-methods", "dfu,serial", "--rig-report", tmp]
        cpu0 = _children_cpu()
        wall, _ = run_hil(args, tmp, workers, "the matrix")
        cpu = _children_cpu() - cpu0
        results = json.loads((Path(tmp) / "results.json").read_text())["results"]
    outcomes = Counter(r["outcome"] for r in results)
    modelled = sum(r["modelled_seconds"] for r in results)
    print(f"{len(results)} paths on {workers} workers ({os.cpu_count()} CPUs): {dict(outcomes)}")
    print(f"wall {wall:.1f} s (target < 60 s); modelled hardware time {modelled / 3600:.2f} h")
    print(f"modelled / wall: {modelled:.1f} s / {wall:.1f} s = {modelled / wall:.1f} (target >= 100)")
    print(f"CPU of the run (every pytest process, user + system): {cpu:.1f} s, less sensitive to the load than wall")
    print(report(cpu_per_mb()))
    load_after = os.getloadavg()
    print(f"load average (1, 5, 15 min) before {fmt(load_before)}, after {fmt(load_after)}")


def _children_cpu() -> float:
    """User + system CPU seconds of the finished child processes (and theirs) so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def fmt(load: tuple[float, float, float]) -> str:
    """A load average as 'a / b / c'."""
    return " / ".join(f"{x:.2f}" for x in load)


if __name__ == "__main__":
    main()
