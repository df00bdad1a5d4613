"""Bench time of a night scheduled as chains vs. the naive order (issue 17: goal <= 0.55x).

Runs the matrix of the real binaries (../shared/firmware; dfu, serial, usb) on the simulated lab at
time scale 0 twice, `--rig-schedule naive` then `circuit`, and prints per schedule the modelled
seconds of the paths, of their set-up flashes (bringing a board to `from` first), the total, the
wall time, and the ratios; with the load average. Outcomes must be the same.

    .venv/bin/python bench/schedule.py [WORKERS]
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


def night(schedule: str, workers: str) -> tuple[dict[str, str], float, float, float]:
    """Outcomes by path, modelled path seconds, modelled set-up seconds, wall seconds."""
    with tempfile.TemporaryDirectory() as tmp:
        args = ["--rig-releases", str(FIRMWARE), "--rig-methods", "dfu,serial,usb", "--rig-report", tmp,
                "--rig-schedule", schedule]  # fmt: skip
        wall, _ = run_hil(args, tmp, workers, f"the {schedule} night")
        results = json.loads((Path(tmp) / "results.json").read_text())["results"]
    outcomes = {r["id"]: r["outcome"] for r in results}
    paths = sum(r["modelled_seconds"] for r in results)
    setups = sum(r["setup_modelled_seconds"] for r in results)
    return outcomes, paths, setups, wall


def main() -> None:
    if not FIRMWARE.is_dir():
        sys.exit(f"{FIRMWARE} is missing: this benchmark needs the real Device OS binaries.")
    workers = sys.argv[1] if len(sys.argv) > 1 else "2"
    figures = {schedule: night(schedule, workers) for schedule in ("naive", "circuit")}
    (naive_out, naive_paths, naive_setup, naive_wall) = figures["naive"]
    (circuit_out, circuit_paths, circuit_setup, circuit_wall) = figures["circuit"]
    print(f"{len(naive_out)} paths, {workers} workers, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    for name, (outcomes, paths, setup, wall) in figures.items():
        print(
            f"{name:8} modelled: paths {paths:8.0f} s + set-up {setup:7.0f} s = {paths + setup:8.0f} s; "
            f"wall {wall:6.1f} s; {dict(Counter(outcomes.values()))}"
        )
    ratio = (circuit_paths + circuit_setup) / (naive_paths + naive_setup)
    print(f"circuit / naive: modelled bench time {ratio:.2f}x (goal <= 0.55x), wall {circuit_wall / naive_wall:.2f}x")
    print(f"set-up share of the naive night: {naive_setup / (naive_paths + naive_setup):.0%}")
    if naive_out != circuit_out:
        changed = sorted(k for k in naive_out if naive_out[k] != circuit_out.get(k))
        sys.exit(f"outcomes differ between the schedules: {changed}")


if __name__ == "__main__":
    main()
