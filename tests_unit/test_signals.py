"""rig/signals.py: a stop signal is a KeyboardInterrupt in the rig's own process, and ends a forked
child that has not exec'd yet (sh's) at once, without unwinding its copy of the rig."""

from __future__ import annotations

import signal
import subprocess
import sys
import types

import pytest
from _pytest._code.code import Traceback, TracebackEntry

from rig.pytest_plugin import has_line, pytest_keyboard_interrupt

# the rig's handlers, then a fork that runs Python code (as sh's child does before its exec); the
# child says when it waits, the parent signals it and prints how it ended
FORK_THEN_SIGNAL = """
import os, signal, sys, threading
from rig import signals

signal.signal(signal.SIGINT, signal.SIG_DFL)  # a background job inherits SIGINT ignored
signals.stop_on_signals()
ready_r, ready_w = os.pipe()
pid = os.fork()
if pid == 0:
    try:
        os.write(ready_w, b"1")
        threading.Event().wait(30)
    finally:
        print("the child unwound the rig's stack", flush=True)
    os._exit(0)
os.read(ready_r, 1)
os.kill(pid, int(sys.argv[1]))
_, status = os.waitpid(pid, 0)
print("child ended by exit code", os.waitstatus_to_exitcode(status), flush=True)
try:
    os.kill(os.getpid(), int(sys.argv[1]))
    threading.Event().wait(30)
except KeyboardInterrupt as exc:
    print("the rig itself:", exc, flush=True)
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_fork_before_its_exec_ends_at_once_and_the_rig_itself_is_interrupted(signum: signal.Signals) -> None:
    done = subprocess.run(
        [sys.executable, "-c", FORK_THEN_SIGNAL, str(int(signum))],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.stdout.splitlines() == [
        f"child ended by exit code {128 + signum}",
        f"the rig itself: stopped by {signum.name}",
    ], done.stdout + done.stderr


def test_an_interrupt_on_a_frame_without_a_line_is_still_reported() -> None:
    # Python 3.11 gives a frame stopped on an instruction without a line number `tb_lineno` None;
    # pytest's report of a KeyboardInterrupt then failed with a TypeError and the run ended with exit 1
    try:
        raise KeyboardInterrupt("stopped by SIGHUP")
    except KeyboardInterrupt:
        excinfo = pytest.ExceptionInfo[BaseException].from_current()
    real = excinfo.traceback[0]
    lineless = TracebackEntry(types.SimpleNamespace(tb_lineno=None, tb_frame=real._rawentry.tb_frame, tb_next=None))
    excinfo.traceback = Traceback([real, lineless])
    with pytest.raises(TypeError):
        excinfo.getrepr(funcargs=True)
    pytest_keyboard_interrupt(excinfo)
    assert "stopped by SIGHUP" in str(excinfo.getrepr(funcargs=True))
    assert has_line(real) and not has_line(lineless)
