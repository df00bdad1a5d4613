"""Matrix throughput with 4 simulated boards: `-n 4` against `-n 1` (target: at least 3.5x).

Runs the DFU matrix of four platforms (one offline board each on the default simulated bench)
through pytest at a time scale where modelled hardware time dominates, so the figure shows how
well the rig keeps boards busy (board locks, xdist scheduling), not how fast Python is.

    .venv/bin/python bench/parallel_throughput.py [TIME_SCALE]
"""

from __future__ import annotations

import sys
import tempfile

from hil_run import run_hil

PLATFORMS = "photon,electron,argon,boron"


def run(workers: int, scale: float) -> tuple[float, int]:
    """Wall seconds and passed paths of one pytest run."""
    with tempfile.TemporaryDirectory() as locks:
        args = ["--rig-platforms", PLATFORMS, "--rig-methods", "dfu", "--rig-time-scale", str(scale)]
        wall, stdout = run_hil(args, locks, str(workers), f"pytest -n {workers}")
    passed = int(stdout.split(" passed")[0].split()[-1])
    return wall, passed


def main() -> None:
    scale = float(sys.argv[1]) if len(sys.argv) > 1 else 0.05
    print(f"DFU matrix of {PLATFORMS} at time scale {scale}")
    one_wall, one_paths = run(1, scale)
    four_wall, four_paths = run(4, scale)
    print(f"-n 1: {one_paths} paths in {one_wall:.1f} s ({one_paths / one_wall * 60:.1f} paths/min)")
    print(f"-n 4: {four_paths} paths in {four_wall:.1f} s ({four_paths / four_wall * 60:.1f} paths/min)")
    print(f"throughput ratio -n 4 / -n 1: {(four_paths / four_wall) / (one_paths / one_wall):.2f}x (target 3.5x)")


if __name__ == "__main__":
    main()
