"""labgrid's real coordinator, exporter and client against the bench in a box: `rig labgrid export`
gives the exporter each board's hub port and serial port, `rig labgrid places` makes the places,
and a reservation by tags finds them (docs/multi-host.md)."""

from __future__ import annotations

import ast
import re
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from testsupport.box import RIG, Box

TOOLS = Path(__file__).resolve().parents[2] / "tools" / "labgrid" / "venv" / "bin"
DEADLINE = 60.0  # wall seconds for labgrid to see a change (it reacts to the uevent at once)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _until(what: str, check: Callable[[], str | None]) -> str:
    """Poll `check` until it gives a value (bounded by DEADLINE)."""
    deadline = time.monotonic() + DEADLINE
    while (found := check()) is None:
        if time.monotonic() > deadline:
            raise AssertionError(f"labgrid never showed {what} within {DEADLINE:g} s")
        time.sleep(0.2)
    return found


@pytest.fixture(scope="module")
def coordinator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real labgrid-coordinator on loopback, in a folder of its own."""
    if not (TOOLS / "labgrid-coordinator").exists():
        pytest.skip("labgrid is not installed: run tools/labgrid/install (CI does)")
    address = f"127.0.0.1:{_free_port()}"
    folder = tmp_path_factory.mktemp("coordinator")
    with (folder / "log").open("wb") as log:
        process = subprocess.Popen([TOOLS / "labgrid-coordinator", "-l", address], cwd=folder, stdout=log, stderr=log)
    try:
        _until("the coordinator", lambda: "up" if _client(address, "places").returncode == 0 else None)
        yield address
    finally:
        process.terminate()
        process.wait(timeout=30)


def _client(address: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([TOOLS / "labgrid-client", "-x", address, *args],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip


def _resources(address: str, place: str) -> dict[str, dict[str, object]]:
    """`labgrid-client -p PLACE show`: each matching resource's class -> its dict."""
    text = _client(address, "-p", place, "show").stdout
    found = re.findall(r"^Matching resource '\w+' \([^)]*/(\w+)/\w+\):\n((?:  .*\n?)+)", text, re.M)
    return {cls: ast.literal_eval(body.strip()) for cls, body in found}


def _serial_path(address: str, place: str, avail: bool) -> str | None:
    port = _resources(address, place).get("NetworkSerialPort")
    if port is None or port["avail"] is not avail:
        return None
    return str(port["params"]["extra"]["path"]) if avail else "gone"  # type: ignore[index]


def test_export_and_places_give_labgrid_each_boards_hub_port_and_serial_port(
    box: Box, coordinator: str, tmp_path: Path
) -> None:
    out = tmp_path / "lg"
    made = box.run(*RIG, "labgrid", "export", str(box.devices), "--name", "bench1", "--out", str(out))
    assert "2 resource groups" in made.stdout and "2 places" in made.stdout
    with (tmp_path / "exporter.log").open("wb") as log:
        exporter = subprocess.Popen(
            [*RIG, "sim", "exec", "--env-file", str(box.env_file), "--",
             str(TOOLS / "labgrid-exporter"), "-c", coordinator, "-n", "bench1", str(out / "exporter.yaml")],
            stdout=log, stderr=log,
        )  # fmt: skip
    try:
        rig = [*RIG, "labgrid", "places", str(out / "places.yaml"), "--coordinator", coordinator]
        first = subprocess.run(rig, capture_output=True, text=True, timeout=120, check=True).stdout
        assert "b: created, +bench1/b/* platform=boron cloud=no" in first, first
        again = subprocess.run(rig, capture_output=True, text=True, timeout=120, check=True).stdout
        assert again.splitlines() == ["p: up to date", "b: up to date"]

        tty = _until("the Boron's serial port", lambda: _serial_path(coordinator, "b", True))
        assert re.fullmatch(r"/dev/ttyACM\d+", tty)
        power = _resources(coordinator, "b")["NetworkUSBPowerPort"]
        assert power["avail"] is True and power["params"]["index"] == 2 and power["params"]["path"] == "1-1"  # type: ignore[index]

        # the port off: the board leaves USB and labgrid sees its serial port go; on: it comes back
        box.run("uhubctl", "-l", "1-1", "-p", "2", "-a", "off")
        _until("the serial port gone", lambda: _serial_path(coordinator, "b", False))
        box.run("uhubctl", "-l", "1-1", "-p", "2", "-a", "on")
        back = _until("the serial port back", lambda: _serial_path(coordinator, "b", True))
        assert back != tty  # a new enumeration, a new ttyACM, matched by the port's ID_PATH

        # a reservation by the tags finds the Boron's place
        reserved = _client(coordinator, "reserve", "--wait", "--shell", "platform=boron", "cloud=no")
        token = re.search(r"LG_TOKEN=(\S+)", reserved.stdout)
        assert token, reserved.stdout + reserved.stderr
        listed = _client(coordinator, "-v", "reservations").stdout
        assert re.search(r"allocations:\s*\n\s*main: b\b", listed), listed
        _client(coordinator, "cancel-reservation", token.group(1))
    finally:
        exporter.terminate()
        exporter.wait(timeout=30)


def test_places_follow_a_changed_places_file(coordinator: str, tmp_path: Path) -> None:
    places = tmp_path / "places.yaml"
    places.write_text("x1:\n  matches: [h1/x1/*]\n  tags: {platform: argon, cloud: 'no', room: a}\n")
    rig = [*RIG, "labgrid", "places", str(places), "--coordinator", coordinator]
    subprocess.run(rig, capture_output=True, text=True, timeout=120, check=True)
    places.write_text("x1:\n  matches: [h2/x1/*]\n  tags: {platform: argon, cloud: 'yes'}\n")  # moved host, cloud
    done = subprocess.run(rig, capture_output=True, text=True, timeout=120, check=True).stdout
    assert done.strip() == "x1: +h2/x1/* -h1/x1/* room= cloud=yes", done
    shown = _client(coordinator, "-p", "x1", "show").stdout
    assert "tags: cloud=yes, platform=argon\n" in shown and "h2/x1/*" in shown and "h1/x1" not in shown
