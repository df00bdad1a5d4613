"""The rig's labgrid calls run in one labgrid client process (rig/labgrid/batch.py): each call acts
as labgrid-client would with its arguments and LG_* variables, a failed call leaves nothing behind
for the next one, and a call that hangs ends in its timeout. Real coordinator and labgrid."""

from __future__ import annotations

import signal
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rig.labgrid import client as client_module
from rig.labgrid.batch_client import LabgridBatch
from rig.labgrid.client import CONNECT_TRIES, LabgridClient
from rig.transport.errors import TimeoutError_, ToolError
from testsupport.labgrid import TOOLS, Coordinator, free_port, start_coordinator, stop_coordinator

PROGRAM = str(TOOLS / "labgrid-client")


@pytest.fixture
def batch() -> Iterator[LabgridBatch]:
    made = LabgridBatch(PROGRAM)
    yield made
    made._stop()


def test_each_call_has_its_own_owner_and_a_failure_is_the_clients_sentence(
    coordinator: Coordinator, batch: LabgridBatch
) -> None:
    batch.call(["-x", coordinator, "--place=b1", "create"], {}, 30)
    assert batch.call(["-x", coordinator, "--place=b1", "acquire"], {"LG_USERNAME": "alice"}, 30).strip() == (
        "acquired place b1"
    )
    with pytest.raises(
        ToolError, match=r"labgrid-client failed: .*place b1 is acquired by a different user \(\S+/alice\)"
    ):
        batch.call(["-x", coordinator, "--place=b1", "release"], {"LG_USERNAME": "bob"}, 30)
    batch.call(["-x", coordinator, "--place=b1", "release"], {"LG_USERNAME": "alice"}, 30)
    assert LabgridClient(coordinator, program=PROGRAM).places()["b1"].acquired is None
    process = batch.process
    assert process is not None and process.poll() is None  # all of it in one process


def test_a_call_to_a_coordinator_that_is_down_leaves_the_next_call_working(
    coordinator: Coordinator, batch: LabgridBatch
) -> None:
    with pytest.raises(ToolError, match="Could not connect to coordinator"):
        batch.call(["-x", "127.0.0.1:1", "places"], {}, 30)
    batch.call(["-x", coordinator, "--place=b2", "create"], {}, 30)  # labgrid's event loop of the failed call is gone
    assert "b2" in batch.call(["-x", coordinator, "places"], {}, 30).split()


def test_a_call_that_hangs_ends_in_its_timeout_and_the_next_starts_afresh(
    coordinator: Coordinator, batch: LabgridBatch
) -> None:
    with socket.socket() as silent:  # accepts the connection (backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        with pytest.raises(TimeoutError_, match=r"labgrid-client did not finish within 3 s\."):
            batch.call(["-x", f"127.0.0.1:{silent.getsockname()[1]}", "places"], {}, 3)
    assert batch.process is None  # the hung process was ended
    batch.call(["-x", coordinator, "--place=b3", "create"], {}, 30)
    assert "b3" in batch.call(["-x", coordinator, "places"], {}, 30).split()


def test_an_interrupted_call_never_hands_its_answer_to_the_next(coordinator: Coordinator, batch: LabgridBatch) -> None:
    def ctrl_c(signum: int, frame: object) -> None:  # Ctrl-C as Python's own handler raises it
        raise KeyboardInterrupt

    saved = signal.signal(signal.SIGUSR1, ctrl_c)
    try:
        with socket.socket() as silent:  # the call hangs until the interruption
            silent.bind(("127.0.0.1", 0))
            silent.listen(8)
            main = threading.main_thread().ident or 0
            threading.Timer(1.0, lambda: signal.pthread_kill(main, signal.SIGUSR1)).start()
            with pytest.raises(KeyboardInterrupt):
                batch.call(["-x", f"127.0.0.1:{silent.getsockname()[1]}", "places"], {}, 60)
    finally:
        signal.signal(signal.SIGUSR1, saved)
    batch.call(["-x", coordinator, "--place=b4", "create"], {}, 30)
    assert "b4" in batch.call(["-x", coordinator, "places"], {}, 30).split()


def test_a_call_labgrid_refuses_before_it_starts_leaves_the_next_working(
    coordinator: Coordinator, batch: LabgridBatch
) -> None:
    batch.call(["-x", coordinator, "places"], {}, 30)
    with pytest.raises(ToolError, match="invalid choice: 'nosuchcommand'"):
        batch.call(["-x", coordinator, "nosuchcommand"], {}, 30)
    batch.call(["-x", coordinator, "--place=b5", "create"], {}, 30)
    assert "b5" in batch.call(["-x", coordinator, "places"], {}, 30).split()


class _CountedBatch:
    """The real batch, counting the calls made through it; `after_first` runs once the first has failed."""

    def __init__(self, real: LabgridBatch, after_first: Callable[[], object] | None = None) -> None:
        self.real, self.after_first, self.calls = real, after_first, 0

    def call(self, args: list[str], env: dict[str, str], timeout: float) -> str:
        self.calls += 1
        try:
            return self.real.call(args, env, timeout)
        except ToolError:
            if self.calls == 1 and self.after_first is not None:
                self.after_first()
            raise


def test_a_call_whose_session_did_not_start_is_made_again_and_reaches_a_coordinator_that_came_up(
    batch: LabgridBatch, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    address = f"127.0.0.1:{free_port()}"
    started: list[subprocess.Popen[bytes]] = []
    counted = _CountedBatch(batch, lambda: started.append(start_coordinator(address, tmp_path)))
    monkeypatch.setattr(client_module, "batch_for", lambda program: counted)
    monkeypatch.setattr(client_module, "CONNECT_PAUSE", 0.0)
    try:
        assert LabgridClient(address, program=PROGRAM).places() == {}  # the coordinator restarted meanwhile
    finally:
        for process in started:
            stop_coordinator(process)
    assert counted.calls == 2 and len(started) == 1


def test_a_coordinator_that_stays_down_is_tried_a_bounded_number_of_times_and_named(
    batch: LabgridBatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    counted = _CountedBatch(batch)
    monkeypatch.setattr(client_module, "batch_for", lambda program: counted)
    monkeypatch.setattr(client_module, "CONNECT_PAUSE", 0.0)
    with pytest.raises(ToolError, match="Could not connect to coordinator"):
        LabgridClient(f"127.0.0.1:{free_port()}", program=PROGRAM).places()
    assert counted.calls == CONNECT_TRIES


def test_a_call_the_coordinator_refused_is_not_made_again(
    coordinator: Coordinator, batch: LabgridBatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    counted = _CountedBatch(batch)
    monkeypatch.setattr(client_module, "batch_for", lambda program: counted)
    with pytest.raises(ToolError, match="acquired by a different user"):
        LabgridClient(coordinator, program=PROGRAM, owner="alice").call("--place=b6", "create")
        LabgridClient(coordinator, program=PROGRAM, owner="alice").call("--place=b6", "acquire")
        LabgridClient(coordinator, program=PROGRAM, owner="bob").call("--place=b6", "release")
    assert counted.calls == 3  # create, acquire, and the one refused release
