"""Claiming boards: the `Claimer` interface, and `Pool`, its implementation for one host: one file
lock per board in a machine-wide lock directory, so two pytest runs or xdist workers never share a
board (python-stack §6c). The kernel frees a dead worker's lock; the next claimant re-initialises
the board. A remote bench plugs in another Claimer (labgrid places).
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Protocol

from filelock import FileLock, Timeout

from rig.clock import Clock, Deadline
from rig.errors import EXIT_FAILED, ConfigError, RigError
from rig.lock_folder import (
    CLAIM_TIMEOUT,
    FILE_MODE,
    LOCK_DIR_ENV,
    SETUP,
    check_lock_file,
    default_lock_dir,
    lock_dir,
    read_marker,
    write_marker,
)

__all__ = ["CLAIM_TIMEOUT", "LOCK_DIR_ENV", "Claimer", "NoBoardError", "Pool", "default_lock_dir", "lock_dir"]


class NoBoardError(RigError):
    """No board of the wanted kind became free in time."""

    exit_code = EXIT_FAILED


class Claimer(Protocol):
    """Exclusive use of boards, and taking a broken one out of service."""

    def claim(
        self,
        candidates: list[str],
        clock: Clock,
        timeout: float = CLAIM_TIMEOUT,
        start: int = 0,
        at: str | None = None,
    ) -> AbstractContextManager[str]:
        """Hold one free, usable board of `candidates` for the block (NoBoardError if none comes free);
        `at`: the Device OS the claim's path starts from (a board known to run it is preferred).
        """
        ...

    def quarantine(self, name: str, reason: str) -> None:
        """Take a board out of service for every later claim."""
        ...

    def quarantined(self, name: str) -> str | None:
        """Why a board is out of service, or None."""
        ...


class Pool:
    """Boards (by name) claimed through file locks on this host: a `Claimer`."""

    def __init__(self, names: list[str], folder: Path | None = None) -> None:
        self.names = sorted(names)
        self.folder = lock_dir(folder)

    def lock(self, name: str) -> FileLock:
        """The lock file of a board (made 0o664 by the rig when missing); NoBoardError when what is
        there is not a lock the rig made (a planted symlink, a hard link, a folder).
        """
        path = self.folder / f"board-{name}.lock"
        try:
            wrong = check_lock_file(path)
        except OSError as exc:
            raise NoBoardError(f"{path} cannot be made ({exc.strerror}): check the lock directory ({SETUP}).") from None
        if wrong is not None:
            raise NoBoardError(f"{path} is {wrong}, not a lock the rig made: remove it.")
        return FileLock(str(path), mode=FILE_MODE)

    def quarantine_file(self, name: str) -> Path:
        """Present while a board is quarantined (for every process of the host); delete it once fixed."""
        return self.folder / f"board-{name}.quarantined"

    def quarantined(self, name: str) -> str | None:
        """Why a board is quarantined, or None; a marker the rig did not write is named, never shown."""
        marker = read_marker(self.quarantine_file(name), self.folder)
        if marker is None:
            return None
        text, ours = marker
        if ours:
            return text
        return f"the marker file {self.quarantine_file(name)} is not one the rig wrote ({text}): check and delete it"

    def quarantine(self, name: str, reason: str) -> None:
        """Take a board out of service for every later claim."""
        try:
            write_marker(self.quarantine_file(name), reason + "\n")
        except OSError as exc:
            raise ConfigError(
                f"{self.quarantine_file(name)} cannot be written ({exc.strerror}): check the lock directory ({SETUP})."
            ) from None

    @contextmanager
    def claim(
        self,
        candidates: list[str],
        clock: Clock,
        timeout: float = CLAIM_TIMEOUT,
        start: int = 0,
        at: str | None = None,
    ) -> Iterator[str]:
        """Hold one free board of `candidates` (trying from `start`) until the block ends (`at` is not
        used: this host's locks do not know what the boards run).
        """
        del at
        if not candidates:
            raise NoBoardError("No board of that kind is in devices.yaml.")
        usable = [n for n in candidates if self.quarantined(n) is None]
        if not usable:
            name = candidates[0]
            who = name if len(candidates) == 1 else f"All of {', '.join(candidates)} are quarantined; {name}"
            marker = read_marker(self.quarantine_file(name), self.folder)
            fix = f"; fix the board, then delete {self.quarantine_file(name)}" if marker is None or marker[1] else ""
            raise NoBoardError(f"{who} is quarantined ({self.quarantined(name)}){fix}.")
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
                except OSError as exc:  # swapped for a symlink since the check, or not group-writable
                    raise NoBoardError(_unusable(lock.lock_file, exc)) from None
                try:
                    yield name
                finally:
                    lock.release()
                return
            if deadline.expired():
                raise NoBoardError(
                    f"None of {', '.join(order)} became free within {timeout:g} s: another run or command holds "
                    "it; wait for that to end."
                )
            clock.sleep(0.25)


def _unusable(path: str, exc: OSError) -> str:
    """One sentence for a lock file that cannot be opened."""
    if exc.errno == errno.ELOOP:
        return f"{path} is a symlink, not a lock the rig made: remove it."
    if exc.errno in (errno.EACCES, errno.EPERM):
        return (
            f"{path} cannot be opened ({exc.strerror}): its owner or root should chmod 664 it or remove it ({SETUP})."
        )
    return f"{path} cannot be opened as a lock ({exc.strerror}): remove it if the rig did not make it."
