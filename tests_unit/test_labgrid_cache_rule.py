"""The exporter hosts' tmpfiles.d rule (examples/labgrid-host/rig-labgrid-cache.conf), applied by the
real systemd-tmpfiles to a copy of /var/cache/labgrid: release files unused for 30 days go, the
rest stay, and nothing outside the cache is touched."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from testsupport.paths import ROOT

RULE = ROOT / "examples" / "labgrid-host" / "rig-labgrid-cache.conf"
DAY = 86400.0


def _aged(path: Path, days: float) -> None:
    then = time.time() - days * DAY
    os.utime(path, (then, then))


@pytest.mark.skipif(shutil.which("systemd-tmpfiles") is None, reason="systemd-tmpfiles is not installed")
def test_release_files_unused_for_30_days_are_cleaned_and_the_rest_stay(tmp_path: Path) -> None:
    cache = tmp_path / "var" / "cache" / "labgrid"
    old = cache / "alice" / "aa11" / "system-part1.bin"
    recent = cache / "bob" / "bb22" / "system-part1.bin"
    read_lately = cache / "bob" / "cc33" / "tinker.bin"
    outside = tmp_path / "var" / "cache" / "other" / "kept.bin"
    for f in (old, recent, read_lately, outside):
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"\x00" * 16)
    for f in (old, old.parent, old.parent.parent, outside):
        _aged(f, 40)
    then = time.time() - 40 * DAY
    os.utime(read_lately, (time.time() - DAY, then))  # written long ago, read by yesterday's night
    done = subprocess.run(
        ["systemd-tmpfiles", "--clean", f"--root={tmp_path}", str(RULE)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert not old.exists() and not old.parent.parent.exists()  # the file and its emptied folders
    assert recent.exists() and read_lately.exists() and outside.exists()
    assert cache.is_dir()  # the cache folder itself stays, its mode untouched
