"""Faults across hosts (docs/multi-host.md, "Faults across hosts"), in the loopback lab
(examples/labgrid-loopback: the real coordinator, two sshd hosts with served simulated benches,
supervised exporters, `rig matrix --labgrid` as the client): a client killed with `kill -9` while
its path runs on a host, and the coordinator restarted while a path runs. Each try is held at a
known point without depending on machine speed: the test holds the host's lock file of the board,
so the host's `rig path run` waits for the board until the test lets it go. The lab comes up once
per module in each xdist worker that runs one of these tests (about 20 s).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from filelock import FileLock

from rig.labgrid.client import DEVICE_OS, LabgridClient
from rig.labgrid.remote import AGENT
from rig.pool import Pool
from rig.report.results import read
from testsupport.labgrid import TOOLS, lg_client

LOOPBACK = Path(__file__).resolve().parents[1] / "examples" / "labgrid-loopback" / "loopback.py"
PLACE, OTHER = "h1-photon", "h2-photon"  # the try runs on PLACE: the test holds OTHER
OWNER = "rig-fault-test"  # the test's labgrid user (not a rig process: never kicked as stale)
PATH = ["--platforms", "photon", "--methods", "dfu", "--from", "2.3.1", "--to", "1.5.2", "-n", "1"]
PATH_ID = "photon-2.3.1-to-1.5.2-dfu"
BOTH_WAYS = [*PATH[:5], "2.3.1", "1.5.2", "--to", "1.5.2", "2.3.1", "-n", "1"]  # 2.3.1 -> 1.5.2 and back
BOUND = 180.0  # wall seconds for what must end on its own (generous: a busy 2-core machine)
RUN_BOUND = 600.0  # wall seconds for a whole `rig matrix` of one or two paths (one to two minutes here)


def _loopback() -> ModuleType:
    spec = importlib.util.spec_from_file_location("loopback", LOOPBACK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class Up:
    """The loopback lab, brought up: its programs, coordinator and releases."""

    lab: Any  # loopback.Lab
    coordinator: str
    releases: Path

    def matrix(self, report: Path, options: list[str] = PATH) -> subprocess.Popen[bytes]:
        """`rig matrix --labgrid` of the selected paths, in a session of its own (the client)."""
        report.mkdir()
        with (report.parent / f"{report.name}.log").open("wb") as log:
            return subprocess.Popen(
                self.lab.matrix_command(self.coordinator, self.releases, report, options),
                env=self.lab.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

    def board_lock(self, host: str, board: str) -> FileLock:
        """The host's lock of a board (its RIG_LOCK_DIR), as the host's rig takes it."""
        return Pool([board], self.lab.lab / host / "locks").lock(board)


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    if not (TOOLS / "labgrid-coordinator").exists():
        pytest.skip("labgrid is not installed: run tools/labgrid/install (CI does)")
    loopback = _loopback()
    if missing := loopback.missing_tools():
        pytest.skip(f"the loopback lab cannot run: {missing} (CI installs them)")
    lab = loopback.Lab(tmp_path_factory.mktemp("loopback"), TOOLS)
    with lab.stack:
        coordinator, releases = lab.up()
        yield Up(lab, coordinator, releases)


@dataclass(frozen=True)
class Proc:
    """A process: its pid, parent, start time (pids are reused) and command line."""

    pid: int
    ppid: int
    start: int
    cmdline: str


def _table() -> dict[int, Proc]:
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # ended meanwhile
        fields = stat.rpartition(")")[2].split()
        found[int(entry.name)] = Proc(int(entry.name), int(fields[1]), int(fields[19]), cmdline)
    return found


def _descendants(table: dict[int, Proc], found: set[Proc]) -> set[Proc]:
    while more := {p for p in table.values() if p.ppid in {q.pid for q in found}} - found:
        found |= more
    return found


def _hosts_side(up: Up, table: dict[int, Proc]) -> set[Proc]:
    """What the hosts' sshd started (sessions, the shell, the host's rig)."""
    roots = {process.pid for name, (_, _, process) in up.lab.programs.items() if name.endswith("-sshd")}
    return _descendants(table, {p for p in table.values() if p.ppid in roots})


def _tries(up: Up) -> set[Proc]:
    """Every process of the lab's tries now: the agents, the client's ssh (the lab's ssh config:
    the command's, rsync's, labgrid's master and keep-alive), what they started, and the hosts' side.
    """
    table = _table()
    config = str(up.lab.lab / "ssh" / "config")
    found = {p for p in table.values() if (str(AGENT) in p.cmdline and up.coordinator in p.cmdline)}
    found |= {p for p in table.values() if f"-F {config}" in p.cmdline}
    return _descendants(table, found) | _hosts_side(up, table)


def _alive(procs: set[Proc]) -> set[Proc]:
    table = _table()
    return {p for p in procs if p.pid in table and table[p.pid].start == p.start}


def _until(what: str, check: Any, bound: float = BOUND) -> Any:
    deadline = time.monotonic() + bound
    while not (found := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not within {bound:g} s")
        time.sleep(0.5)
    return found


def _host_rig(up: Up) -> set[Proc]:
    """The host's `rig path run` of the try, once it runs (under the host's sshd)."""
    return {p for p in _hosts_side(up, _table()) if " path run " in p.cmdline}


def _holders(up: Up) -> dict[str, str]:
    text = lg_client(up.coordinator, "-v", "places").stdout
    held, place = {}, None
    for line in text.splitlines():
        if line.startswith("Place '"):
            place = line.split("'")[1]
        elif line.strip().startswith("acquired:") and "None" not in line and place:
            held[place] = line.split(":", 1)[1].strip()
    return held


def _resources(up: Up) -> set[str]:
    """The exporters whose resources the coordinator lists now, as `NAME/`."""
    text = lg_client(up.coordinator, "resources").stdout
    return {line.split("/")[0] + "/" for line in text.split() if "/" in line}


@pytest.fixture
def other_held(up: Up) -> Iterator[None]:
    """The other photon place held by the test, so the client's claim takes PLACE."""
    assert lg_client(up.coordinator, "-p", OTHER, "acquire", owner=OWNER).returncode == 0
    yield
    lg_client(up.coordinator, "-p", OTHER, "release", owner=OWNER)  # a coordinator restart may have done it


