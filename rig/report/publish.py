"""Writing a run's report files: into its own folder, then the report folder's copies of the latest run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rig.report.html_matrix import matrix_page
from rig.report.html_trend import Changes, compare, trend_page
from rig.report.journal import RUNS, append, copy_whole, point_latest, read_lines, try_each, write_whole
from rig.report.results import PathResult, history_entry, read, results_json

HISTORY = "history.jsonl"
LATEST_COPIES = ("junit.xml", "report.html")  # written by pytest plugins after the rig's own files


def _logs(folder: Path, results: list[PathResult]) -> None:
    folder.mkdir(exist_ok=True)
    for r in results:
        write_whole(folder / f"{r.id}.txt", r.log or "(no log)\n")


def write_run(report_dir: Path, run_folder: Path, results: list[PathResult], meta: dict[str, Any]) -> list[str]:
    """Every file of a run (logs, results.json, matrix.html, trend.html, its history line) and the
    report folder's copies; returns one sentence per file that could not be written or read.
    """
    past, problems = read_lines(report_dir / HISTORY)
    entry = history_entry(results, meta)
    changes = changes_since_previous(report_dir, past, run_folder.name, results)
    trend = trend_page([*past, entry], changes)
    trend_here = trend_page([*past, entry], changes, runs="../")
    text = results_json(results, meta)
    logs_here = f"{RUNS}/{run_folder.name}/logs/"
    actions = [
        (f"the path logs in {run_folder / 'logs'}", lambda: _logs(run_folder / "logs", results)),
        (str(run_folder / "results.json"), lambda: write_whole(run_folder / "results.json", text)),
        (str(report_dir / HISTORY), lambda: append(report_dir / HISTORY, entry)),
        (
            str(run_folder / "matrix.html"),
            lambda: write_whole(run_folder / "matrix.html", matrix_page(results, meta)),
        ),
        (str(run_folder / "trend.html"), lambda: write_whole(run_folder / "trend.html", trend_here)),
        (str(report_dir / "results.json"), lambda: write_whole(report_dir / "results.json", text)),
        (
            str(report_dir / "matrix.html"),
            lambda: write_whole(report_dir / "matrix.html", matrix_page(results, meta, logs_here)),
        ),
        (str(report_dir / "trend.html"), lambda: write_whole(report_dir / "trend.html", trend)),
        (str(report_dir / "latest"), lambda: point_latest(report_dir, run_folder)),
    ]
    return problems + list(try_each(actions))


def changes_since_previous(
    report_dir: Path, past: list[dict[str, Any]], run_id: str, results: list[PathResult]
) -> Changes:
    """The run against the run before it in the history (its results.json in its run folder; a
    missing or damaged folder is said, not an error).
    """
    earlier = [str(h["run"]) for h in past if h.get("run") and h.get("run") != run_id]
    if not earlier:
        return compare(None, results, None)
    try:
        _meta, previous = read(report_dir / RUNS / earlier[-1])
    except (OSError, ValueError, KeyError, TypeError):
        return compare(None, results, earlier[-1])
    return compare(previous, results, earlier[-1])


def copy_latest(report_dir: Path, run_folder: Path) -> list[str]:
    """The report folder's copies of the run's junit.xml and report.html (once pytest wrote them)."""
    return list(
        try_each(
            [
                (str(report_dir / name), lambda n=name: copy_whole(run_folder / n, report_dir / n))
                for name in LATEST_COPIES
            ]
        )
    )
