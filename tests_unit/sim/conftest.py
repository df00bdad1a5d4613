from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rig.firmware.release import ReleaseStore
from rig.sim.lab import Lab


@pytest.fixture(scope="session")
def real_store(firmware_dir: Path) -> ReleaseStore:
    return ReleaseStore.scan(firmware_dir)


@pytest.fixture
def lab() -> Iterator[Lab]:
    with Lab(time_scale=0) as sim:
        yield sim


@pytest.fixture
def real_lab(real_store: ReleaseStore) -> Iterator[Lab]:
    with Lab(time_scale=0, releases=real_store) as sim:
        yield sim
