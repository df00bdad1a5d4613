"""Modelled hardware time of a full-release DFU on simulated boards (figures: docs/timing.md).

Writes every module of a release over raw DfuSe (bootloader through the OTA region and flag,
§5.6) on a board running the previous release, at time scale 0, and prints the modelled seconds
the DFU session took and the wall time the simulation needed.

    .venv/bin/python bench/sim_dfu_time.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rig.firmware.release import ReleaseStore
from rig.sim.lab import Lab
from testsupport.dfu import dfu_release
from testsupport.paths import FIRMWARE_DIR as FIRMWARE

CASES = [
    ("photon", "1.5.2", "2.3.1"),
    ("electron", "2.2.0", "2.3.1"),
    ("boron", "2.2.0", "4.0.1"),
    ("tracker", "2.2.0", "4.0.1"),
]


def main() -> None:
    store = ReleaseStore.scan(FIRMWARE) if FIRMWARE.is_dir() else None
    print(f"{'platform':<9} {'from':>6} {'to':>6} {'bytes':>8} {'modelled s':>11} {'wall s':>7}")
    for platform, old, new in CASES:
        with Lab(time_scale=0, releases=store) as lab:
            board = lab.add_board(platform, platform, old)
            release_modules = lab.release_modules(platform, new)
            size = sum(m.size for m in release_modules)
            release = store.get(platform, new) if store else None
            if release is None:
                print(f"{platform:<9} needs ../shared/firmware")
                continue
            t0 = time.perf_counter()
            modelled = dfu_release(lab, board, release)
            print(
                f"{platform:<9} {old:>6} {new:>6} {size:>8} {modelled:>11.1f} {time.perf_counter() - t0:>7.2f}"
                f"  -> {board.mode}, Device OS {board.system_version()}"
            )


if __name__ == "__main__":
    main()
