"""The shared fixtures: a pytest plugin, registered once by the root conftest.py (`pytest_plugins`)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from rig.firmware.release import ReleaseStore
from rig.sim.lab import Lab
from testsupport.paths import FIRMWARE_DIR


@pytest.fixture(scope="session")
def firmware_dir() -> Path:
    """The directory of real Particle binaries; tests using it skip when it is absent."""
    if not (FIRMWARE_DIR / "boron-system-part1@2.2.0.bin").is_file():
        if os.environ.get("RIG_FIRMWARE_DIR"):  # asked for by name: a wrong folder is a failure, not a skip
            pytest.fail(f"RIG_FIRMWARE_DIR={FIRMWARE_DIR} holds no real Particle binaries", pytrace=False)
        pytest.skip(f"real Particle binaries not found at {FIRMWARE_DIR} (set RIG_FIRMWARE_DIR)")
    return FIRMWARE_DIR


@pytest.fixture(scope="session")
def real_store(firmware_dir: Path) -> ReleaseStore:
    """The real releases in `firmware_dir`."""
    return ReleaseStore.scan(firmware_dir)


@pytest.fixture
def lab() -> Iterator[Lab]:
    """A simulated lab in instant time (time scale 0) with synthetic releases."""
    with Lab(time_scale=0) as sim:
        yield sim


@pytest.fixture
def real_lab(real_store: ReleaseStore) -> Iterator[Lab]:
    """A simulated lab in instant time (time scale 0) with the real releases."""
    with Lab(time_scale=0, releases=real_store) as sim:
        yield sim


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """An empty folder with a short path (under /tmp), removed afterwards: the TMPDIR of a child whose
    simulated lab puts its umockdev bus there (its sockets' paths may have 107 bytes at most; under
    pytest's tmp_path they do not fit, and the lab would fall back to the stand-ins).
    """
    folder = Path(tempfile.mkdtemp(prefix="rig-t", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)
