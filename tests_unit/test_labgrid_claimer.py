"""Claiming boards as labgrid places, against the real coordinator and client (tools/labgrid/install):
reserve, acquire, always release and cancel; waiting turns; quarantine; a dead holder's place."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rig.clock import SystemClock
from rig.labgrid.claimer import LabgridClaimer, owner_name
from rig.labgrid.client import DEVICE_OS, LabgridClient
from rig.labgrid.export import Place
from rig.pool import NoBoardError, Pool
from rig.pytest_session import RigSession
from testsupport.box import RIG
from testsupport.labgrid import TOOLS, Coordinator, lg_client, until

CLOCK = SystemClock()
NAMES = ("c1", "c2", "s1", "s2", "q1", "d1", "m1", "t1", "t2", "l1", "l2", "p1", "p2", "f1", "w1", "k1")


@pytest.fixture(scope="module")
def exporter(coordinator: Coordinator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coordinator]:
    """A real labgrid-exporter `h` with a group per place of these tests (a resource that needs no hardware)."""
    folder = tmp_path_factory.mktemp("exporter")
    config = "".join(f"{n}:\n  NetworkService:\n    address: 127.0.0.1\n    username: rig\n" for n in NAMES)
    (folder / "exporter.yaml").write_text(config)
    with (folder / "log").open("wb") as log:
        process = subprocess.Popen(
            [TOOLS / "labgrid-exporter", "-c", coordinator, "-n", "h", str(folder / "exporter.yaml")],
            stdout=log, stderr=log,
        )  # fmt: skip
    try:
        until(
            "the exporter's resources", lambda: "up" if "h/d1/" in lg_client(coordinator, "resources").stdout else None
        )
        yield coordinator
    finally:
        process.terminate()
        process.wait(timeout=30)


def _claimer(coordinator: str, owner: str) -> LabgridClaimer:
    return LabgridClaimer(LabgridClient(coordinator, program=str(TOOLS / "labgrid-client"), owner=owner))


def _places(coordinator: str, *places: Place) -> None:
    LabgridClient(coordinator, program=str(TOOLS / "labgrid-client")).apply(list(places), "h")


def _holder(coordinator: str, name: str) -> str | None:
    return LabgridClient(coordinator, program=str(TOOLS / "labgrid-client")).places()[name].acquired


def _reservations(coordinator: str) -> str:
    return lg_client(coordinator, "-v", "reservations").stdout


def test_a_claim_holds_the_place_and_always_releases_and_cancels(exporter: str) -> None:
    coordinator = exporter
    _places(coordinator, Place("c1", ("h/c1/*",), {"platform": "argon", "cloud": "no"}))
    me = _claimer(coordinator, "rig-test-a")
    with pytest.raises(RuntimeError, match="boom"), me.claim(["c1"], CLOCK, timeout=30) as name:
        assert name == "c1" and (_holder(coordinator, "c1") or "").endswith("/rig-test-a")
        assert "state: acquired" in _reservations(coordinator)
        raise RuntimeError("boom")  # a failing path: the place is released and the reservation gone all the same
    assert _holder(coordinator, "c1") is None and "Reservation" not in _reservations(coordinator)


def test_a_second_client_waits_its_turn_and_gives_up_with_a_sentence(exporter: str) -> None:
    coordinator = exporter
    _places(coordinator, Place("c2", ("h/c2/*",), {"platform": "argon", "cloud": "no"}))
    first, second = _claimer(coordinator, "rig-test-1"), _claimer(coordinator, "rig-test-2")
    with first.claim(["c2"], CLOCK, timeout=30):
        with pytest.raises(NoBoardError) as caught, second.claim(["c2"], CLOCK, timeout=2):
            pass
        assert str(caught.value) == (
            f"None of c2 became free within 2 s on the labgrid coordinator {coordinator}: other clients hold them; "
            "wait for them to end."
        )
        assert "Reservation" in _reservations(coordinator)  # only the holder's
    with second.claim(["c2"], CLOCK, timeout=30) as name:
        assert name == "c2" and (_holder(coordinator, "c2") or "").endswith("/rig-test-2")
    assert "Reservation" not in _reservations(coordinator)


class _CountedWaits(LabgridClient):
    """The client, counting the `labgrid-client wait` processes it starts."""

    waits = 0

    def keep_alive(self, token: str) -> Any:
        self.waits += 1
        return super().keep_alive(token)


def test_a_free_place_is_claimed_without_starting_a_wait(exporter: str) -> None:
    coordinator = exporter
    _places(coordinator, Place("f1", ("h/f1/*",), {"platform": "argon", "cloud": "no"}))
    client = _CountedWaits(coordinator, program=str(TOOLS / "labgrid-client"), owner="rig-test-f")
    with LabgridClaimer(client).claim(["f1"], CLOCK, timeout=30) as name:
        assert name == "f1" and (_holder(coordinator, "f1") or "").endswith("/rig-test-f")
    assert client.waits == 0  # allocated as it was reserved: no process to keep a reservation alive


def test_a_client_that_waits_gets_the_place_when_its_holder_lets_go(exporter: str) -> None:
    coordinator = exporter
    _places(coordinator, Place("w1", ("h/w1/*",), {"platform": "argon", "cloud": "no"}))
    holder = _claimer(coordinator, "rig-test-h")
    client = _CountedWaits(coordinator, program=str(TOOLS / "labgrid-client"), owner="rig-test-w")
    got: list[str] = []

    def wait_for_it() -> None:
        with LabgridClaimer(client).claim(["w1"], CLOCK, timeout=60) as name:
            got.append(name)

    with holder.claim(["w1"], CLOCK, timeout=30):
        waiter = threading.Thread(target=wait_for_it)
        waiter.start()
        until("the waiting reservation", lambda: "waiting" if "state: waiting" in _reservations(coordinator) else None)
    waiter.join(60)
    assert got == ["w1"] and client.waits == 1  # it waited with one `labgrid-client wait`, then took the place
    assert "Reservation" not in _reservations(coordinator)


class _InterruptedLaunch(LabgridClient):
    """The client, with a Ctrl-C coming as each wait has started, before the claim holds it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.launched: list[int] = []

    def keep_alive(self, token: str) -> Any:
        wait = super().keep_alive(token)
        self.launched.append(wait.pid)
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)
        return wait


