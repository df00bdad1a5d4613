"""The Particle CLI tier: particle-cli 3.51 (tools/particle-cli/install) against the bench in a box.

Its own pytest run (`pytest tests_cli`, after the install script; .ci/run does both): node needs
real time, so the bench runs at time scale 0.5 here.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from testsupport.box import Box, serve

CLI_BIN = Path(__file__).resolve().parent.parent / "tools" / "particle-cli" / "node_modules" / ".bin"


@pytest.fixture(scope="module")
def cli_box(
    tmp_path_factory: pytest.TempPathFactory, firmware_dir: Path, monkeypatch_module: pytest.MonkeyPatch
) -> Iterator[Box]:
    """A Photon and a Boron on 2.3.1 served on USB, with particle-cli 3.51 and its node first on PATH."""
    if not (CLI_BIN / "particle").exists() or not (CLI_BIN / "node").exists():
        pytest.skip("particle-cli is not installed: run tools/particle-cli/install")
    monkeypatch_module.setenv("PATH", f"{CLI_BIN}:{os.environ['PATH']}")
    yield from serve(tmp_path_factory.mktemp("cli"), firmware_dir, time_scale="0.5")


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    """A monkeypatch that lasts for a module."""
    with pytest.MonkeyPatch.context() as patch:
        yield patch