def _finished(process: subprocess.Popen[bytes], bound: float = RUN_BOUND) -> int:
    try:
        return process.wait(timeout=bound)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        raise AssertionError(f"rig matrix did not end within {bound:g} s") from None


def test_a_client_killed_mid_path_leaves_nothing_running_and_the_next_run_gets_the_place_back(
    up: Up, other_held: None, tmp_path: Path
) -> None:
    block = up.board_lock("h1", PLACE)
    block.acquire(timeout=0)  # the host's rig waits for the board: it cannot end on its own
    try:
        client = up.matrix(tmp_path / "killed")
        running = _until("the host's rig path run", lambda: _host_rig(up))
        assert client.poll() is None and running
        try_processes = _tries(up)
        os.killpg(client.pid, signal.SIGKILL)  # kill -9 of the client's process group (the agent has its own)
        client.wait(timeout=30)
        try:
            _until("the end of every process of the killed try", lambda: not (_alive(try_processes) | _tries(up)))
        except AssertionError:
            left = _alive(try_processes) | _tries(up)
            for proc in left:  # nothing of the test outlives it
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
            raise AssertionError(f"still running: {sorted(p.cmdline[:120] for p in left)}") from None
        holder = _holders(up).get(PLACE, "")  # kept by the dead client's worker (labgrid has no lease)
        assert "/rig-" in holder and not Path(f"/proc/{holder.rpartition('-')[2]}").exists(), holder
    finally:
        block.release()
    again = up.matrix(tmp_path / "again")
    assert _finished(again) == 0
    _, results = read(tmp_path / "again")
    assert [(r.id, r.outcome, r.board, r.host) for r in results] == [(PATH_ID, "pass", PLACE, "h1")]
    assert set(_holders(up)) == {OTHER}  # the dead client's place taken back and released
    assert not _tries(up)


