"""rig labgrid export: udev matches and places from devices.yaml (the box test runs them for real:
tests_unit/box/test_labgrid.py); here the rules and the sentences for mistakes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from rig.cli import main
from rig.errors import ConfigError
from rig.inventory import Inventory
from rig.labgrid import export, remote
from rig.labgrid.client import PlaceState, parse_places

CONTROLLER = "pci-0000:00:14.0"
UDEV = {
    "1-1:1.0": f"{CONTROLLER}-usb-0:1:1.0",
    "1-1.4:1.0": f"{CONTROLLER}-usb-0:1.4:1.0",
    "1-0:1.0": f"{CONTROLLER}-usb-0:0:1.0",
}


def _inventory(*boards: dict[str, object]) -> Inventory:
    return Inventory.model_validate({"devices": list(boards)})


def _board(name: str, location: str, port: int, tags: list[str] | None = None) -> dict[str, object]:
    return {"name": name, "platform": "boron", "device_id": f"e00fce68a1b2c3d4e5f6{port:04x}",
            "hub": {"location": location, "port": port}, "tags": tags or []}  # fmt: skip


def test_each_board_gets_its_hub_port_and_the_serial_port_below_it() -> None:
    inv = _inventory(_board("b1", "1-1", 2), _board("b2", "1-1.4", 3), _board("b3", "1", 5))
    config = export.exporter_config(inv, UDEV.get)
    assert config["b1"] == {
        "USBPowerPort": {"match": {"ID_PATH": f"{CONTROLLER}-usb-0:1:1.0"}, "index": 2},
        "USBSerialPort": {"match": {"ID_PATH": f"{CONTROLLER}-usb-0:1.2:1.0"}, "speed": 115200},
    }
    assert config["b2"]["USBSerialPort"]["match"] == {"ID_PATH": f"{CONTROLLER}-usb-0:1.4.3:1.0"}
    # a board on the root hub (uhubctl -l 1): the root hub's interface is 1-0:1.0, the board is usb-0:5
    assert config["b3"]["USBPowerPort"]["match"] == {"ID_PATH": f"{CONTROLLER}-usb-0:0:1.0"}
    assert config["b3"]["USBSerialPort"]["match"] == {"ID_PATH": f"{CONTROLLER}-usb-0:5:1.0"}
    text = export.render_exporter(config, Path("devices.yaml"))
    assert text.startswith("## ") and yaml.safe_load(text) == config  # '##': a Jinja comment in labgrid's loader


def test_places_carry_platform_device_id_cloud_and_the_boards_tags() -> None:
    inv = _inventory(_board("b1", "1-1", 2, ["cloud", "room=lab2", "antenna"]), _board("b2", "1-1", 3))
    found = export.places(inv, "bench1")
    b1 = {
        "platform": "boron",
        "device_id": "e00fce68a1b2c3d4e5f60002",
        "cloud": "yes",
        "room": "lab2",
        "antenna": "yes",
    }
    assert found[0] == export.Place("b1", ("bench1/b1/*",), b1)
    assert found[1].tags == {"platform": "boron", "device_id": "e00fce68a1b2c3d4e5f60003", "cloud": "no"}


def test_a_client_reads_the_boards_back_from_the_places() -> None:
    """Without devices.yaml the boards are the places the rig made (their tags back to devices.yaml's)."""
    inv = _inventory(_board("b1", "1-1", 2, ["cloud", "room=lab2", "antenna"]), _board("b2", "1-1", 3))
    states = {
        p.name: PlaceState(tags={**p.tags, "service": "ok"}, matches=set(p.matches)) for p in export.places(inv, "h")
    }
    states["someone-elses"] = PlaceState(tags={"board": "imx8"}, matches={"h/x/*"})  # not a place the rig made
    boards = remote.place_boards(states)
    assert [(b.name, b.platform, b.device_id, sorted(b.tags)) for b in boards] == [
        ("b1", "boron", "e00fce68a1b2c3d4e5f60002", ["antenna", "cloud", "room=lab2"]),
        ("b2", "boron", "e00fce68a1b2c3d4e5f60003", []),
    ]
    assert remote.exporter_of(states["b1"]) == "h"
    with pytest.raises(ConfigError, match="no place the rig made: on each bench host run `rig labgrid export`"):
        remote.place_boards({"someone-elses": states["someone-elses"]})


@pytest.mark.parametrize(
    ("board", "look_up", "sentence"),
    [
        ({**_board("b1", "1-1", 2), "hub": None}, UDEV.get,
         "b1 has no hub port in devices.yaml: labgrid switches boards by hub port; add hub:."),
        (_board("b1", "1-3", 2), UDEV.get,
         "b1: hub 1-3 is not on this host's USB (no udev ID_PATH for 1-3:1.0): run rig labgrid export on the "
         "host the hub is plugged into, or fix its location."),
    ],
)  # fmt: skip
def test_a_board_labgrid_cannot_switch_is_one_sentence(board: dict[str, object], look_up, sentence: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError) as caught:
        export.exporter_config(_inventory(board), look_up)
    assert str(caught.value) == sentence


@pytest.mark.parametrize("tag", ["Room=a", "r=a", "room=-x"])
def test_a_tag_labgrid_refuses_is_named(tag: str) -> None:
    with pytest.raises(ConfigError, match=rf"b1: tag {tag} is not a labgrid tag .*rename it in devices.yaml\.$"):
        export.places(_inventory(_board("b1", "1-1", 2, [tag])), "bench1")


def test_places_round_trip_and_a_damaged_file_is_one_sentence(tmp_path: Path) -> None:
    found = export.places(_inventory(_board("b1", "1-1", 2, ["cloud"])), "bench1")
    path = tmp_path / "places.yaml"
    path.write_text(export.render_places(found, "bench1"))
    assert export.read_places(path) == ("bench1", found)
    path.write_text("exporter: bench1\nplaces:\n  b1: [1, 2]\n")
    with pytest.raises(ConfigError, match=r"places\.yaml is not a places file of rig labgrid export .*again\.$"):
        export.read_places(path)


def test_parse_places_reads_labgrid_clients_listing() -> None:
    text = (
        "Place 'b':\n  tags: cloud=no, platform=boron\n  matches:\n    h/b/*\n    h/b/NetworkSerialPort -> console\n"
        "  acquired: None\n  acquired resources:\n  created: 2026-12-02\nPlace 'e':\n  matches:\n  acquired: None\n"
    )
    found = parse_places(text)
    assert found["b"].tags == {"cloud": "no", "platform": "boron"}
    assert found["b"].matches == {"h/b/*", "h/b/NetworkSerialPort"}
    assert found["e"].tags == {} and found["e"].matches == set()


def test_export_of_a_hub_this_host_lacks_is_one_sentence(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    devices = tmp_path / "devices.yaml"
    devices.write_text(yaml.safe_dump({"devices": [_board("b1", "7-9.9.9.9", 2)]}))
    code = main(["labgrid", "export", str(devices), "--out", str(tmp_path / "lg")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("rig: error: b1: hub 7-9.9.9.9 is not on this host's USB"), err
    assert not (tmp_path / "lg").exists()  # nothing written for a host the file does not fit


@pytest.mark.parametrize("tag", ["platform=argon", "service=ok", "name=x"])
def test_a_tag_that_would_replace_the_rigs_own_is_refused(tag: str) -> None:
    with pytest.raises(ConfigError, match=rf"^b1: tag {tag} would replace the rig's own .* rename it\.$"):
        export.places(_inventory(_board("b1", "1-1", 2, [tag])), "bench1")


def test_a_board_name_labgrid_client_would_read_as_an_option_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"^board name '-b1' cannot name a labgrid place .*rename it in devices"):
        export.places(_inventory(_board("-b1", "1-1", 2)), "bench1")


def test_tags_whose_values_hold_a_comma_read_back_whole() -> None:
    text = "Place 'b':\n  tags: note=bay 3, shelf 2, platform=boron, x=a=b\n  matches:\n"
    assert parse_places(text)["b"].tags == {"note": "bay 3, shelf 2", "platform": "boron", "x": "a=b"}
