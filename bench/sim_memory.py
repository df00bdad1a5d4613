"""Memory per simulated board: RSS growth of a lab of 100 and of 1000 boards (figures: docs/fidelity.md).

Each size runs in a fresh Python process (so the sizes do not share freed memory): it builds a
simulated lab with the real releases in ../shared/firmware (synthetic ones when absent), loads
every release the boards will run, notes VmRSS, adds the boards (mixed platforms, each
factory-programmed with a full release and booted), and notes VmRSS again. Prints the growth per
board, the flash pages the boards hold (all, and those no other board shares), and the machine's
load average. `--trace N` prints instead the 12 source lines tracemalloc charges most for N boards
(tracemalloc's own bookkeeping inflates RSS, so it is never on while RSS is measured). The P2 runs
a synthetic release without a user part, so it boots into safe mode, as such a board would.

    .venv/bin/python bench/sim_memory.py [SIZES...]      # default: 100 1000
    .venv/bin/python bench/sim_memory.py --trace 300
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rig.firmware.release import ReleaseStore
from rig.sim.lab import Lab
from testsupport.paths import FIRMWARE_DIR

MIXED = [
    ("photon", "2.3.1"),
    ("electron", "2.3.1"),
    ("p1", "2.3.1"),
    ("argon", "4.0.1"),
    ("boron", "4.0.1"),
    ("bsom", "2.2.0"),
    ("tracker", "4.0.1"),
    ("p2", "5.6.0"),
]


def vm_rss_kib() -> int:
    """Resident set size of this process in KiB (/proc/self/status VmRSS)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def flash_bytes(lab: Lab) -> tuple[int, int]:
    """(bytes the boards' flash banks hold as allocated pages, of which not shared with another board)."""
    seen: set[int] = set()
    total = own = 0
    for slot in lab.slots.values():
        mem = slot.board.mem
        for bank in (mem.internal, mem.dct, mem.external):
            if bank is None:
                continue
            for page in bank.pages.values():
                total += len(page)
                if id(page) not in seen:
                    seen.add(id(page))
                    own += len(page)
    return total, own


def add_boards(lab: Lab, boards: int) -> None:
    """Plug `boards` boards in, round robin over MIXED, and let them boot."""
    for i in range(boards):
        platform, version = MIXED[i % len(MIXED)]
        lab.add_board(f"{platform}-{i}", platform, version, hub=f"1-{1 + i // 90}")
    lab.settle(10.0)


def lab_ready() -> Lab:
    """An installed lab with every release of MIXED parsed and one board added (so only boards are measured)."""
    store = ReleaseStore.scan(FIRMWARE_DIR) if FIRMWARE_DIR.is_dir() else None
    lab = Lab(time_scale=0, releases=store).install()
    for platform, version in MIXED:
        lab.release_modules(platform, version)
    lab.add_board("warm-up", "boron", "4.0.1")
    return lab


def measure(boards: int) -> dict[str, float | str | bool]:
    """Build a lab of `boards` boards in this process; the figures as a dict."""
    lab = lab_ready()
    try:
        before = vm_rss_kib()
        add_boards(lab, boards)
        after = vm_rss_kib()
        modes = sorted({str(s.board.mode) for s in lab.slots.values()})
        total, own = flash_bytes(lab)
    finally:
        lab.uninstall()
    return {
        "boards": boards,
        "rss_before_mib": before / 1024,
        "rss_after_mib": after / 1024,
        "per_board_kib": (after - before) / boards,
        "flash_pages_per_board_kib": total / (boards + 1) / 1024,
        "flash_unshared_per_board_kib": own / (boards + 1) / 1024,
        "modes": ",".join(modes),
        "real_releases": lab.releases is not None,
    }


def trace(boards: int) -> None:
    """Print the source lines tracemalloc charges most for adding `boards` boards."""
    lab = lab_ready()
    try:
        tracemalloc.start()
        before = tracemalloc.take_snapshot()
        add_boards(lab, boards)
        after = tracemalloc.take_snapshot()
    finally:
        lab.uninstall()
    print(f"top allocations for {boards} boards (per board):")
    for stat in after.compare_to(before, "lineno")[:12]:
        print(f"{stat.size_diff / boards / 1024:>8.1f} KiB  {stat.traceback}")


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        print(json.dumps(measure(int(sys.argv[2]))))
        return
    if len(sys.argv) == 3 and sys.argv[1] == "--trace":
        trace(int(sys.argv[2]))
        return
    sizes = [int(a) for a in sys.argv[1:]] or [100, 1000]
    print(f"platforms (round robin): {', '.join(f'{p} {v}' for p, v in MIXED)}")
    print(f"{'boards':>6} {'RSS before':>11} {'RSS after':>10} {'RSS/board':>10}", end="")
    print(f" {'flash pages/board':>18} {'unshared':>9}")
    for n in sizes:
        out = subprocess.run([sys.executable, __file__, "--child", str(n)], capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"{n:>6} {r['rss_before_mib']:>7.1f} MiB {r['rss_after_mib']:>6.1f} MiB {r['per_board_kib']:>6.0f} KiB"
            f" {r['flash_pages_per_board_kib']:>14.0f} KiB {r['flash_unshared_per_board_kib']:>5.0f} KiB"
            f"   modes: {r['modes']}" + ("" if r["real_releases"] else "  (synthetic releases)")
        )
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
