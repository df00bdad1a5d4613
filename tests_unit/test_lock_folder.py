"""The shared lock folder under attack (issue 16 item 5): several users, and root, share one folder
of board locks and quarantine markers, and any of them can plant a file there. A planted symlink
or hard link is never followed, written through or truncated, the text of a marker the rig did not
write is never shown, and files and folders the rig makes stay usable by the folder's group
whatever the umask. The tests that need a second user (chown, setuid) run only as root.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rig import lock_folder, pool
from rig.clock import SystemClock
from rig.errors import ConfigError
from rig.lock_folder import lock_dir
from rig.pool import NoBoardError, Pool

SECRET = "root-only secret: hunter2"
ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="a second user (chown, setuid) needs root")
OTHER_UID, OTHER_GID, BENCH_GID = 4243, 4243, 4242  # need not exist in /etc/passwd


@pytest.fixture
def secret(tmp_path: Path) -> Iterator[Path]:
    """A file outside the lock folder that a planted link points to; unchanged at the end of every test."""
    target = tmp_path / "shadow"
    target.write_text(SECRET)
    target.chmod(0o600)
    before = target.stat()
    yield target
    after = target.stat()
    assert target.read_text() == SECRET and (after.st_mtime_ns, after.st_mode) == (before.st_mtime_ns, before.st_mode)


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The usual umask, which would make files 0o644 (another user of the group locked out)."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def claim_error(p: Pool, names: list[str]) -> str:
    """The NoBoardError sentence of claiming one of `names`."""
    with pytest.raises(NoBoardError) as caught, p.claim(names, SystemClock(), timeout=0):
        pass
    return str(caught.value)


# --- quarantine markers ---------------------------------------------------------------------------


def test_a_planted_marker_symlink_is_never_read_and_the_board_stays_quarantined(tmp_path: Path, secret: Path) -> None:
    p = Pool(["p"], tmp_path / "locks")
    marker = p.quarantine_file("p")
    marker.symlink_to(secret)
    reason = p.quarantined("p")
    assert reason is not None and SECRET not in reason
    assert reason == f"the marker file {marker} is not one the rig wrote (a symlink): check and delete it"
    said = claim_error(p, ["p"])
    assert SECRET not in said and "fix the board" not in said  # no "delete it" twice
    assert (
        said
        == f"p is quarantined (the marker file {marker} is not one the rig wrote (a symlink): check and delete it)."
    )


def test_quarantining_through_a_planted_symlink_replaces_the_link_not_its_target(tmp_path: Path, secret: Path) -> None:
    p = Pool(["p"], tmp_path / "locks")
    marker = p.quarantine_file("p")
    marker.symlink_to(secret)
    p.quarantine("p", "failed 3 health checks")
    assert not marker.is_symlink() and marker.read_text() == "failed 3 health checks\n"
    assert p.quarantined("p") == "failed 3 health checks"
    assert claim_error(p, ["p"]) == f"p is quarantined (failed 3 health checks); fix the board, then delete {marker}."
    assert sorted(f.name for f in p.folder.iterdir()) == [marker.name]  # no temporary file left


def test_a_hard_linked_marker_is_not_shown(tmp_path: Path, secret: Path) -> None:
    p = Pool(["p"], tmp_path / "locks")
    os.link(secret, p.quarantine_file("p"))  # same filesystem; root may link any file
    reason = p.quarantined("p") or ""
    assert "(a file with 2 hard links)" in reason and SECRET not in reason


def test_a_fifo_a_folder_and_a_huge_file_as_markers_are_named_not_read(tmp_path: Path) -> None:
    p = Pool(["f", "d", "h"], tmp_path / "locks")
    os.mkfifo(p.quarantine_file("f"))  # reading it would block for ever
    p.quarantine_file("d").mkdir()
    p.quarantine_file("h").write_text("x" * 5000)
    assert "(not a regular file)" in (p.quarantined("f") or "")
    assert "(not a regular file)" in (p.quarantined("d") or "")
    assert "(larger than 4096 bytes)" in (p.quarantined("h") or "")
    assert "All of f, d, h are quarantined; f is quarantined (the marker file" in claim_error(p, ["f", "d", "h"])


def test_a_reason_is_shown_on_one_line_without_control_characters(tmp_path: Path) -> None:
    p = Pool(["p"], tmp_path / "locks")
    p.quarantine("p", "dfu failed\x1b[2J\x07\n\nand again\r")
    assert p.quarantined("p") == "dfu failed [2J and again"
    p.quarantine_file("p").write_bytes(b"\xff\xfe bad utf-8")
    assert p.quarantined("p") == "\ufffd\ufffd bad utf-8"
    p.quarantine_file("p").write_text("")
    assert p.quarantined("p") == "no reason given"


@needs_root
def test_a_marker_of_a_user_outside_the_folder_is_not_shown(tmp_path: Path) -> None:
    p = Pool(["p"], tmp_path / "locks")
    marker = p.quarantine_file("p")
    marker.write_text("planted\n")
    os.chown(marker, OTHER_UID, OTHER_GID)
    assert (
        p.quarantined("p")
        == f"the marker file {marker} is not one the rig wrote (owned by user {OTHER_UID}): check and delete it"
    )
    os.chown(marker, OTHER_UID, os.stat(p.folder).st_gid)  # a user of the folder's group (setgid, 2775)
    assert p.quarantined("p") == "planted"
    os.chmod(p.folder, 0o3777)  # world-writable: the group no longer vouches for the writer
    assert "(owned by user 4243)" in (p.quarantined("p") or "")


# --- lock files -----------------------------------------------------------------------------------


def test_a_planted_lock_symlink_is_one_sentence_and_its_target_is_not_truncated(tmp_path: Path, secret: Path) -> None:
    p = Pool(["p"], tmp_path / "locks")
    lock = p.folder / "board-p.lock"
    lock.symlink_to(secret)
    assert claim_error(p, ["p"]) == f"{lock} is a symlink, not a lock the rig made: remove it."
    lock.unlink()
    with p.claim(["p"], SystemClock(), timeout=0) as name:  # removed as told: the board is usable again
        assert name == "p"


def test_a_lock_symlink_planted_after_the_check_is_refused_by_the_open(
    tmp_path: Path, secret: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = Pool(["p"], tmp_path / "locks")
    lock = p.folder / "board-p.lock"

    def swapped(path: Path) -> None:
        path.symlink_to(secret)  # the race: the link appears between the rig's check and filelock's open

    monkeypatch.setattr(pool, "check_lock_file", swapped)
    assert claim_error(p, ["p"]) == f"{lock} is a symlink, not a lock the rig made: remove it."


def test_a_hard_linked_or_folder_lock_is_refused(tmp_path: Path, secret: Path) -> None:
    p = Pool(["p", "d"], tmp_path / "locks")
    os.link(secret, p.folder / "board-p.lock")  # holding it would truncate the secret
    (p.folder / "board-d.lock").mkdir()
    said = f"{p.folder / 'board-p.lock'} is a file with 2 hard links, not a lock the rig made: remove it."
    assert claim_error(p, ["p"]) == said
    assert (
        claim_error(p, ["d"])
        == f"{p.folder / 'board-d.lock'} is not a regular file, not a lock the rig made: remove it."
    )


# --- the probe and the folder ---------------------------------------------------------------------


def test_the_probe_never_touches_a_planted_writable_file(tmp_path: Path, secret: Path) -> None:
    folder = tmp_path / "locks"
    folder.mkdir()
    (folder / ".writable").symlink_to(secret)  # the probe of older rigs (`touch` followed it)
    assert lock_dir(folder) == folder
    assert sorted(f.name for f in folder.iterdir()) == [".writable"]  # the probe leaves nothing behind


def test_files_and_folders_the_rig_makes_are_group_writable_whatever_the_umask(tmp_path: Path, umask_022: None) -> None:
    os.umask(0o077)  # stricter still
    p = Pool(["p"], tmp_path / "locks")
    assert stat.S_IMODE(os.stat(p.folder).st_mode) == 0o2775  # setgid: files carry the folder's group
    with p.claim(["p"], SystemClock(), timeout=0):
        pass
    p.quarantine("p", "dead")
    for made in (p.folder / "board-p.lock", p.quarantine_file("p")):
        info = os.stat(made)
        assert stat.S_IMODE(info.st_mode) == 0o664, made
        assert info.st_gid == os.stat(p.folder).st_gid


def test_an_existing_folder_keeps_its_mode(tmp_path: Path) -> None:
    folder = tmp_path / "locks"
    folder.mkdir(mode=0o700)
    lock_dir(folder)
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700


def test_a_symlinked_default_folder_is_refused_an_explicit_one_is_followed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = tmp_path / "real"
    real.mkdir()
    planted = tmp_path / "particle-rig"
    planted.symlink_to(real)
    monkeypatch.delenv(lock_folder.LOCK_DIR_ENV, raising=False)
    monkeypatch.setattr(lock_folder, "default_lock_dir", lambda: planted)
    with pytest.raises(
        ConfigError, match=r"^The lock directory .*/particle-rig is a symlink, which any user can plant"
    ):
        lock_dir(None)
    assert lock_dir(planted) == planted  # --rig-lock-dir: the user's own choice
    monkeypatch.setenv(lock_folder.LOCK_DIR_ENV, str(planted))
    assert lock_dir(None) == planted


def test_a_world_writable_folder_without_the_sticky_bit_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "locks"
    folder.mkdir()
    folder.chmod(0o777)
    with pytest.raises(ConfigError, match=r"is writable by every user and has no sticky bit, so anyone could"):
        Pool(["p"], folder)
    folder.chmod(0o1777)  # like /tmp: the others cannot remove or swap our files
    assert Pool(["p"], folder).folder == folder


def test_a_file_in_place_of_the_folder_is_one_sentence(tmp_path: Path) -> None:
    blocker = tmp_path / "locks"
    blocker.write_text("")
    with pytest.raises(ConfigError, match=r"^The lock directory .*/locks is not a folder: remove it"):
        lock_dir(blocker)


@needs_root
def test_a_world_writable_folder_of_another_user_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "locks"
    folder.mkdir()
    folder.chmod(0o1777)
    os.chown(folder, OTHER_UID, OTHER_GID)  # it can swap our files in its own folder, sticky or not
    with pytest.raises(ConfigError, match=rf"belongs to user {OTHER_UID} and every user can write it"):
        lock_dir(folder)


# --- a second user --------------------------------------------------------------------------------


def as_user(uid: int, gid: int, groups: list[int], work: Callable[[], object]) -> object:
    """Run `work` in a forked child as another user; its result (or its error's sentence) back as JSON."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 0
        try:
            os.close(read)
            os.setgroups(groups)
            os.setgid(gid)
            os.setuid(uid)
            try:
                result: object = work()
            except Exception as exc:
                result = {"error": type(exc).__name__, "said": str(exc)}
            os.write(write, json.dumps(result).encode())
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0 and data
    return json.loads(data)


@pytest.fixture
def shared() -> Iterator[Path]:
    """A bench group's lock folder that another user can reach (pytest's tmp_path is root's alone)."""
    top = Path(tempfile.mkdtemp(prefix="rig-shared-"))
    top.chmod(0o755)
    old = os.umask(0o022)
    try:
        folder = lock_dir(top / "locks")
        os.chown(folder, 0, BENCH_GID)  # README: install -d -m 2775 -g particle-rig
        yield folder
    finally:
        os.umask(old)
        shutil.rmtree(top)


@needs_root
def test_a_second_user_of_the_group_shares_locks_and_markers(shared: Path) -> None:
    p = Pool(["p", "q"], shared)
    with p.claim(["p"], SystemClock(), timeout=0):  # root makes board-p.lock under umask 022
        pass
    p.quarantine("q", "failed 3 health checks")

    def other() -> object:
        theirs = Pool(["p", "q", "r"], shared)
        with theirs.claim(["p"], SystemClock(), timeout=0) as a, theirs.claim(["r"], SystemClock(), timeout=0) as b:
            pass
        theirs.quarantine("r", "theirs")
        return [a, b, theirs.quarantined("q")]

    assert as_user(OTHER_UID, OTHER_GID, [BENCH_GID], other) == ["p", "r", "failed 3 health checks"]
    assert p.quarantined("r") == "theirs"  # root shows the group member's marker
    assert os.stat(shared / "board-r.lock").st_gid == BENCH_GID


@needs_root
def test_a_user_outside_the_group_and_an_old_0644_lock_are_one_sentence(shared: Path) -> None:
    def outsider() -> object:
        return Pool(["p"], shared).folder.name

    said = as_user(OTHER_UID, OTHER_GID, [], outsider)
    assert said == {
        "error": "ConfigError",
        "said": f"The lock directory {shared} is not writable (Permission denied); pass --rig-lock-dir or set "
        f"RIG_LOCK_DIR, or have it shared with you ({lock_folder.SETUP}).",
    }
    old = shared / "board-p.lock"
    old.write_text("")
    old.chmod(0o644)  # made by an older rig under umask 022

    def member() -> object:
        with Pool(["p"], shared).claim(["p"], SystemClock(), timeout=0):
            return "claimed"

    said = as_user(OTHER_UID, OTHER_GID, [BENCH_GID], member)
    assert said == {
        "error": "NoBoardError",
        "said": f"{old} cannot be opened (Permission denied): its owner or root should chmod 664 it or remove it "
        f"({lock_folder.SETUP}).",
    }