def test_a_coordinator_restarted_mid_path_ends_the_run_with_a_record_and_no_place_held(
    up: Up, other_held: None, tmp_path: Path
) -> None:
    block = up.board_lock("h1", PLACE)
    block.acquire(timeout=0)
    try:
        client = up.matrix(tmp_path / "restarted", BOTH_WAYS)  # the second path is claimed after the restart
        _until("the host's rig path run", lambda: _host_rig(up))
        up.lab.restart("coordinator")  # as systemd would: same address, same folder (places.yaml)
        _until("the coordinator and both exporters back", lambda: {"h1/", "h2/"} <= _resources(up))
    finally:
        block.release()
    code = _finished(client)
    _, results = read(tmp_path / "restarted")
    assert sorted(r.id for r in results) == sorted([PATH_ID, "photon-1.5.2-to-2.3.1-dfu"])
    assert code in (0, 1)
    for result in results:  # a pass, or one sentence naming the coordinator or the host
        assert result.outcome in ("pass", "fail") and result.host in ("h1", "h2"), result
        if result.outcome == "fail":
            assert result.error and "Traceback" not in result.error and "\n" not in result.error
            assert "coordinator" in result.error or result.host in result.error, result.error
    assert _holders(up) == {}  # the restart dropped the test's hold too
    assert not _tries(up)


def test_a_night_starts_its_chains_where_the_last_one_left_the_boards(up: Up, other_held: None, tmp_path: Path) -> None:
    up_path = [*PATH[:5], "1.5.2", "--to", "2.3.1", "-n", "1"]  # leaves PLACE at 2.3.1
    assert _finished(up.matrix(tmp_path / "first", up_path)) == 0
    assert (
        LabgridClient(up.coordinator, program=str(TOOLS / "labgrid-client")).places()[PLACE].tags[DEVICE_OS] == "2.3.1"
    )
    assert _finished(up.matrix(tmp_path / "second", BOTH_WAYS)) == 0
    _, results = read(tmp_path / "second")
    # from 2.3.1 first, then back: no set-up (without the tag the chain would start at 1.5.2, set up first)
    assert sorted((r.id, r.board, r.setup_modelled_seconds) for r in results) == [
        ("photon-1.5.2-to-2.3.1-dfu", PLACE, 0.0),
        (PATH_ID, PLACE, 0.0),
    ]


def _agent(up: Up, files: list[Path], command: list[str]) -> str:
    """The agent of a try, run as the client runs it (as OWNER, PLACE acquired): the path the host printed."""
    done = subprocess.run(
        [str(TOOLS / "python"), "-I", str(AGENT), "--coordinator", up.coordinator, "--place", PLACE,
         *(arg for f in files for arg in ("--file", str(f))), "--", *command],
        env={**up.lab.env, "LG_USERNAME": OWNER}, capture_output=True, text=True, timeout=BOUND, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (path,) = [line for line in done.stdout.splitlines() if line.startswith("/")]  # among rsync's own lines
    return path


def test_a_try_finds_the_files_an_earlier_try_copied_and_copies_again_what_the_cache_lost(
    up: Up, tmp_path: Path
) -> None:
    files = [tmp_path / f"part{i}@1.0.0.bin" for i in range(3)]
    for f in files:  # contents of this test's own: no other try shares their copies on the host
        f.write_bytes(os.urandom(4096))
    assert lg_client(up.coordinator, "-p", PLACE, "acquire", owner=OWNER).returncode == 0
    try:
        folder = Path(_agent(up, files, ["realpath", "{files}"]))  # the hosts are this machine
        links = {f.name: (folder / f.name).lstat().st_ino for f in files}
        assert all((folder / f.name).read_bytes() == f.read_bytes() for f in files)
        assert Path(_agent(up, files, ["realpath", "{files}"])) == folder
        assert {f.name: (folder / f.name).lstat().st_ino for f in files} == links  # found, not linked anew
        lost = (folder / files[0].name).resolve()
        lost.unlink()  # the host's cache cleaned meanwhile (its tmpfiles rule)
        _agent(up, files, ["realpath", "{files}"])
        assert lost.read_bytes() == files[0].read_bytes()  # copied again by labgrid's ManagedFile
    finally:
        lg_client(up.coordinator, "-p", PLACE, "release", owner=OWNER)
