"""trend.html: what changed since the previous run (paths that newly fail, newly pass), then every
run newest first with its selection, counts, real wall time and a link to its own matrix.html.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from typing import Any

from rig.report.html import badge, bench_time, duration, page, selection_text
from rig.report.results import FAILED, FLAKY, OUTCOMES, PASSED, PathResult, ordered


@dataclass
class Changes:
    """The latest run against the previous one: (path id, outcome before, outcome now) lists."""

    previous_run: str | None
    newly_failing: list[tuple[str, str, str]] = field(default_factory=list)
    newly_passing: list[tuple[str, str, str]] = field(default_factory=list)
    note: str = ""  # why there is nothing to compare with


def compare(previous: list[PathResult] | None, latest: list[PathResult], previous_run: str | None) -> Changes:
    """Paths failing now that did not before (new paths included), and paths passing now that failed
    or were flaky before; `previous` None: the previous run's results could not be read.
    """
    if previous is None:
        why = f"the results of the previous run {previous_run} could not be read" if previous_run else "no earlier run"
        return Changes(previous_run, note=why)
    before = {r.id: r.outcome for r in previous}
    changes = Changes(previous_run)
    for r in ordered(latest):
        was = before.get(r.id, "not in that run")
        if r.outcome in FAILED and was not in FAILED:
            changes.newly_failing.append((r.id, was, r.outcome))
        elif r.outcome in PASSED and was in (*FAILED, FLAKY):
            changes.newly_passing.append((r.id, was, r.outcome))
    return changes


def _change_list(title: str, ident: str, rows: list[tuple[str, str, str]], logs: str) -> str:
    if not rows:
        return f"<h3>{title}: none</h3>"
    items = "".join(
        f"<li><a href='{escape(logs)}{escape(i)}.txt'>{escape(i)}</a>: {escape(was)} → {badge(now, now)}</li>"
        for i, was, now in rows
    )
    return f"<h3>{title} ({len(rows)})</h3><ul id='{ident}'>{items}</ul>"


def changes_section(changes: Changes | None, logs: str) -> str:
    """The top of the page: what changed since the previous run."""
    if changes is None:
        return ""
    if changes.note:
        why = escape(changes.note)
        return f"<section id='changes'><h2>Since the previous run</h2><p>Nothing to compare: {why}.</p></section>"
    return (
        f"<section id='changes'><h2>Since the previous run ({escape(changes.previous_run or '')})</h2>"
        + _change_list("Newly failing", "newly-failing", changes.newly_failing, logs)
        + _change_list("Newly passing", "newly-passing", changes.newly_passing, logs)
        + "</section>"
    )


def _row(h: dict[str, Any], runs: str) -> str:
    run = h.get("run")
    link = f"<a href='{escape(runs)}{escape(str(run))}/matrix.html'>{escape(str(run))}</a>" if run else "—"
    counts = "".join(badge(o, f"{h.get(o)} {o}") for o in OUTCOMES if h.get(o))
    wall = h.get("run_wall_seconds")  # lines written before it was recorded have only the sum of path times
    return (
        f"<tr class='run'><td>{escape(str(h.get('started') or h.get('time') or ''))}</td><td>{link}</td>"
        f"<td>{escape(selection_text(h.get('selection') or {}))}</td><td>{escape(str(h.get('paths', '?')))}</td>"
        f"<td>{counts}</td><td>{duration(wall) if wall is not None else 'not recorded'}</td>"
        f"<td>{_bench_time(h)}</td></tr>"
    )


def once_per_run(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """History lines with one per run: a resumed run's last line (its final counts) where it ended,
    started when its first line did and with the wall time of all its sessions.
    """
    lines: dict[str, list[dict[str, Any]]] = {}
    for h in history:
        if h.get("run"):
            lines.setdefault(str(h["run"]), []).append(h)
    out: list[dict[str, Any]] = []
    for h in history:
        same = lines.get(str(h.get("run"))) if h.get("run") else None
        if same is None or len(same) == 1:
            out.append(h)
        elif h is same[-1]:
            walls = [s["run_wall_seconds"] for s in same if isinstance(s.get("run_wall_seconds"), (int, float))]
            wall = round(sum(walls), 1) if walls else None
            out.append({**h, "started": same[0].get("started") or h.get("started"), "run_wall_seconds": wall})
    return out


def _bench_time(h: dict[str, Any]) -> str:
    """A run's modelled bench time: its paths and their set-ups (lines written before set-ups were
    recorded have the paths' time only, and say so).
    """
    paths, setup = h.get("modelled_seconds"), h.get("setup_modelled_seconds")
    if not isinstance(paths, (int, float)) or not isinstance(setup, (int, float)):
        return f"{duration(paths)} (paths only; set-ups not recorded)"
    return bench_time(setup, paths)


def trend_page(history: list[dict[str, Any]], changes: Changes | None = None, runs: str = "runs/") -> str:
    """Past runs (once each), newest first, after what changed since the previous run; `runs`: where
    the run folders are, relative to the page.
    """
    history = once_per_run(history)
    logs = f"{runs}{changes_run(history)}/logs/" if changes_run(history) else "logs/"
    rows = "".join(_row(h, runs) for h in reversed(history))
    body = (
        "<h1>Trend</h1>"
        + changes_section(changes, logs)
        + "<h2>Runs, newest first</h2><table id='trend'><tr><th>started</th><th>run (its matrix)</th>"
        "<th>selection</th><th>paths</th><th>outcomes</th><th>wall time</th>"
        "<th>modelled bench time (set-up + paths)</th></tr>"
        + rows
        + "</table><p><a href='matrix.html'>this run's matrix</a></p>"
    )
    return page("particle-rig trend", body)


def changes_run(history: list[dict[str, Any]]) -> str | None:
    """The latest run's id (its logs are the ones a change links to)."""
    return str(history[-1]["run"]) if history and history[-1].get("run") else None
