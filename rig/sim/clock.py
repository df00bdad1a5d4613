"""The simulator's clock: virtual time at scale 0, scaled real time otherwise.

Scale is wall seconds per modelled second: 0 = virtual time that advances instantly when
anyone sleeps (a 60 s timeout costs nothing), 1 = real time, 0.1 = ten times faster than real
boards. Board delays are events scheduled on this clock; they fire when time reaches them.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(order=True)
class Timer:
    """A scheduled event; cancel() keeps it from firing."""

    at: float
    seq: int
    action: Callable[[], None] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        """Do not fire."""
        self.cancelled = True


class SimClock:
    """Virtual or scaled time with scheduled events; all lab state changes hold `lock`."""

    def __init__(self, scale: float = 0.0) -> None:
        if scale < 0:
            raise ValueError("time scale must be >= 0")
        self.scale = scale
        self.lock = threading.RLock()
        self._virtual = 0.0
        self._real0 = time.monotonic()
        self._events: list[Timer] = []
        self._seq = itertools.count()
        self._wake = threading.Event()
        self._tick = threading.Condition(self.lock)  # a sleeper that holds the lab lock lets it go meanwhile

    def now(self) -> float:
        """Modelled seconds since the lab started."""
        if self.scale == 0:
            return self._virtual
        return (time.monotonic() - self._real0) / self.scale

    def held_here(self) -> bool:
        """Whether the calling thread holds the lab lock (CPython's RLock answers it itself)."""
        return bool(self.lock._is_owned())  # type: ignore[attr-defined]

    def schedule(self, delay: float, action: Callable[[], None]) -> Timer:
        """Run `action` (holding the lab lock) once `delay` modelled seconds have passed."""
        with self.lock:
            timer = Timer(self.now() + max(0.0, delay), next(self._seq), action)
            heapq.heappush(self._events, timer)
            return timer

    def next_event_at(self) -> float | None:
        """When the next pending event fires, if any."""
        with self.lock:
            while self._events and self._events[0].cancelled:
                heapq.heappop(self._events)
            return self._events[0].at if self._events else None

    def run_due(self) -> None:
        """Fire every event whose time has come, in order."""
        with self.lock:
            now = self.now()
            while self._events and self._events[0].at <= now:
                timer = heapq.heappop(self._events)
                if timer.cancelled:
                    continue
                if self.scale == 0:
                    self._virtual = max(self._virtual, timer.at)
                timer.action()

    def _advance_virtual(self, target: float) -> None:
        with self.lock:
            while True:
                nxt = self.next_event_at()
                if nxt is None or nxt > target:
                    break
                self._virtual = max(self._virtual, nxt)
                self.run_due()
            self._virtual = max(self._virtual, target)

    def sleep(self, seconds: float) -> None:
        """Let `seconds` of modelled time pass, firing the events that fall due."""
        if self.scale == 0:
            self._advance_virtual(self.now() + max(0.0, seconds))
            return
        end = self.now() + max(0.0, seconds)
        while True:
            self.run_due()
            left = end - self.now()
            if left <= 0:
                break
            nxt = self.next_event_at()
            step = left if nxt is None else max(0.0, min(left, nxt - self.now()))
            self._wait(step * self.scale)
        self.run_due()

    def _wait(self, seconds: float) -> None:
        """Wait `seconds` of wall time. A caller that holds the lab lock (a board busy in a transfer or
        a flash write) lets it go meanwhile, as other boards go on while one is busy.
        """
        try:
            self._tick.wait(seconds)
        except RuntimeError:  # the lock is not this thread's
            self._wake.wait(seconds)

    def busy(self, seconds: float) -> None:
        """The board is busy for `seconds` (an erase, a write): same as sleep (other boards go on)."""
        self.sleep(seconds)
