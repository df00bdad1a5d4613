"""rig.transport.hub (parser, real and fake uhubctl, verified power changes) and rig.transport.cloud."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from rig.device.power import BoardNotBackError, PortNotCutError, cycle, power_cut
from rig.firmware.build import build
from rig.firmware.synthetic import user_app
from rig.sim.board import BoardSettings, Mode
from rig.sim.lab import Lab
from rig.transport import usb as tusb
from rig.transport.cloud import CloudAuthError, CloudClient, CloudError, CloudNotFoundError, CloudOfflineError
from rig.transport.errors import TimeoutError_, ToolError
from rig.transport.hub import HubNotFoundError, HubPermissionError, Uhubctl, UhubctlPort, parse
from testsupport.programs import AS_NOBODY, real_uhubctl_bus
from testsupport.uhubctl_samples import SAMPLES


def test_parser_reads_every_real_sample() -> None:
    hubs = parse(SAMPLES)
    assert [(h.location, h.vid_pid, h.usb, h.ports, h.mode) for h in hubs] == [
        ("1-1", "14b0:013f", "2.10", 5, "ppps"),
        ("3-4", "1a40:0101", "2.00", 4, "ganged"),
        ("2-2", "0bda:0411", "3.20", 4, "ppps"),
        ("1", "1d6b:0002", "2.00", 1, "ppps"),
        ("1-1", "0424:9514", "2.00", 5, "ppps"),
    ]
    first = hubs[0].port_lines
    assert [(p.number, p.powered, p.connected) for p in first] == [
        (1, False, False),
        (2, True, False),
        (3, True, True),
        (4, True, True),
        (5, True, True),
    ]
    assert first[2].description == "2581:3b7c Ledger Ledger Wallet 0000" and first[4].description == ""
    usb3 = hubs[2].port_lines
    assert [(p.powered, p.words[-1]) for p in usb3] == [(True, "Rx.Detect"), (False, "off"), (True, "connect")]
    assert hubs[4].port_lines[1].description.startswith("2109:2822 VIA Labs, Inc.")


@pytest.mark.skipif(not os.path.exists("/usr/sbin/uhubctl"), reason="uhubctl is not installed")
def test_real_uhubctl_without_a_hub_is_one_sentence() -> None:
    with pytest.raises(HubNotFoundError) as info:
        Uhubctl("/usr/sbin/uhubctl").status("1-1")
    assert str(info.value) == (
        "No USB hub with per-port power switching at location 1-1: check the hub location in "
        "devices.yaml against `uhubctl` output."
    )


def test_missing_uhubctl_names_the_package() -> None:
    with pytest.raises(ToolError, match=r"not installed: install it \(apt-get install uhubctl\)"):
        Uhubctl("uhubctl-that-does-not-exist").status()


def test_verified_cycle_and_faults(lab: Lab) -> None:
    board = lab.add_board("b", "boron", "2.3.1", hub="1-1", port=2)
    hub = Uhubctl()
    port = UhubctlPort(hub, "1-1", 2)
    present = lambda: tusb.find(board.device_id) is not None  # noqa: E731
    cycle(port, lab.clock, present)
    assert board.mode == Mode.NORMAL and board.boots == 2  # the lab start, then the power cycle
    board.faults.port_keeps_power = True
    with pytest.raises(PortNotCutError, match="Hub 1-1 port 2 did not cut power"):
        cycle(port, lab.clock, present)
    board.faults.port_keeps_power = False
    board.faults.stuck = True
    with pytest.raises(BoardNotBackError, match="did not come back on USB"):
        cycle(port, lab.clock, present, timeout=10)
    assert lab.hubs.hub("1-1").is_on(2)  # power restored


def test_a_permission_problem_names_the_fix(tmp_path: Path) -> None:
    # the real uhubctl, run as another user (it names the problem only to a user other than root:
    # uhubctl.c, geteuid), on a bus whose device nodes only root may open for writing
    with Lab(time_scale=0) as lab:
        bus = real_uhubctl_bus(lab)
        umask = os.umask(0)  # the hub's node made 0666: opening the bus must still keep it to root
        try:
            lab.add_board("b", "boron", "2.3.1", hub="1-1", port=2)
        finally:
            os.umask(umask)
        bus.admit_other_users()
        as_nobody = tmp_path / "uhubctl"
        as_nobody.write_text(f'#!/bin/sh\nexec {" ".join(AS_NOBODY)} uhubctl "$@"\n')
        as_nobody.chmod(0o755)
        with pytest.raises(HubPermissionError, match="run as root"):
            Uhubctl(program=str(as_nobody)).status("1-1")


@pytest.mark.stand_in
def test_the_stand_in_names_a_permission_problem_as_uhubctl_does() -> None:
    # the stand-in's words follow uhubctl.c (v2.5.0, usb_find_hubs), checked in tests_unit/sim/test_uhubctl.py
    with Lab(time_scale=0, real_programs=False) as lab:
        lab.add_board("b", "boron", "2.3.1", hub="1-1", port=2)
        lab.hubs.permission = False
        with pytest.raises(HubPermissionError, match="run as root"):
            Uhubctl().status("1-1")


def test_hanging_uhubctl_times_out_and_power_comes_back(lab: Lab) -> None:
    board = lab.add_board("b", "boron", "2.3.1", hub="1-1", port=2)
    lab.hubs.hub("1-1").hang = 1  # the next call hangs
    port = UhubctlPort(Uhubctl(timeout=1.0), "1-1", 2)
    with pytest.raises(TimeoutError_, match="did not finish within 1 s"), power_cut(port):
        pytest.fail("the block must not run when the switch-off failed")
    # uhubctl hung (after switching the port off, or, on a loaded machine, killed before it got that
    # far); power_cut then sent an explicit `-a on` with the default timeout, so the port is on
    assert lab.hubs.hung.is_set()
    assert lab.hubs.hub("1-1").is_on(2) and board.powered
    lab.hubs.hub("1-1").hang = False
    lab.settle(3)
    assert board.mode == Mode.NORMAL


def test_cloud_client(lab: Lab) -> None:
    board = lab.add_board("b", "boron", "2.3.1", settings=BoardSettings(online=True))
    lab.settle(5)
    cloud = CloudClient()
    assert cloud.device(board.device_id)["system_firmware_version"] == "2.3.1"
    events = cloud.events(board.device_id)
    cloud.flash(board.device_id, build(user_app("boron", 2302, seed=4)))
    lab.settle(30)
    cloud.wait_online(board.device_id, lab.clock)
    # the events come over a real HTTP stream, in wall time: block on the stream's queue for them
    names = [f"{e.name}={e.data}" for e in (events.queue.get(timeout=60) for _ in range(2))]
    events.close()
    assert names[:2] == ["spark/flash/status=started", "spark/flash/status=success"]
    with pytest.raises(CloudNotFoundError):
        cloud.device("0" * 24)
    offline = lab.add_board("o", "boron", "2.3.1")
    with pytest.raises(CloudOfflineError, match="is not connected to the cloud"):
        cloud.flash(offline.device_id, build(user_app("boron", 2302)))
    with pytest.raises(CloudAuthError, match="rejected the access token"):
        CloudClient(token="wrong").device(board.device_id)
    lab.cloud.reachable = False
    with pytest.raises(CloudError, match="Cannot reach the cloud"):
        cloud.device(board.device_id)


def test_a_closed_event_stream_ends_on_both_sides(lab: Lab) -> None:
    board = lab.add_board("b", "boron", "2.3.1", settings=BoardSettings(online=True))
    lab.settle(5)
    cloud = CloudClient()
    before = set(threading.enumerate())
    for _ in range(3):
        cloud.events(board.device_id).close()
    # the reader threads and the cloud's stream handlers end (a bounded wall wait: the network)
    deadline = time.monotonic() + 30
    while set(threading.enumerate()) - before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not set(threading.enumerate()) - before
    events = cloud.events(board.device_id)  # the same client still streams and answers
    lab.cloud.publish(board.device_id, "probe", "1")
    assert events.queue.get(timeout=60).name == "probe"
    events.close()
    assert cloud.device(board.device_id)["online"]


def test_cloud_needs_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RIG_CLOUD_TOKEN", raising=False)
    with pytest.raises(CloudAuthError, match="set RIG_CLOUD_TOKEN"):
        CloudClient()
