"""SIGTERM, SIGHUP and SIGINT stop the rig as Ctrl-C does: a KeyboardInterrupt in the main thread,
so every `finally` runs (temporary folders and partial downloads removed, hub ports switched back
on, locks released) before the process ends. Used by the `rig` command and the pytest plugin.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

STOPPED_BY: list[str] = []  # the signal that is stopping this process's run, once one arrived
SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)


def interrupt(signum: int, _frame: FrameType | None) -> None:
    """The handler: note the signal, raise KeyboardInterrupt."""
    STOPPED_BY.append(signal.Signals(signum).name)
    raise KeyboardInterrupt(f"stopped by {signal.Signals(signum).name}")


def stop_on_signals() -> dict[int, Any]:
    """Install `interrupt` for every signal left at its default (an ignored one stays ignored:
    nohup, a shell's `&`); the handlers it replaced, for `restore`. Only the main thread can.
    """
    if threading.current_thread() is not threading.main_thread():
        return {}
    saved: dict[int, Any] = {}
    for signum in SIGNALS:
        if signal.getsignal(signum) in (signal.SIG_DFL, signal.default_int_handler, None, interrupt):
            saved[signum] = signal.signal(signum, interrupt)
    return saved


def restore(saved: dict[int, Any]) -> None:
    """Put back the handlers `stop_on_signals` replaced."""
    for signum, handler in saved.items():
        signal.signal(signum, handler)
