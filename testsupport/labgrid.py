"""labgrid's real programs for the tests (tools/labgrid/install): a coordinator on loopback (the
`coordinator` fixture, registered by the root conftest) and the client.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

TOOLS = Path(__file__).resolve().parents[1] / "tools" / "labgrid" / "venv" / "bin"
DEADLINE = 60.0  # wall seconds for labgrid to show a change (it reacts at once; this bounds a hang)


class Coordinator(str):
    """A coordinator's HOST:PORT, with the file its output goes to."""

    log: Path


def free_port() -> int:
    """A TCP port free on loopback now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def until(what: str, check: Callable[[], str | None]) -> str:
    """Poll `check` until it gives a value (bounded by DEADLINE)."""
    deadline = time.monotonic() + DEADLINE
    while (found := check()) is None:
        if time.monotonic() > deadline:
            raise AssertionError(f"labgrid never showed {what} within {DEADLINE:g} s")
        time.sleep(0.2)
    return found


def lg_client(address: str, *args: str, owner: str | None = None) -> subprocess.CompletedProcess[str]:
    """The real labgrid-client against `address` (as LG_USERNAME `owner`)."""
    env = {**os.environ, "LG_USERNAME": owner} if owner else None
    return subprocess.run(
        [TOOLS / "labgrid-client", "-x", address, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )


def start_coordinator(address: str, folder: Path) -> subprocess.Popen[bytes]:
    """A real labgrid-coordinator listening on `address`, its output in folder/log, once it answers."""
    with (folder / "log").open("wb") as log:
        process = subprocess.Popen(
            [TOOLS / "labgrid-coordinator", "-l", address],
            cwd=folder,
            stdout=log,
            stderr=log,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},  # its log is read by the tests
        )
    try:
        until("the coordinator", lambda: "up" if lg_client(address, "places").returncode == 0 else None)
    except BaseException:
        stop_coordinator(process)
        raise
    return process


def stop_coordinator(process: subprocess.Popen[bytes]) -> None:
    """End a coordinator `start_coordinator` started."""
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture(scope="module")
def coordinator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coordinator]:
    """A real labgrid-coordinator on loopback, in a folder of its own: its HOST:PORT."""
    if not (TOOLS / "labgrid-coordinator").exists():
        pytest.skip("labgrid is not installed: run tools/labgrid/install (CI does)")
    address = Coordinator(f"127.0.0.1:{free_port()}")
    folder = tmp_path_factory.mktemp("coordinator")
    address.log = folder / "log"
    process = start_coordinator(address, folder)
    try:
        yield address
    finally:
        stop_coordinator(process)
