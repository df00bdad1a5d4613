"""Throughput of a matrix across two labgrid hosts (issue 18): the loopback lab (examples/labgrid-
loopback) brought up once, with 4 boards on 2 hosts, and the same matrix run with `-n 1`, then
`-n 4`; prints each run's wall seconds, Σ modelled bench seconds and outcomes, the ratio, and the
load average. The served benches run at time scale 1 by default (RIG_LOOPBACK_TIME_SCALE), where
the modelled hardware time, not the CPU, sets the pace, as on real boards.

    .venv/bin/python bench/labgrid_hosts.py OUTDIR
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("RIG_LOOPBACK_TIME_SCALE", "1")
sys.path.insert(0, str(ROOT / "examples" / "labgrid-loopback"))

import loopback  # noqa: E402  (the example's lab, after its time scale is chosen)

MATRIX = ["--platforms", "photon", "boron", "--methods", "dfu", "usb", "--from", "1.5.2", "2.3.1",
          "--to", "1.5.2", "2.3.1"]  # fmt: skip


def load() -> str:
    """The load average now."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main(argv: list[str]) -> int:
    """Bring the lab up, run the matrix with -n 1 and -n 4, print the figures."""
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(argv[0]).resolve()
    lab = loopback.Lab(out, ROOT / "tools" / "labgrid" / "venv" / "bin")
    walls: dict[int, float] = {}
    with lab.stack:
        coordinator, releases = lab.up()
        for workers in (1, 4):
            before = load()
            code, walls[workers] = lab.matrix(coordinator, releases, out / f"n{workers}", [*MATRIX, "-n", str(workers)])
            results = json.loads((out / f"n{workers}" / "results.json").read_text())["results"]
            modelled = sum(r["modelled_seconds"] + r["setup_modelled_seconds"] for r in results)
            outcomes = Counter(f"{r['host']} {r['outcome']}" for r in results)
            print(f"-n {workers}: exit {code}, {len(results)} paths, {walls[workers]:.1f} s wall, "
                  f"{modelled:.1f} s modelled, load {before} -> {load()}; {sorted(outcomes.items())}")  # fmt: skip
    print(f"throughput -n 4 / -n 1: {walls[1] / walls[4]:.2f}x (time scale {loopback.TIME_SCALE})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
