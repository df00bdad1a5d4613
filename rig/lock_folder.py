"""The machine-wide lock folder that every user of a bench host (and root) shares: choosing and
checking it, and the only ways the rig touches a file in it. Nothing found there is trusted: every
file the rig makes is created with O_CREAT|O_EXCL|O_NOFOLLOW (a planted symlink is never written
through), a lock file must be a regular file with one link (`check_lock_file`), and a quarantine
marker's text is shown only when the marker is one the rig could have written (`read_marker`).
Files are made 0o664 and a folder the rig makes 0o2775 (setgid), so the users of the folder's group
share it whatever their umask.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
import tempfile
from pathlib import Path

from rig.errors import ConfigError

LOCK_DIR_ENV = "RIG_LOCK_DIR"
CLAIM_TIMEOUT = 600.0  # wall seconds a claim waits for a board another run or command holds
FILE_MODE = 0o664  # group-writable: another user of the folder's group can open a lock the first one made
FOLDER_MODE = 0o2775  # setgid: every file made in it carries the folder's group
MARKER_LIMIT = 4096  # a reason the rig writes is one line; a larger marker is not the rig's
SETUP = 'README "One lock folder for several users"'
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC  # a FIFO must not block


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
    """Create (0o2775) or check the lock directory, or say in one sentence why it cannot be used."""
    explicit = path is not None or bool(os.environ.get(LOCK_DIR_ENV))
    folder = path or default_lock_dir()
    try:
        _make_folder(folder)
        if folder.is_symlink() and not explicit:  # /run/lock and the temp dir are open to every user
            raise ConfigError(
                f"The lock directory {folder} is a symlink, which any user can plant there: remove it, "
                "or name the folder you mean with --rig-lock-dir."
            )
        info = os.stat(folder)  # a folder named with --rig-lock-dir or $RIG_LOCK_DIR may be a symlink
        if not stat.S_ISDIR(info.st_mode):
            raise ConfigError(f"The lock directory {folder} is not a folder: remove it or pass another --rig-lock-dir.")
        _check_sharing(folder, info)
        probe = folder / f".writable-{os.getpid()}-{secrets.token_hex(4)}"  # a new name: never another
        os.close(create_file(probe))  # user's file, never a planted symlink
        os.unlink(probe)
    except OSError as exc:
        hint = f", or have it shared with you ({SETUP})" if exc.errno in (errno.EACCES, errno.EPERM) else ""
        raise ConfigError(
            f"The lock directory {folder} is not writable ({exc.strerror}); pass --rig-lock-dir or set "
            f"{LOCK_DIR_ENV}{hint}."
        ) from None
    return folder


def _make_folder(folder: Path) -> None:
    """Make the folder 0o2775 (whatever the umask) when nothing is there; leave what is there alone."""
    if os.path.lexists(folder):
        return
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.mkdir(folder, 0o775)
    except FileExistsError:
        return
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        os.fchmod(fd, FOLDER_MODE)
    finally:
        os.close(fd)


def _check_sharing(folder: Path, info: os.stat_result) -> None:
    """Refuse a folder in which someone outside the bench's users could remove or swap locks."""
    if info.st_mode & stat.S_IWOTH and not info.st_mode & stat.S_ISVTX:
        raise ConfigError(
            f"The lock directory {folder} is writable by every user and has no sticky bit, so anyone could "
            f"remove or swap its locks: chmod o-w it ({SETUP})."
        )
    if info.st_mode & stat.S_IWOTH and info.st_uid not in (os.geteuid(), 0):
        raise ConfigError(
            f"The lock directory {folder} belongs to user {info.st_uid} and every user can write it, so that "
            f"user could swap its locks: remove it and set it up ({SETUP}), or pass your own --rig-lock-dir."
        )


def create_file(path: Path) -> int:
    """A new file open for writing, 0o664 whatever the umask (never an existing file, never through a symlink)."""
    fd = os.open(path, _CREATE, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    except OSError:
        os.close(fd)
        raise
    return fd


def not_the_rigs(info: os.stat_result) -> str | None:
    """What makes a file in the lock folder one the rig did not make (a symlink ...), or None."""
    if stat.S_ISLNK(info.st_mode):
        return "a symlink"
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file"
    if info.st_nlink != 1:
        return f"a file with {info.st_nlink} hard links"
    return None


def check_lock_file(path: Path) -> str | None:
    """Make a board's lock file when missing; what is wrong with the one there (a symlink ...), or None."""
    with contextlib.suppress(FileExistsError):
        os.close(create_file(path))
    return not_the_rigs(os.lstat(path))


def read_marker(path: Path, folder: Path) -> tuple[str, bool] | None:
    """A quarantine marker's reason and True; why its text is not shown and False; None when there is none.

    The text is shown only from a regular file with one link, at most MARKER_LIMIT bytes, owned by
    this user or the folder's owner, or carrying the group of a group-shared folder (setgid,
    group-writable, not world-writable): every file the rig writes there is one of these.
    """
    try:
        fd = os.open(path, _READ)
    except FileNotFoundError:
        return None
    except OSError as exc:  # ELOOP: a symlink
        return ("a symlink" if exc.errno == errno.ELOOP else f"unreadable: {exc.strerror}"), False
    try:
        info = os.fstat(fd)  # of what was opened: no race with a swap after a check
        why = not_the_rigs(info) or _stranger(info, os.stat(folder))
        if why is None and info.st_size > MARKER_LIMIT:
            why = f"larger than {MARKER_LIMIT} bytes"
        if why is not None:
            return why, False
        data = os.read(fd, MARKER_LIMIT)
    finally:
        os.close(fd)
    text = "".join(c if c.isprintable() else " " for c in data.decode("utf-8", "replace"))
    return " ".join(text.split()) or "no reason given", True


def _stranger(info: os.stat_result, folder: os.stat_result) -> str | None:
    """Who owns a marker when that is not a user the rig could have run as, or None."""
    if info.st_uid in (os.geteuid(), folder.st_uid):
        return None
    shared = folder.st_mode & stat.S_ISGID and folder.st_mode & stat.S_IWGRP and not folder.st_mode & stat.S_IWOTH
    if shared and info.st_gid == folder.st_gid:
        return None
    return f"owned by user {info.st_uid}"


def write_marker(path: Path, text: str) -> None:
    """Write a marker whole: a new file, renamed over whatever is there (a symlink's target is never touched)."""
    new = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}")
    fd = create_file(new)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.rename(new, path)
    except OSError:
        new.unlink(missing_ok=True)
        if not os.path.lexists(path):  # a marker of another user in a sticky folder: the board stays quarantined
            raise
