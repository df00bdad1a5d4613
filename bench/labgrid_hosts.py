"""Throughput of a matrix across two labgrid hosts (issue 18): the loopback lab (examples/labgrid-
loopback) brought up once, with 4 boards on 2 hosts, and the same matrix run with `-n 1`, then
`-n 4`; prints each run's wall seconds, Σ modelled bench seconds and outcomes, the ratio, and the
load average. The served benches run at time scale 1 by default (RIG_LOOPBACK_TIME_SCALE), where
the modelled hardware time, not the CPU, sets the pace, as on real boards.

By default the lab's 4 boards are Borons (2 per host) and the matrix is every ordered pair of
1.5.2, 2.3.1 and 4.0.1 over dfu, usb and serial (18 paths): work that 4 boards can share, so the
ratio shows how well the rig keeps them busy. `--mixed` keeps the loopback lab's Photon and Boron
on each host and its 8 paths (1.5.2 <-> 2.3.1, dfu and usb): there the Borons carry more work
than the Photons, so no schedule reaches 4x. The served boards boot at 2.3.1, which the places'
`device_os` tags say before the first run; the rig keeps them up to date after each path.

    .venv/bin/python bench/labgrid_hosts.py OUTDIR [--mixed]
    RIG_BENCH_WORKERS=4 .venv/bin/python bench/labgrid_hosts.py OUTDIR   # one run, -n 4 only
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("RIG_LOOPBACK_TIME_SCALE", "1")
WORKERS = [int(n) for n in os.environ.get("RIG_BENCH_WORKERS", "1 4").split()]  # one run per figure, in order
sys.path.insert(0, str(ROOT / "examples" / "labgrid-loopback"))

import loopback  # noqa: E402  (the example's lab, after its time scale is chosen)

from rig.labgrid.client import DEVICE_OS, LabgridClient  # noqa: E402

MIXED = ["--platforms", "photon", "boron", "--methods", "dfu", "usb", "--from", "1.5.2", "2.3.1",
         "--to", "1.5.2", "2.3.1"]  # fmt: skip
BORONS = ["--platforms", "boron", "--methods", "dfu", "usb", "serial"]  # every pair of its 3 releases
BORON_BOARDS = """\
devices:
  - name: {host}-boron-a
    platform: boron
    device_id: e00fa1b2c3d4e5f6000{n}0003
    hub: {{location: "1-1", port: 1}}
    sim: {{device_os: "2.3.1"}}
  - name: {host}-boron-b
    platform: boron
    device_id: e00fa1b2c3d4e5f6000{n}0004
    hub: {{location: "1-1", port: 2}}
    sim: {{device_os: "2.3.1"}}
"""
BOOTED = "2.3.1"  # what every served board runs when the lab comes up (the devices.yaml above and the lab's)


def load() -> str:
    """The load average now."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main(argv: list[str]) -> int:
    """Bring the lab up, run the matrix with -n 1 and -n 4, print the figures."""
    if len(argv) not in (1, 2) or argv[1:] not in ([], ["--mixed"]):
        print(__doc__, file=sys.stderr)
        return 2
    out, mixed = Path(argv[0]).resolve(), argv[1:] == ["--mixed"]
    labgrid_bin = ROOT / "tools" / "labgrid" / "venv" / "bin"
    lab = loopback.Lab(out, labgrid_bin, loopback.BOARDS if mixed else BORON_BOARDS)
    walls: dict[int, float] = {}
    with lab.stack:
        coordinator, releases = lab.up()
        client = LabgridClient(coordinator, program=str(labgrid_bin / "labgrid-client"))
        for place in client.places():
            client.set_tags(place, {DEVICE_OS: BOOTED})
        for workers in WORKERS:
            before = load()
            options = [*(MIXED if mixed else BORONS), "-n", str(workers)]
            code, walls[workers] = lab.matrix(coordinator, releases, out / f"n{workers}", options)
            results = json.loads((out / f"n{workers}" / "results.json").read_text())["results"]
            modelled = sum(r["modelled_seconds"] + r["setup_modelled_seconds"] for r in results)
            outcomes = Counter(f"{r['host']} {r['outcome']}" for r in results)
            print(f"-n {workers}: exit {code}, {len(results)} paths, {walls[workers]:.1f} s wall, "
                  f"{modelled:.1f} s modelled, load {before} -> {load()}; {sorted(outcomes.items())}")  # fmt: skip
    if walls.keys() == {1, 4}:
        print(f"throughput -n 4 / -n 1: {walls[1] / walls[4]:.2f}x (time scale {loopback.TIME_SCALE})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
