"""devices.yaml validation: each mistake is one sentence naming file, board, field and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from rig.errors import ConfigError
from rig.inventory import load_inventory

GOOD = """devices:
  - name: boron-1
    platform: Boron
    device_id: E00FCE68A1B2C3D4E5F60718
    hub: {location: "1-1", port: 2}
    tags: [cellular]
    sim: {device_os: v2.2.0, online: true}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "devices.yaml"
    path.write_text(text)
    return path


def test_example_bench_and_normalisation(tmp_path: Path) -> None:
    inv = load_inventory(write(tmp_path, GOOD))
    d = inv.devices[0]
    assert (d.platform, d.device_id, d.hub and d.hub.port, d.sim.device_os) == (
        "boron",
        "e00fce68a1b2c3d4e5f60718",
        2,
        "2.2.0",
    )
    assert load_inventory(Path(__file__).resolve().parent.parent / "devices.yaml").devices


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD.replace("platform: Boron", "platform: toaster"), "board 'boron-1', field 'platform': Unknown platform"),
        (GOOD.replace("E00FCE68A1B2C3D4E5F60718", "E00F"), "field 'device_id': must be the 24 hex digits"),
        (
            GOOD.replace("E00FCE68A1B2C3D4E5F60718", "123456789012345678901234"),
            '123456789012345678901234 was read as a number (all digits): quote it, device_id: "1234',
        ),
        (GOOD.replace("tags:", "colour: red\n    tags:"), "field 'colour': unknown key"),
        (GOOD.replace('"1-1"', '"1-1; rm -rf /"'), "field 'hub.location': String should match pattern"),
        (GOOD.replace("port: 2", "port: 99"), "field 'hub.port'"),
        (GOOD.replace("v2.2.0", "9.9.9"), "field 'sim.device_os': Device OS 9.9.9 is not in the version table"),
        (GOOD + GOOD.split("devices:\n")[1], "boards 'boron-1' and 'boron-1' have the same name"),
        ("devices: [\n", "is not valid YAML at line"),
        ("boards: []\n", "has no 'devices:' list"),
    ],
)
def test_mistakes_are_one_sentence(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_inventory(write(tmp_path, text))
    assert message in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"devices:\n  - name: \xff\xfe\n", "is not UTF-8 text (byte 19); save it as UTF-8."),
        (b"a: " + b"[" * 5000 + b"]" * 5000 + b"\n", "nests too deeply to be a devices.yaml"),
    ],
)
def test_a_file_that_is_not_yaml_text_is_one_sentence(tmp_path: Path, data: bytes, message: str) -> None:
    path = tmp_path / "devices.yaml"
    path.write_bytes(data)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_inventory(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist; pass --devices FILE"):
        load_inventory(tmp_path / "nope.yaml")


def test_the_docs_list_every_simulated_fault() -> None:
    """devices.yaml's comment and the README name each `sim: faults:` key the inventory accepts."""
    from rig.inventory import SIM_FAULTS

    root = Path(__file__).resolve().parents[1]
    example, readme = (root / "devices.yaml").read_text(), (root / "README.md").read_text()
    for fault in SIM_FAULTS:
        assert f"#   {fault}:" in example.replace("#     ", "#   "), fault
        assert f"`{fault}:" in readme, fault
