"""Runs `pytest tests_hil` on the simulated lab for the benchmarks, timed."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_hil(args: list[str], lock_dir: str, workers: str, what: str) -> tuple[float, str]:
    """Wall seconds and stdout of `pytest tests_hil -k test_path --rig-sim ARGS`; exits on failure."""
    cmd = [
        sys.executable, "-m", "pytest", str(ROOT / "tests_hil"), "-p", "no:cacheprovider", "-q",
        "-k", "test_path", "--rig-sim", "--rig-lock-dir", lock_dir, "-n", workers, *args,
    ]  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=3600, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{what} failed:\n{done.stdout[-3000:]}")
    return wall, done.stdout
