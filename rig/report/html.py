"""The report pages' shared parts: outcome colours (text readable on each, WCAG AA), the style sheet,
and the two pages (rig/report/html_matrix.py: one run; rig/report/html_trend.py: past runs).
"""

from __future__ import annotations

from html import escape
from typing import Any

# an outcome's background, and the text written on it (contrast ≥ 4.5:1, tests_unit/test_report_pages.py)
COLOURS = {
    "pass": "#2e7d32",
    "completed-over-the-air": "#f9a825",
    "flaky": "#e65100",
    "fail": "#c62828",
    "refused": "#616161",
    "skipped": "#bdbdbd",
    "interrupted": "#6a1b9a",
    "not-run": "#424242",
}
TEXT_COLOURS = {
    "pass": "#ffffff",
    "completed-over-the-air": "#000000",
    "flaky": "#000000",
    "fail": "#ffffff",
    "refused": "#ffffff",
    "skipped": "#000000",
    "interrupted": "#ffffff",
    "not-run": "#ffffff",
}
SHORT = {  # a cell's visible text
    "pass": "ok",
    "completed-over-the-air": "cloud",
    "flaky": "flaky",
    "fail": "FAIL",
    "refused": "refused",
    "skipped": "skip",
    "interrupted": "stopped",
    "not-run": "not run",
}
STYLE = """body{font-family:sans-serif;margin:1em 1.5em;color:#111} h1{margin:.2em 0}
table{border-collapse:collapse;margin:0 0 1em} td,th{border:1px solid #ccc;padding:3px 6px;font-size:13px}
th{background:#f3f3f3;text-align:left}
dl.run{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:.5em 0}
dl.run dt{font-weight:bold} dl.run dd{margin:0}
.badge{display:inline-block;padding:1px 7px;margin:0 4px 2px 0;border-radius:3px;font-size:13px}
a.badge,td.cell a{text-decoration:none}
.grids{display:flex;flex-wrap:wrap;gap:10px 18px;align-items:flex-start}
.grid h3{font-size:13px;margin:0 0 2px} .grid table{margin:0} .grid td,.grid th{padding:1px 4px;font-size:11px}
td.cell{text-align:center;font-weight:bold} td.cell a{display:block}
td.reason{max-width:60em} .none{color:#1b5e20;font-weight:bold}"""


def bench_time(setup: float, paths: float) -> str:
    """Modelled bench time: the set-up flashes and the paths themselves, and their sum."""
    return f"{duration(setup + paths)} (set-up {duration(setup)} + paths {duration(paths)})"


def badge(outcome: str, text: str, href: str | None = None) -> str:
    """An outcome-coloured label (a link when `href` is given)."""
    style = f"background:{COLOURS.get(outcome, '#000000')};color:{TEXT_COLOURS.get(outcome, '#ffffff')}"
    if href is None:
        return f"<span class='badge' style='{style}'>{escape(text)}</span>"
    return f"<a class='badge' style='{style}' href='{escape(href)}'>{escape(text)}</a>"


def page(title: str, body: str) -> str:
    """A whole HTML page."""
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
        f"<style>{STYLE}</style></head><body>{body}</body></html>"
    )


def selection_text(selection: dict[str, Any]) -> str:
    """The selection of a run in one line (an empty filter is every one)."""
    if not selection:
        return "(not recorded)"
    parts = []
    for key in ("platforms", "methods", "from", "to"):
        value = selection.get(key) or "all"
        parts.append(f"{key} {value}")
    if selection.get("schedule"):
        parts.append(f"schedule {selection['schedule']}")
    return "; ".join(parts)


def duration(seconds: Any) -> str:
    """Seconds as h/min/s (a missing value is '?')."""
    if not isinstance(seconds, (int, float)):
        return "?"
    s = round(float(seconds))
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02} min"
    if s >= 60:
        return f"{s // 60} min {s % 60:02} s"
    return f"{float(seconds):.1f} s"