def test_a_ctrl_c_as_a_wait_starts_leaves_no_wait_running(exporter: str) -> None:
    coordinator = exporter
    _places(coordinator, Place("k1", ("h/k1/*",), {"platform": "argon", "cloud": "no"}))
    client = _InterruptedLaunch(coordinator, program=str(TOOLS / "labgrid-client"), owner="rig-test-k")

    def ctrl_c(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    saved = signal.signal(signal.SIGINT, ctrl_c)
    try:
        with (
            _claimer(coordinator, "rig-test-kh").claim(["k1"], CLOCK, timeout=30),
            pytest.raises(KeyboardInterrupt),
            LabgridClaimer(client).claim(["k1"], CLOCK, timeout=30),
        ):
            pass
    finally:
        signal.signal(signal.SIGINT, saved)
    assert len(client.launched) == 1
    with pytest.raises(ProcessLookupError):  # the claim ended its wait and reaped it
        os.kill(client.launched[0], 0)
    assert "Reservation" not in _reservations(coordinator)


def test_two_clients_get_the_two_boards_of_a_platform(exporter: str) -> None:
    coordinator = exporter
    tags = {"platform": "bsom", "cloud": "no"}
    _places(coordinator, Place("s1", ("h/s1/*",), tags), Place("s2", ("h/s2/*",), tags))
    a, b = _claimer(coordinator, "rig-test-x"), _claimer(coordinator, "rig-test-y")
    with a.claim(["s1", "s2"], CLOCK, timeout=30) as one, b.claim(["s1", "s2"], CLOCK, timeout=30) as two:
        assert {one, two} == {"s1", "s2"}


def test_a_quarantined_place_is_never_allocated_and_places_keeps_it_out(exporter: str) -> None:
    coordinator = exporter
    place = Place("q1", ("h/q1/*",), {"platform": "tracker", "cloud": "no"})
    _places(coordinator, place)
    me = _claimer(coordinator, "rig-test-q")
    me.quarantine("q1", "did not come back on USB after 3 power cycles")
    _places(coordinator, place)  # rig labgrid places again: the quarantine stays
    assert me.quarantined("q1") == "did not come back on USB after 3 power cycles"
    with pytest.raises(NoBoardError) as caught, me.claim(["q1"], CLOCK, timeout=5):
        pass
    assert str(caught.value) == (
        "q1 is quarantined (did not come back on USB after 3 power cycles); fix the board, then "
        "labgrid-client -p q1 set-tags service=ok (and delete the host's quarantine marker if there is one)."
    )
    lg_client(coordinator, "-p", "q1", "set-tags", "service=ok")
    assert me.quarantined("q1") is None
    with me.claim(["q1"], CLOCK, timeout=30) as name:
        assert name == "q1"


def test_of_free_places_the_one_whose_board_runs_the_paths_from_is_taken_first(exporter: str) -> None:
    coordinator = exporter
    places = [Place(n, (f"h/{n}/*",), {"platform": "bsom", "cloud": "no"}) for n in ("p1", "p2")]
    _places(coordinator, *places)
    client = LabgridClient(coordinator, program=str(TOOLS / "labgrid-client"))
    client.set_tags("p2", {DEVICE_OS: "1.5.2"})  # as the rig tags a place after a path left its board at 1.5.2
    _places(coordinator, *places)  # `rig labgrid places` again: the board did not change, the tag stays
    assert client.places()["p2"].tags[DEVICE_OS] == "1.5.2"
    me = _claimer(coordinator, "rig-test-at")
    for at, expected in (("1.5.2", "p2"), ("2.3.1", "p1"), (None, "p1")):
        with me.claim(["p1", "p2"], CLOCK, timeout=30, at=at) as name:
            assert name == expected, at


def test_a_place_held_by_a_dead_rig_process_of_this_host_is_taken_back(exporter: str) -> None:
    coordinator = exporter
    _places(coordinator, Place("d1", ("h/d1/*",), {"platform": "electron", "cloud": "no"}))
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    dead = owner_name(int(gone.stdout))  # a rig process that was killed holding the place, as a claim holds it
    token = re.search(r"LG_TOKEN=(\S+)", lg_client(coordinator, "reserve", "--shell", "name=d1", owner=dead).stdout)
    assert token is not None
    env = {**os.environ, "LG_USERNAME": dead, "LG_TOKEN": token.group(1)}
    acquire = [str(TOOLS / "labgrid-client"), "-x", coordinator, "-p", "d1", "acquire"]
    assert subprocess.run(acquire, env=env, capture_output=True, timeout=60, check=False).returncode == 0
    alive = owner_name()  # this process: never taken from
    # the dead holder's reservation is cancelled too: it would keep the place for 60 s after the kick
    with _claimer(coordinator, alive).claim(["d1"], CLOCK, timeout=30) as name:
        assert name == "d1" and (_holder(coordinator, "d1") or "").endswith(f"/{alive}")
        with pytest.raises(NoBoardError), _claimer(coordinator, owner_name(1)).claim(["d1"], CLOCK, timeout=2):
            pass  # pid 1 is alive: its places are its own


def test_a_board_that_is_not_a_place_is_one_sentence(exporter: str) -> None:
    coordinator = exporter
    with pytest.raises(NoBoardError) as caught, _claimer(coordinator, "rig-test-n").claim(["nope"], CLOCK):
        pass
    assert str(caught.value) == (
        f"nope is not a place on the labgrid coordinator {coordinator}: run rig labgrid export and rig labgrid "
        "places on its host."
    )


def test_rig_matrix_claims_its_boards_as_places_and_leaves_none_held(exporter: Coordinator, tmp_path: Path) -> None:
    coordinator = exporter
    _places(coordinator, Place("m1", ("h/m1/*",), {"platform": "boron", "cloud": "no"}))
    devices = tmp_path / "bench.yaml"
    devices.write_text(
        "devices:\n  - name: m1\n    platform: boron\n    device_id: e00fce68a1b2c3d4e5f60799\n"
        "    hub: {location: '1-1', port: 3}\n"
    )
    args = ["matrix", "--sim", "--devices", str(devices), "--labgrid", coordinator, "--methods", "dfu"]
    args += ["--from", "2.3.1", "--to", "4.0.1", "--report", str(tmp_path / "report")]
    done = subprocess.run([*RIG, *args], capture_output=True, text=True, timeout=600, check=False, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    results = json.loads((tmp_path / "report" / "results.json").read_text())
    assert [p["outcome"] for p in results["results"]] == ["pass"], results
    acquired = re.findall(r"m1: place acquired by (\S+)", coordinator.log.read_text())
    assert acquired and all(re.fullmatch(r"[^/]+/rig-\w+-[0-9a-f]+-\d+-\d+", who) for who in acquired), acquired
    assert _holder(coordinator, "m1") is None and "Reservation" not in _reservations(coordinator)


def test_a_free_candidate_is_found_though_another_hosts_board_has_the_same_tags(exporter: Coordinator) -> None:
    coordinator = exporter
    tags = {"platform": "p1", "cloud": "no"}
    _places(coordinator, Place("t1", ("h/t1/*",), tags), Place("t2", ("h/t2/*",), tags))
    client = LabgridClient(coordinator, program=str(TOOLS / "labgrid-client"))
    client.call("--place=z9", "create")  # another host's board of the same platform, free
    client.call("--place=z9", "set-tags", "platform=p1", "cloud=no", "service=ok")
    with _claimer(coordinator, "rig-test-h").claim(["t1"], CLOCK, timeout=30):  # someone holds t1
        for _ in range(3):
            with _claimer(coordinator, "rig-test-i").claim(["t1", "t2"], CLOCK, timeout=30) as name:
                assert name == "t2"  # never z9, never a failure while t2 is free
    assert "Reservation" not in _reservations(coordinator)


def test_the_hosts_quarantine_and_labgrids_agree(exporter: Coordinator, tmp_path: Path) -> None:
    coordinator = exporter
    tags = {"platform": "p2", "cloud": "no"}
    _places(coordinator, Place("l1", ("h/l1/*",), tags), Place("l2", ("h/l2/*",), tags))
    local = Pool(["l1", "l2"], tmp_path / "locks")
    me = LabgridClaimer(LabgridClient(coordinator, program=str(TOOLS / "labgrid-client"), owner="rig-test-l"), local)
    local.quarantine("l1", "marked on the host")
    assert me.quarantined("l1") == "marked on the host"
    with me.claim(["l1", "l2"], CLOCK, timeout=30) as name:
        assert name == "l2"
    me.quarantine("l2", "failed 3 health checks")  # seen by runs on this host without labgrid too
    assert "failed 3 health checks" in (local.quarantined("l2") or "")


def test_a_coordinator_that_is_down_is_one_sentence() -> None:
    down = LabgridClaimer(LabgridClient("127.0.0.1:1", program=str(TOOLS / "labgrid-client"), timeout=20))
    if not (TOOLS / "labgrid-client").exists():
        pytest.skip("labgrid is not installed: run tools/labgrid/install (CI does)")
    sentence = r"^The labgrid coordinator 127\.0\.0\.1:1 could not be used .*reaches it\.$"
    with pytest.raises(NoBoardError, match=sentence), down.claim(["x"], CLOCK, timeout=5):
        pass


class _RemoteRunOptions:
    """The options of a pytest run whose boards are the coordinator's places (no devices.yaml)."""

    def __init__(self, coordinator: str) -> None:
        self.options = {"--rig-sim": False, "--rig-devices": None, "--rig-labgrid": coordinator}

    def getoption(self, name: str) -> object:
        return self.options[name]

    def getini(self, name: str) -> object:
        return ""


def test_a_place_moved_to_another_host_mid_run_is_tried_on_its_new_host(
    exporter: Coordinator, monkeypatch: pytest.MonkeyPatch
) -> None:
    coordinator = exporter
    monkeypatch.setenv("RIG_LABGRID_CLIENT", str(TOOLS / "labgrid-client"))
    place = Place("mv1", ("h/mv1/*",), {"platform": "boron", "cloud": "no"})
    _places(coordinator, place)
    session = RigSession(_RemoteRunOptions(coordinator))  # type: ignore[arg-type]
    assert session.remote and session.host_of("mv1") == "h" and "mv1" in session.places()
    LabgridClient(coordinator, program=str(TOOLS / "labgrid-client")).apply(
        [Place("mv1", ("h2/mv1/*",), place.tags)], "h2", move=True
    )  # `rig labgrid places --move` on the board's new host, while the run goes on
    assert session.host_of("mv1") == "h2"
