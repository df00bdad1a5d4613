"""rig.assemble: devices.yaml -> the Devices of a real bench, or a simulated lab of the same boards
and the Devices that reach them; the CLI and the pytest plugin get the same bench from it."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rig import assemble
from rig.board_settings import BOARD_FAULTS, BoardSettings, Faults
from rig.cli.bench import command_bench
from rig.clock import SystemClock
from rig.device import Device, HubPort, Mode
from rig.inventory import load_inventory
from rig.sim.lab import Lab

BENCH = """devices:
  - name: boron-1
    platform: boron
    device_id: e00fce68a1b2c3d4e5f60718
    hub: {location: "1-2", port: 4}
    swd_probe: probe-7
    tags: [cloud]
    sim: {device_os: 2.2.0, online: true, heal: false, setup_done: false, imei: "352753090000001",
          iccid: "8934076500002587657", ncp_version: 3,
          faults: {stuck: true, ymodem_nak_packets: 2, uhubctl_hangs: 1, cloud_offline: true}}
  - name: photon-1
    platform: photon
    device_id: 3a0027000547343233323032
    sim: {device_os: 1.5.2}
"""


def identity(dev: Device) -> tuple[object, ...]:
    """What a Device knows of its board, without the clock and the cloud client."""
    return (dev.name, dev.device_id, dev.platform.name, dev.hub, dev.serial_url, dev.swd_probe)


def as_json(dev: Device) -> list[object]:
    """identity() as JSON, with whether the Device has a cloud client."""
    hub = [dev.hub.location, dev.hub.port] if dev.hub else None
    return [dev.name, dev.device_id, dev.platform.name, hub, dev.serial_url, dev.swd_probe, dev.cloud is not None]


@pytest.fixture
def devices_yaml(tmp_path: Path) -> Path:
    path = tmp_path / "devices.yaml"
    path.write_text(BENCH)
    return path


def test_the_simulated_bench_has_the_real_benchs_devices_on_boards_set_up_as_devices_yaml_says(
    devices_yaml: Path,
) -> None:
    specs = load_inventory(devices_yaml).devices
    real = assemble.open_bench(specs, sim=False)
    assert real.lab is None and isinstance(real.clock, SystemClock)
    assert identity(real.devices["boron-1"]) == (
        "boron-1",
        "e00fce68a1b2c3d4e5f60718",
        "boron",
        HubPort("1-2", 4),
        None,
        "probe-7",
    )
    sim = assemble.open_bench(specs, sim=True)
    try:
        assert sim.lab is not None
        assert {n: identity(d) for n, d in sim.devices.items()} == {n: identity(d) for n, d in real.devices.items()}
        assert all(d.clock is sim.lab.clock and d.cloud is not None for d in sim.devices.values())
        boron = sim.lab.board("boron-1")
        assert boron.settings == BoardSettings(
            online=True,
            heal=False,
            setup_done=False,
            imei="352753090000001",
            iccid="8934076500002587657",
            ncp_version=3,
            swd_probe="probe-7",
        )
        assert (boron.faults.stuck, boron.faults.ymodem_nak_packets) == (True, 2)
        assert sim.lab.hubs.hub("1-2").hang == 1 and sim.lab.cloud.reachable is False
        assert (sim.lab.slots["photon-1"].hub, sim.lab.board("photon-1").system_version()) == (
            assemble.DEFAULT_HUB,
            "1.5.2",
        )
        assert sim.devices["boron-1"].mode() == Mode.LISTENING  # reached through the seams; setup not done (§6.10)
    finally:
        sim.close()


@pytest.mark.parametrize("fault", BOARD_FAULTS)
def test_every_board_fault_of_devices_yaml_reaches_the_simulated_board(tmp_path: Path, fault: str) -> None:
    default = getattr(Faults(), fault)
    value = not default if isinstance(default, bool) else 3
    path = tmp_path / "devices.yaml"
    path.write_text(
        "devices:\n  - {name: b, platform: argon, device_id: e00fce68a1b2c3d4e5f60718, "
        f"sim: {{faults: {{{fault}: {json.dumps(value)}}}}}}}\n"
    )
    lab = assemble.simulated_lab(load_inventory(path).devices)
    assert getattr(lab.board("b").faults, fault) == value


def test_a_board_plugged_in_by_hand_is_reached_like_a_devices_yaml_board(lab: Lab) -> None:
    board = lab.add_board("b", "boron", "2.2.0", hub="1-3", port=5, settings=BoardSettings(swd_probe="p1"))
    dev = assemble.simulated_device(lab, "b")
    assert identity(dev) == ("b", board.device_id, "boron", HubPort("1-3", 5), None, "p1")
    assert dev.clock is lab.clock and dev.mode() == Mode.NORMAL


PLUGIN_DUMP = f"""from __future__ import annotations
import json, os

{inspect.getsource(as_json)}

def test_dump(rig_session):
    with open(os.environ["RIG_TEST_DUMP"], "w") as f:
        json.dump({{name: as_json(dev) for name, dev in rig_session.devices().items()}}, f)
"""


def test_the_cli_and_the_plugin_open_the_same_bench_from_one_devices_yaml(devices_yaml: Path, tmp_path: Path) -> None:
    (tmp_path / "test_dump.py").write_text(PLUGIN_DUMP)
    dump = tmp_path / "plugin.json"
    argv = [sys.executable, "-m", "pytest", str(tmp_path / "test_dump.py"), "--rig-sim", "--rig-devices"]
    argv += [str(devices_yaml), "-p", "no:cacheprovider", "-q", "-n", "0", "-c", os.devnull, "--rootdir", str(tmp_path)]
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=120, check=False, env={**os.environ, "RIG_TEST_DUMP": str(dump)}
    )
    assert done.returncode == 0, done.stdout + done.stderr
    bench = command_bench(str(devices_yaml), sim=True)
    try:
        cli = {name: as_json(dev) for name, dev in bench.devices.items()}
    finally:
        bench.close()
    assert json.loads(dump.read_text()) == cli and set(cli) == {"boron-1", "photon-1"}
    assert cli["boron-1"][-1] is True  # both paths give the simulated bench its cloud
