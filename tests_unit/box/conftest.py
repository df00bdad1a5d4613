"""The bench in a box for tests_unit/box (support code: testsupport.box)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from testsupport.box import Box, serve


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory, firmware_dir: Path) -> Iterator[Box]:
    """A Photon and a Boron on 2.3.1 (real releases), served on USB for the module's tests."""
    yield from serve(tmp_path_factory.mktemp("box"), firmware_dir)
