"""SIGTERM and SIGHUP end the rig's work as Ctrl-C (SIGINT) does, in every rig process (a command,
a pytest controller, an xdist worker): a KeyboardInterrupt in the main thread, so every `finally`
runs — ports switched off are switched on, locks are released, what finished is written.

A forked child of the rig that has not exec'd yet (`sh` forks, then runs Python code before its
exec, and catches `Exception` only) gets the same signal from a Ctrl-C or a `kill` of the process
group. There the signal ends the child at once (exit code 128 + the signal): a KeyboardInterrupt
would unwind its copy of the rig's stack (reports written twice, a simulated lab's stop waiting
forever for a server thread the fork did not copy, the run's stdout held open by a process that
never ends).
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

STOPPED_BY: list[str] = []  # the signal that is stopping this process, once one arrived
_STOPPING = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
_HANDLED_IN: list[int] = []  # the pid of the process whose handlers these are (a fork has another)


def _interrupt(signum: int, _frame: Any) -> None:
    if _HANDLED_IN and os.getpid() != _HANDLED_IN[-1]:
        os._exit(128 + signum)  # a fork of the rig before its exec: its copy of the rig must not run on
    STOPPED_BY.append(signal.Signals(signum).name)
    raise KeyboardInterrupt(f"stopped by {signal.Signals(signum).name}")


def stop_on_signals() -> dict[int, Any]:
    """Turn SIGTERM, SIGHUP and SIGINT into KeyboardInterrupt; returns the handlers replaced, for
    `restore`. An ignored signal stays ignored (nohup, a shell's `&`), one already handled stays so.
    """
    if threading.current_thread() is not threading.main_thread():
        return {}
    saved: dict[int, Any] = {}
    _HANDLED_IN[:] = [os.getpid()]
    for signum in _STOPPING:
        if signal.getsignal(signum) in (signal.SIG_DFL, signal.default_int_handler, None):
            saved[signum] = signal.signal(signum, _interrupt)
    return saved


def raise_if_stopped() -> None:
    """Stop again at a safe point when a signal arrived: Python swallows an exception raised inside a
    finalizer (`__del__`, a weakref callback: pyusb's device clean-up during garbage collection), so
    the KeyboardInterrupt of a signal that lands there is lost and the run would go on.
    """
    if STOPPED_BY:
        raise KeyboardInterrupt(f"stopped by {STOPPED_BY[0]}")


def restore(saved: dict[int, Any]) -> None:
    """Put back the handlers `stop_on_signals` replaced."""
    for signum, handler in saved.items():
        signal.signal(signum, handler)


@contextmanager
def held() -> Iterator[None]:
    """Stop signals wait (blocked in this thread) until the block ends: a program's launch is not cut
    between its fork and the caller holding the process (a program started then would run on, owned
    by nobody). Launch with `_preexec_fn=unheld_in_child`, so the program itself is not left deaf.
    """
    before = signal.pthread_sigmask(signal.SIG_BLOCK, _STOPPING)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def unheld_in_child() -> None:
    """In a child launched within `held` (sh's preexec_fn): the stop signals reach it again."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOPPING)
