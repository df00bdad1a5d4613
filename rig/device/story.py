"""A board's story: every note the rig makes about it, timed on the bench clock and the wall clock,
and a path's log as those notes counted from the path's start (not from the lab's or host's clock).

`Device.note` records a `Note`; `Device.mark` says where a story begins; `timed` notes one
operation (a write, a power cycle) with how long it took, or how long it ran before it failed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

from rig.clock import Clock


@dataclass(frozen=True)
class Note:
    """One line of a board's story: when (bench clock, wall clock) and what."""

    clock: float
    wall: float
    text: str


@dataclass(frozen=True)
class Mark:
    """Where a story begins: the bench clock, the wall clock, and the index of its first note."""

    clock: float
    wall: float
    index: int


class Noting(Protocol):
    """What `timed` needs of a device."""

    @property
    def clock(self) -> Clock:
        """The bench clock."""
        ...

    def note(self, text: str) -> None:
        """Record a line of the story."""
        ...


@dataclass
class Took:
    """How long a timed operation took (filled in when it ends, also when it fails)."""

    clock: float = 0.0
    wall: float = 0.0

    def __str__(self) -> str:
        return f"{self.clock:.2f} s (wall {self.wall:.3f} s)"


@contextmanager
def timed(dev: Noting, what: str) -> Iterator[Took]:
    """Note `what` when it ends: 'WHAT in 1.23 s (wall 0.004 s)', or 'WHAT failed after …: why'."""
    took, clock0, wall0 = Took(), dev.clock.now(), time.perf_counter()
    try:
        yield took
    except Exception as exc:
        took.clock, took.wall = dev.clock.now() - clock0, time.perf_counter() - wall0
        dev.note(f"{what} failed after {took}: {exc}")
        raise
    took.clock, took.wall = dev.clock.now() - clock0, time.perf_counter() - wall0
    dev.note(f"{what} in {took}")


def render(notes: Sequence[Note], start: Mark) -> list[str]:
    """The notes from `start` on, each stamped with the bench seconds since `start`."""
    return [f"{n.clock - start.clock:9.2f}s {n.text}" for n in notes[start.index :]]
