"""The clock the rig waits with: real time here, a virtual clock in the simulated lab.

Every wait in the rig goes through a Clock passed in by the caller (DESIGN.md "Seams": time),
so a 60 s timeout against the simulator at scale 0 costs no wall time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol


class Clock(Protocol):
    """What the rig needs from a clock."""

    def now(self) -> float:
        """Seconds on a monotonic scale."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait `seconds` (virtual or real)."""
        ...


class SystemClock:
    """Real time: time.monotonic and an interruptible wait."""

    def __init__(self) -> None:
        self._never = threading.Event()

    def now(self) -> float:
        """time.monotonic()."""
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        """Block for `seconds` of real time."""
        if seconds > 0:
            self._never.wait(seconds)


class Deadline:
    """A point in time on a clock, for loops that poll until something happens."""

    def __init__(self, clock: Clock, timeout: float) -> None:
        self.clock = clock
        self.timeout = timeout
        self.at = clock.now() + timeout

    def remaining(self) -> float:
        """Seconds left, never negative."""
        return max(0.0, self.at - self.clock.now())

    def expired(self) -> bool:
        """True once the deadline has passed."""
        return self.clock.now() >= self.at


def wait_for(predicate: Callable[[], bool], clock: Clock, timeout: float, interval: float = 0.25) -> bool:
    """Poll `predicate` until it is true or `timeout` passes on `clock`."""
    deadline = Deadline(clock, timeout)
    while True:
        if predicate():
            return True
        if deadline.expired():
            return False
        clock.sleep(min(interval, max(deadline.remaining(), 0.001)))
