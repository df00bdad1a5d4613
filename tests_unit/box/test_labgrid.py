"""labgrid's real coordinator, exporter and client against the bench in a box: `rig labgrid export`
gives the exporter each board's hub port and serial port, `rig labgrid places` makes the places,
and a reservation by tags finds them (docs/multi-host.md)."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

from testsupport.box import RIG, Box
from testsupport.labgrid import TOOLS, lg_client, until


def _resources(address: str, place: str) -> dict[str, dict[str, object]]:
    """`labgrid-client -p PLACE show`: each matching resource's class -> its dict."""
    text = lg_client(address, "-p", place, "show").stdout
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
        assert (
            "b: created, +bench1/b/* platform=boron device_id=e00fa1b2c3d4e5f600000002 cloud=no service=ok" in first
        ), first
        again = subprocess.run(rig, capture_output=True, text=True, timeout=120, check=True).stdout
        assert again.splitlines() == ["p: up to date", "b: up to date"]

        tty = until("the Boron's serial port", lambda: _serial_path(coordinator, "b", True))
        assert re.fullmatch(r"/dev/ttyACM\d+", tty)
        power = _resources(coordinator, "b")["NetworkUSBPowerPort"]
        assert power["avail"] is True and power["params"]["index"] == 2 and power["params"]["path"] == "1-1"  # type: ignore[index]

        # the port off: the board leaves USB and labgrid sees its serial port go; on: it comes back
        box.run("uhubctl", "-l", "1-1", "-p", "2", "-a", "off")
        until("the serial port gone", lambda: _serial_path(coordinator, "b", False))
        box.run("uhubctl", "-l", "1-1", "-p", "2", "-a", "on")
        back = until("the serial port back", lambda: _serial_path(coordinator, "b", True))
        assert back != tty  # a new enumeration, a new ttyACM, matched by the port's ID_PATH

        # a reservation by the tags finds the Boron's place
        reserved = lg_client(coordinator, "reserve", "--wait", "--shell", "platform=boron", "cloud=no")
        token = re.search(r"LG_TOKEN=(\S+)", reserved.stdout)
        assert token, reserved.stdout + reserved.stderr
        listed = lg_client(coordinator, "-v", "reservations").stdout
        assert re.search(r"allocations:\s*\n\s*main: b\b", listed), listed
        lg_client(coordinator, "cancel-reservation", token.group(1))
    finally:
        exporter.terminate()
        exporter.wait(timeout=30)


def test_places_follow_a_changed_places_file(coordinator: str, tmp_path: Path) -> None:
    places = tmp_path / "places.yaml"
    rig = [*RIG, "labgrid", "places", str(places), "--coordinator", coordinator]

    def apply(text: str, *extra: str) -> subprocess.CompletedProcess[str]:
        places.write_text(text)
        return subprocess.run([*rig, *extra], capture_output=True, text=True, timeout=120, check=False)

    h1 = "exporter: h1\nplaces:\n  x1:\n    matches: [h1/x1/*]\n    tags: {platform: argon, cloud: 'no', room: a}\n"
    assert apply(h1).returncode == 0
    moved = "exporter: h2\nplaces:\n  x1:\n    matches: [h2/x1/*]\n    tags: {platform: argon, cloud: 'yes'}\n"
    refused = apply(moved)  # another host's board of the same name must not take the place over
    assert refused.returncode == 2 and "place x1 belongs to another exporter (h1/x1/*)" in refused.stderr
    done = apply(moved, "--move").stdout
    assert done.strip() == "x1: +h2/x1/* -h1/x1/* room= cloud=yes", done
    shown = lg_client(coordinator, "-p", "x1", "show").stdout
    assert "tags: cloud=yes, platform=argon, service=ok\n" in shown and "h2/x1/*" in shown and "h1/x1" not in shown
    gone = apply("exporter: h2\nplaces: {}\n").stdout  # the board left h2's devices.yaml
    assert gone.strip() == "x1: deleted (no longer in the file)"
    assert "x1" not in lg_client(coordinator, "places").stdout
