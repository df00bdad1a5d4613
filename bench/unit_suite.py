"""The unit suite's wall time and each xdist worker's peak memory (issue 19 item 5: under 3 minutes
on a quiet 2-core machine, under 600 MB per worker).

Runs `python -m pytest` (pyproject's options: tests_unit/, `-n 3`) with this file as a plugin that
notes each process's VmHWM (peak resident set, /proc/self/status) when its session ends, then prints
the wall time, pytest's last line, the peak of each worker, the load average before and after, and
the machine's speed before and after (the CPU seconds of a fixed loop, best of three: on a shared
virtual machine the same suite's time varies with it by a third).
Extra arguments go to pytest (`--durations=40` prints the slowest tests too).

    .venv/bin/python bench/unit_suite.py [PYTEST ARGS...]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OUT_ENV = "RIG_BENCH_PEAKS"  # the file each pytest process appends its peak to


def vm_hwm_mib() -> int:
    """Peak resident set size of this process in MiB (/proc/self/status VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def pytest_sessionfinish(session: pytest.Session) -> None:
    """As a pytest plugin: append `worker peak-MiB` to the file the bench named."""
    out = os.environ.get(OUT_ENV)
    if out:
        with open(out, "a") as f:
            f.write(f"{os.environ.get('PYTEST_XDIST_WORKER', 'controller')} {vm_hwm_mib()}\n")


def load() -> str:
    """The 1, 5 and 15 minute load averages."""
    return " / ".join(Path("/proc/loadavg").read_text().split()[:3])


def speed() -> float:
    """CPU seconds one fixed loop takes here now, best of three (lower is faster)."""
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        sum(range(30_000_000))
        best = min(best, time.process_time() - start)
    return best


def main(argv: list[str]) -> int:
    """Run the suite once and print its figures; the exit code is pytest's."""
    with tempfile.TemporaryDirectory() as tmp:
        peaks = Path(tmp) / "peaks.txt"
        env = {**os.environ, OUT_ENV: str(peaks), "PYTHONPATH": os.pathsep.join([str(ROOT / "bench"), str(ROOT)])}
        before, fast_before = load(), speed()
        start = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "unit_suite", "-q", *argv],
            cwd=ROOT, env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        wall = time.monotonic() - start
        lines = done.stdout.strip().splitlines()
        rows = sorted(peaks.read_text().split("\n")[:-1]) if peaks.exists() else []
    print(f"unit suite: {wall:.0f} s wall, exit {done.returncode}: {lines[-1] if lines else done.stderr[-500:]}")
    timed = False
    for line in lines:
        timed = timed or ("slowest" in line and "durations" in line)  # --durations=N: pytest's table of the slowest
        if timed or line.startswith(("FAILED ", "ERROR ")):  # -ra's short summary: what failed, with the reason
            print(f"  {line}")
        timed = timed and bool(line.strip())
    for row in rows:
        worker, mib = row.split()
        print(f"  peak RSS {worker}: {mib} MiB")
    print(f"load average (1 / 5 / 15 min): {before} before, {load()} after; {os.cpu_count()} CPUs")
    print(f"machine speed (CPU s of a fixed loop, lower is faster): {fast_before:.2f} before, {speed():.2f} after")
    return done.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
