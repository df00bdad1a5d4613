"""Claiming boards: the `Claimer` interface, and `Pool`, its implementation for one host: one file
lock per board in a machine-wide lock directory, so two pytest runs or xdist workers never share a
board (python-stack §6c). The kernel frees a dead worker's lock; the next claimant re-initialises
the board. A remote bench plugs in another Claimer (labgrid places).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Protocol

from filelock import FileLock, Timeout

from rig.clock import Clock, Deadline
from rig.errors import EXIT_FAILED, ConfigError, RigError

LOCK_DIR_ENV = "RIG_LOCK_DIR"


class NoBoardError(RigError):
    """No board of the wanted kind became free in time."""

    exit_code = EXIT_FAILED


class Claimer(Protocol):
    """Exclusive use of boards, and taking a broken one out of service."""

    def claim(
        self, candidates: list[str], clock: Clock, timeout: float = 600.0, start: int = 0
    ) -> AbstractContextManager[str]:
        """Hold one free, usable board of `candidates` for the block (NoBoardError if none comes free)."""
        ...

    def quarantine(self, name: str, reason: str) -> None:
        """Take a board out of service for every later claim."""
        ...

    def quarantined(self, name: str) -> str | None:
        """Why a board is out of service, or None."""
        ...


def default_lock_dir() -> Path:
    """$RIG_LOCK_DIR, else /run/lock/particle-rig when writable, else the temp directory."""
    given = os.environ.get(LOCK_DIR_ENV)
    if given:
        return Path(given)
    run_lock = Path("/run/lock")
    if run_lock.is_dir() and os.access(run_lock, os.W_OK):
        return run_lock / "particle-rig"
    return Path(tempfile.gettempdir()) / "particle-rig-locks"


def lock_dir(path: Path | None) -> Path:
    """Create the lock directory, or say which one cannot be used."""
    folder = path or default_lock_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".writable"
        probe.touch()
    except OSError as exc:
        raise ConfigError(
            f"The lock directory {folder} is not writable ({exc.strerror}); pass --rig-lock-dir or set {LOCK_DIR_ENV}."
        ) from None
    return folder


class Pool:
    """Boards (by name) claimed through file locks on this host: a `Claimer`."""

    def __init__(self, names: list[str], folder: Path | None = None) -> None:
        self.names = sorted(names)
        self.folder = lock_dir(folder)

    def lock(self, name: str) -> FileLock:
        """The lock file of a board."""
        return FileLock(str(self.folder / f"board-{name}.lock"))

    def quarantine_file(self, name: str) -> Path:
        """Present while a board is quarantined (for every process of the host); delete it once fixed."""
        return self.folder / f"board-{name}.quarantined"

    def quarantined(self, name: str) -> str | None:
        """Why a board is quarantined, or None."""
        try:
            return self.quarantine_file(name).read_text().strip() or "no reason given"
        except FileNotFoundError:
            return None

    def quarantine(self, name: str, reason: str) -> None:
        """Take a board out of service for every later claim."""
        self.quarantine_file(name).write_text(reason + "\n")

    @contextmanager
    def claim(self, candidates: list[str], clock: Clock, timeout: float = 600.0, start: int = 0) -> Iterator[str]:
        """Hold one free board of `candidates` (trying from `start`) until the block ends."""
        if not candidates:
            raise NoBoardError("No board of that kind is in devices.yaml.")
        usable = [n for n in candidates if self.quarantined(n) is None]
        if not usable:
            name = candidates[0]
            who = name if len(candidates) == 1 else f"All of {', '.join(candidates)} are quarantined; {name}"
            raise NoBoardError(
                f"{who} is quarantined ({self.quarantined(name)}); fix the board, then delete "
                f"{self.quarantine_file(name)}."
            )
        candidates = usable
        order = candidates[start % len(candidates) :] + candidates[: start % len(candidates)]
        deadline = Deadline(clock, timeout)
        while True:
            for name in order:
                lock = self.lock(name)
                try:
                    lock.acquire(timeout=0)
                except Timeout:
                    continue
                try:
                    yield name
                finally:
                    lock.release()
                return
            if deadline.expired():
                raise NoBoardError(f"None of {', '.join(order)} became free within {timeout:g} s.")
            clock.sleep(0.25)
