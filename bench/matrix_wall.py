"""Wall time of the whole matrix of the real binaries over dfu and serial (target: under 60 s on 2 cores).

Runs `pytest tests_hil -k test_path` on the simulated lab at time scale 0 with the releases in
../shared/firmware, on 2 xdist workers, and prints the paths, outcomes and wall seconds.

    .venv/bin/python bench/matrix_wall.py [WORKERS]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIRMWARE = ROOT.parent / "shared" / "firmware"


def main() -> None:
    if not FIRMWARE.is_dir():
        sys.exit(f"{FIRMWARE} is missing: this benchmark needs the real Device OS binaries.")
    workers = sys.argv[1] if len(sys.argv) > 1 else "2"
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable, "-m", "pytest", str(ROOT / "tests_hil"), "-p", "no:cacheprovider", "-q",
            "-k", "test_path", "--rig-sim", "--rig-releases", str(FIRMWARE), "--rig-methods", "dfu,serial",
            "--rig-lock-dir", tmp, "--rig-report", tmp, "-n", workers,
        ]  # fmt: skip
        start = time.perf_counter()
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1800, check=False)
        wall = time.perf_counter() - start
        if done.returncode != 0:
            sys.exit(f"the matrix failed:\n{done.stdout[-3000:]}")
        results = json.loads((Path(tmp) / "results.json").read_text())["results"]
    outcomes = Counter(r["outcome"] for r in results)
    modelled = sum(r["modelled_seconds"] for r in results)
    print(f"{len(results)} paths on {workers} workers ({os.cpu_count()} CPUs): {dict(outcomes)}")
    print(f"wall {wall:.1f} s (target < 60 s); modelled hardware time {modelled / 3600:.2f} h")


if __name__ == "__main__":
    main()
