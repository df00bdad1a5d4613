"""Nothing lost: each run's own folder, its results written as each path ends, files replaced whole.

    report/                  the folder given with --rig-report / rig matrix --report
      runs/<run id>/         one per run, never reused: paths.jsonl (one line per finished path,
                             fsync'd as it ends), results.json, logs/, matrix.html, trend.html,
                             junit.xml and report.html (rig matrix)
      latest -> runs/<id>    the latest run
      results.json, matrix.html, trend.html, junit.xml, report.html   copies of the latest run's
      history.jsonl          one line per run (appended; a damaged line is skipped with a warning;
                             a resumed run appends again, and trend.html shows it once, as it ended)

A killed run keeps every path that ended before the kill in its paths.jsonl; the other files are
derived from it and written through a temporary file and a rename, so a reader never sees half of
one, and failing to write one does not stop the others.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rig.errors import ConfigError
from rig.report.results import PathResult

JOURNAL = "paths.jsonl"
RUNS = "runs"
LATEST = "latest"


def new_run_id() -> str:
    """A run id that sorts by start time and differs between two runs started in the same second."""
    return f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"


def create_run_folder(report_dir: Path, run_id: str) -> Path:
    """report_dir/runs/<run_id>, made now; a run id already used is refused (two runs never share)."""
    runs = report_dir / RUNS
    folder = runs / run_id
    try:
        runs.mkdir(parents=True, exist_ok=True)
        if runs.is_symlink():
            raise ConfigError(f"{runs} is a symbolic link: the rig writes only into real folders; remove it.")
        try:
            folder.mkdir()
        except FileExistsError:
            raise ConfigError(f"The run folder {folder} exists already: every run needs a new run id.") from None
    except OSError as exc:
        raise ConfigError(
            f"Cannot write the report folder {report_dir} ({exc.strerror}): pass a writable --report folder."
        ) from None
    return folder


def discard_run(run_folder: Path, made: list[Path]) -> None:
    """Remove a run folder that holds no run (an empty selection), and the folders made for it when empty."""
    shutil.rmtree(run_folder, ignore_errors=True)
    for folder in sorted(made, key=lambda f: len(f.parts), reverse=True):
        with contextlib.suppress(OSError):  # not empty: something else is there, it stays
            folder.rmdir()


def append(path: Path, line: dict[str, Any]) -> None:
    """Add one JSON line to a file and flush it to the disk (never through a symbolic link)."""
    data = (json.dumps(line) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def record(run_folder: Path, result: PathResult) -> None:
    """A finished path, into the run's journal at once."""
    append(run_folder / JOURNAL, asdict(result))


def read_lines(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """The JSON objects of a JSON-lines file, and one sentence per line that could not be read."""
    good: list[dict[str, Any]] = []
    bad: list[str] = []
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return good, bad
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            value = None
        if isinstance(value, dict):
            good.append(value)
        else:
            bad.append(f"{path} line {number} is damaged and was skipped")
    return good, bad


def journal(run_folder: Path) -> list[PathResult]:
    """The paths a run finished, from its journal (a line cut by a kill is skipped)."""
    lines, _bad = read_lines(run_folder / JOURNAL)
    out = []
    for line in lines:
        try:
            out.append(PathResult.from_json(line))
        except TypeError:
            continue
    return out


def latest(run_folder: Path) -> dict[str, PathResult]:
    """Each path's last record in a run's journal (a resumed run adds records after earlier ones)."""
    return {r.id: r for r in journal(run_folder)}


def write_whole(path: Path, text: str | bytes) -> None:
    """Replace `path` with `text` through a temporary file and a rename (readers see old or new)."""
    data = text.encode() if isinstance(text, str) else text
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def copy_whole(source: Path, target: Path) -> None:
    """Copy a file by write_whole (a missing source is left alone)."""
    if source.is_file():
        write_whole(target, source.read_bytes())


def point_latest(report_dir: Path, run_folder: Path) -> None:
    """report_dir/latest -> runs/<id>, replaced in one rename."""
    link = report_dir / LATEST
    tmp = report_dir / f".{LATEST}.{os.getpid()}"
    tmp.unlink(missing_ok=True)
    os.symlink(Path(RUNS) / run_folder.name, tmp)
    os.replace(tmp, link)


def resolve_run(folder: Path) -> Path:
    """A run's folder: `folder` itself when it holds a journal, else the latest run of a report folder."""
    if (folder / JOURNAL).is_file():
        return folder
    latest = folder / LATEST
    if latest.is_symlink() and (latest.resolve() / JOURNAL).is_file():
        return latest.resolve()
    raise ConfigError(f"{folder} is neither a run folder nor a report folder with a run: pass one `rig matrix` wrote.")


def try_each(actions: list[tuple[str, Any]]) -> Iterator[str]:
    """Run every (what, action); yield one sentence per action that failed, the others still run."""
    for what, action in actions:
        try:
            action()
        except OSError as exc:
            yield f"Could not write {what} ({exc.strerror or exc}); the other report files were written."


def remove_tree(path: Path) -> None:
    """Remove a folder the rig made (best effort)."""
    shutil.rmtree(path, ignore_errors=True)
