"""The HTML matrix: per platform and method a from × to grid coloured by outcome, each cell linking
to that path's log and showing its timings; and a trend view over past runs.
"""

from __future__ import annotations

from html import escape
from typing import Any

from rig.firmware import versions
from rig.report.results import OUTCOMES, PathResult

COLOURS = {
    "pass": "#2e7d32",
    "completed-over-the-air": "#f9a825",
    "flaky": "#e65100",
    "fail": "#c62828",
    "refused": "#757575",
    "skipped": "#bdbdbd",
    "interrupted": "#6a1b9a",
    "not-run": "#424242",
}
STYLE = """body{font-family:sans-serif;margin:1.5em} table{border-collapse:collapse;margin:0 0 1.5em}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:center;font-size:13px}
td.cell a{color:#fff;text-decoration:none;font-weight:bold} .legend span{padding:2px 8px;color:#fff;margin-right:6px}"""


def _cell(r: PathResult | None, logs: str) -> str:
    if r is None:
        return "<td></td>"
    title = r.error or f"{r.modelled_seconds:.1f} s modelled, {r.wall_seconds:.2f} s wall"
    if r.error and r.board_state:
        title += f" Board left in: {r.board_state}."
    title = escape(title)
    return (
        f'<td class="cell" data-outcome="{r.outcome}" style="background:{COLOURS.get(r.outcome, "#000")}" '
        f'title="{title}"><a href="{escape(logs)}{escape(r.id)}.txt">{escape(r.outcome)}</a>'
        f"<br><small>{r.modelled_seconds:.0f} s</small></td>"
    )


def matrix_page(results: list[PathResult], meta: dict[str, Any], logs: str = "logs/") -> str:
    """The whole matrix as one HTML page; `logs`: where the path logs are, relative to the page."""
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>particle-rig matrix</title>"
        f"<style>{STYLE}</style></head><body><h1>Upgrade/downgrade matrix</h1>"
    ]
    counts = {o: sum(r.outcome == o for r in results) for o in OUTCOMES}
    parts.append(
        f"<p id='summary'>{len(results)} paths: "
        + ", ".join(f"{n} {o}" for o, n in counts.items() if n)
        + f" — {escape(str(meta.get('time', '')))}{' (simulated lab)' if meta.get('simulated') else ''}</p>"
    )
    parts.append(
        "<p class='legend'>" + "".join(f"<span style='background:{c}'>{o}</span>" for o, c in COLOURS.items()) + "</p>"
    )
    by_grid: dict[tuple[str, str], dict[tuple[str, str], PathResult]] = {}
    for r in results:
        by_grid.setdefault((r.platform, r.method), {})[(r.from_version, r.to_version)] = r
    for (platform, method), cells in sorted(by_grid.items()):
        vs = sorted({v for pair in cells for v in pair}, key=versions.semver_key)
        parts.append(
            f"<h2 id='{escape(platform)}-{escape(method)}'>{escape(platform)} — {escape(method)}</h2>"
            "<table><tr><th>from \\ to</th>" + "".join(f"<th>{escape(v)}</th>" for v in vs) + "</tr>"
        )
        for old in vs:
            parts.append(
                f"<tr><th>{escape(old)}</th>" + "".join(_cell(cells.get((old, new)), logs) for new in vs) + "</tr>"
            )
        parts.append("</table>")
    parts.append("<p><a href='trend.html'>trend over past runs</a> · <a href='results.json'>results.json</a></p>")
    return "".join(parts) + "</body></html>"


def trend_page(history: list[dict[str, Any]]) -> str:
    """Past runs, newest first."""
    rows = "".join(
        f"<tr><td>{escape(str(h.get('time')))}</td><td>{h.get('paths')}</td>"
        + "".join(f"<td>{h.get(o, 0)}</td>" for o in OUTCOMES)
        + f"<td>{h.get('modelled_seconds')}</td><td>{h.get('wall_seconds')}</td></tr>"
        for h in reversed(history)
    )
    head = "".join(f"<th>{o}</th>" for o in OUTCOMES)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>particle-rig trend</title><style>{STYLE}</style>"
        f"</head><body><h1>Trend</h1><table id='trend'><tr><th>run</th><th>paths</th>{head}<th>modelled s</th>"
        f"<th>wall s</th></tr>{rows}</table><p><a href='matrix.html'>latest matrix</a></p></body></html>"
    )
