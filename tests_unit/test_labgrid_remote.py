"""A path's try on the host of a labgrid place (rig/labgrid/remote.py and agent.py), when that host
cannot do it: unreachable, its exporter gone mid-run, or its coordinator not answering. Each ends
in bounded time in a failed record that names the host and says why, and the place can be
released; the real coordinator, exporter and client (tools/labgrid/install). The passing case and
the faults of a whole run (a client killed, a coordinator restarted) run in the loopback lab
(examples/labgrid-loopback; tests_lab/test_labgrid_faults.py)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from rig import matrix
from rig.errors import ConfigError
from rig.labgrid.client import LabgridClient
from rig.labgrid.export import Place
from rig.labgrid.remote import RemoteRunner, _record
from rig.matrix import MatrixPath
from testsupport.labgrid import TOOLS, Coordinator, free_port, lg_client, until

PATH = MatrixPath("photon", "2.3.1", "1.5.2", "dfu")
NOWHERE = "127.0.0.9"  # nothing listens there: ssh is refused at once
OWNER = "rig-remote-test"


def _exporter(coordinator: str, folder: Path, name: str) -> subprocess.Popen[bytes]:
    """An exporter whose one resource (a serial port no tty matches) is published on a host nobody serves."""
    folder.mkdir()
    (folder / "exporter.yaml").write_text(f"{name}-p:\n  USBSerialPort:\n    match:\n      ID_PATH: nowhere-{name}\n")
    with (folder / "log").open("wb") as log:
        process = subprocess.Popen(
            [TOOLS / "labgrid-exporter", "-c", coordinator, "-n", name, "--hostname", NOWHERE,
             str(folder / "exporter.yaml")], stdout=log, stderr=log,
        )  # fmt: skip
    until(
        f"{name}'s resources",
        lambda: "up" if f"{name}/{name}-p/" in lg_client(coordinator, "-vv", "resources").stdout else None,
    )
    return process


@pytest.fixture
def runner(coordinator: Coordinator, tmp_path: Path) -> Iterator[RemoteRunner]:
    store = matrix.write_synthetic_store(tmp_path / "releases", ["photon"])
    client = LabgridClient(coordinator, program=str(TOOLS / "labgrid-client"), owner=OWNER)
    yield RemoteRunner(client, store, timeout=60)


def _acquired(client: LabgridClient, name: str, exporter: str) -> None:
    client.apply([Place(name, (f"{exporter}/{name}/*",), {"platform": "photon", "cloud": "no"})], exporter)
    client.call(f"--place={name}", "acquire", "--allow-unmatched")


def test_a_host_that_cannot_be_reached_is_a_failed_try_naming_it(runner: RemoteRunner, tmp_path: Path) -> None:
    exporter = _exporter(runner.client.coordinator, tmp_path / "e", "hx")
    try:
        _acquired(runner.client, "hx-p", "hx")
        tried = runner.attempt(PATH, "hx-p", "hx")
        result = tried.result
        assert (result.outcome, result.host, result.board, tried.quarantined, tried.ran) == (
            "fail",
            "hx",
            "hx-p",
            False,
            False,
        )
        assert result.error is not None and result.error.startswith("hx did not run the path: labgrid agent: ")
        assert NOWHERE in result.error  # the sentence names where it tried to go
        runner.client.call("--place=hx-p", "release")
        assert runner.client.places()["hx-p"].acquired is None
    finally:
        exporter.terminate()
        exporter.wait(timeout=30)


def test_an_exporter_gone_mid_run_is_a_failed_try_naming_it(runner: RemoteRunner, tmp_path: Path) -> None:
    exporter = _exporter(runner.client.coordinator, tmp_path / "e", "hy")
    _acquired(runner.client, "hy-p", "hy")
    exporter.kill()  # as `kill -9` of the exporter while the client holds its place
    exporter.wait(timeout=30)
    tried = runner.attempt(PATH, "hy-p", "hy")
    result = tried.result
    assert not tried.ran  # the matrix gives this place no other path
    assert result.outcome == "fail" and result.host == "hy"
    assert result.error is not None and result.error.startswith("hy did not run the path: labgrid agent: ")
    assert "place hy-p has an orphaned resource (exporter hy disconnected?)" in result.error
    runner.client.call("--place=hy-p", "release")  # the place is not left held
    assert runner.client.places()["hy-p"].acquired is None


def test_a_coordinator_that_does_not_answer_is_a_failed_try_naming_it(runner: RemoteRunner) -> None:
    gone = f"127.0.0.1:{free_port()}"  # nothing listens there (as while the coordinator restarts)
    client = LabgridClient(gone, program=str(TOOLS / "labgrid-client"), owner=OWNER)
    tried = RemoteRunner(client, runner.store, timeout=60).attempt(PATH, "hz-p", "hz")
    assert not tried.ran and tried.result.outcome == "fail"
    assert tried.result.error == f"hz did not run the path: labgrid agent: ServerError: Error: Could not connect to " \
        f"coordinator {gone}"  # fmt: skip


def test_the_hosts_record_is_found_among_other_lines_and_checked() -> None:
    line = json.dumps({"id": PATH.id, "platform": "photon", "from_version": "2.3.1", "to_version": "1.5.2",
                       "method": "dfu", "outcome": "pass", "field_of_a_newer_rig": 1})  # fmt: skip
    found = _record(f"{{greeting from a shell rc\n{line}\n", PATH)
    assert found is not None and found.outcome == "pass"  # unknown keys of another rig version are left out
    assert _record(line.replace(PATH.id, "photon-1.5.2-to-2.3.1-dfu"), PATH) is None  # another path's record
    assert _record("{not json\n", PATH) is None and _record("", PATH) is None


def test_the_rig_command_on_the_hosts_may_be_several_words(tmp_path: Path) -> None:
    store = matrix.write_synthetic_store(tmp_path / "releases", ["photon"])
    client = LabgridClient("127.0.0.1:1", program=str(TOOLS / "labgrid-client"))
    command = RemoteRunner(client, store, 60, rig="'/opt/rig venv/bin/python' -m rig").command(PATH, "p")
    after = command[command.index("--") + 1 :]
    assert after[:5] == ["/opt/rig venv/bin/python", "-m", "rig", "path", "run"]  # labgrid quotes each word
    with pytest.raises(ConfigError, match="--remote-rig is empty"):
        RemoteRunner(client, store, 60, rig=" ")
