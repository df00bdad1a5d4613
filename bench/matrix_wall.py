"""Wall time of the whole matrix of the real binaries over dfu and serial (target: under 60 s on 2 cores).

Runs `pytest tests_hil -k test_path` on the simulated lab at time scale 0 with the releases in
../shared/firmware, on 2 xdist workers, and prints the paths, outcomes and wall seconds.

    .venv/bin/python bench/matrix_wall.py [WORKERS]
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

from hil_run import run_hil

FIRMWARE = Path(__file__).resolve().parent.parent.parent / "shared" / "firmware"


def main() -> None:
    if not FIRMWARE.is_dir():
        sys.exit(f"{FIRMWARE} is missing: this benchmark needs the real Device OS binaries.")
    workers = sys.argv[1] if len(sys.argv) > 1 else "2"
    with tempfile.TemporaryDirectory() as tmp:
        args = ["--rig-releases", str(FIRMWARE), "--rig-methods", "dfu,serial", "--rig-report", tmp]
        wall, _ = run_hil(args, tmp, workers, "the matrix")
        results = json.loads((Path(tmp) / "results.json").read_text())["results"]
    outcomes = Counter(r["outcome"] for r in results)
    modelled = sum(r["modelled_seconds"] for r in results)
    print(f"{len(results)} paths on {workers} workers ({os.cpu_count()} CPUs): {dict(outcomes)}")
    print(f"wall {wall:.1f} s (target < 60 s); modelled hardware time {modelled / 3600:.2f} h")


if __name__ == "__main__":
    main()
