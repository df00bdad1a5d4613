"""matrix.html, one run read in a minute: what ran where and how long, the failures first (their
sentence and failing step as text, each linking to its log), then every platform × method as a
small from × to grid, many to a row.
"""

from __future__ import annotations

from html import escape
from typing import Any

from rig.firmware import versions
from rig.report.html import COLOURS, SHORT, TEXT_COLOURS, badge, bench_time, duration, page, selection_text
from rig.report.results import FAILED, FLAKY, OUTCOMES, PathResult, ordered

FAILED_MARK = "failed: "  # rig.runner's last step of a failed run


def failing_step(r: PathResult) -> str:
    """Where a path failed: the step it failed in when rig.runner named it ('in: …'), else the last step
    it finished before its (first) failure ('after: …'), or '' when none did.
    """
    done = ""
    for step in r.steps:
        name = str(step.get("step", ""))
        if name.startswith(FAILED_MARK):  # a flaky path's steps hold every try: its first failure
            failing = str(step.get("failing") or "")
            return f"in: {failing}" if failing else f"after: {done}" if done else ""
        done = name
    return f"after: {done}" if done else ""


def run_header(results: list[PathResult], meta: dict[str, Any]) -> str:
    """What the run was: selection, bench, host, start, wall time, modelled bench time, counts per outcome."""
    counts = {o: sum(r.outcome == o for r in results) for o in OUTCOMES}
    bench = meta.get("bench") or ("simulated lab" if meta.get("simulated") else "")
    modelled = sum(r.modelled_seconds for r in results)
    rows = [
        ("selection", selection_text(meta.get("selection") or {})),
        ("bench", str(bench or "(not recorded)")),
        ("host", str(meta.get("host") or "(not recorded)")),
        ("started", str(meta.get("started") or meta.get("time") or "")),
        ("wall time", duration(meta.get("wall_seconds"))),
        ("modelled bench time", bench_time(sum(r.setup_modelled_seconds for r in results), modelled)),
        ("run", str(meta.get("run") or "") + (" (stopped before every path ended)" if meta.get("interrupted") else "")),
    ]
    summary = f"{len(results)} paths: " + ", ".join(f"{n} {o}" for o, n in counts.items() if n)
    return (
        "<dl class='run' id='run'>" + "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in rows) + "</dl>"
        f"<p id='summary'>{escape(summary)}</p>"
        "<p class='counts'>" + "".join(badge(o, f"{n} {o}") for o, n in counts.items() if n) + "</p>"
    )


def _failure_row(r: PathResult, host: str, logs: str) -> str:
    reason = r.error or "(no reason recorded)"
    if r.board_state and r.outcome != FLAKY:
        reason += f" Board left in: {r.board_state}."
    cells = (
        badge(r.outcome, r.outcome),
        escape(r.id),
        escape(r.board or "—"),
        escape(r.host or host),  # the path's own host (a multi-host run), else the run's
        escape(failing_step(r) or "—"),
        escape(reason),
        f"{r.bench_time()}; path {r.wall_seconds:.1f} s wall",
        f"<a href='{escape(logs)}{escape(r.id)}.txt'>log</a>",
    )
    classes = ("outcome", "path", "board", "host", "step", "reason", "time", "log")
    row = "".join(f"<td class='{c}'>{v}</td>" for c, v in zip(classes, cells, strict=True))
    return f"<tr class='failure'>{row}</tr>"


def failures(results: list[PathResult], host: str, logs: str) -> str:
    """The failed and interrupted paths, then the flaky ones, each with its reason as text."""
    head = "<tr>" + "".join(
        f"<th>{h}</th>" for h in ("outcome", "path", "board", "host", "step", "reason", "time", "log")
    ) + "</tr>"  # fmt: skip
    failed = [r for r in ordered(results) if r.outcome in FAILED]
    flaky = [r for r in ordered(results) if r.outcome == FLAKY]
    out = [f"<section id='failures'><h2>Failures ({len(failed)})</h2>"]
    if failed:
        out.append("<table>" + head + "".join(_failure_row(r, host, logs) for r in failed) + "</table>")
    else:
        out.append("<p class='none'>No path failed.</p>")
    out.append("</section>")
    if flaky:
        out.append(
            f"<section id='flaky'><h2>Flaky: failed, then passed when tried again ({len(flaky)})</h2><table>"
            + head
            + "".join(_failure_row(r, host, logs) for r in flaky)
            + "</table></section>"
        )
    return "".join(out)


def _cell(r: PathResult | None, logs: str) -> str:
    if r is None:
        return "<td></td>"
    title = r.error or f"{r.bench_time()}; path {r.wall_seconds:.2f} s wall"
    style = f"background:{COLOURS.get(r.outcome, '#000000')}"
    colour = TEXT_COLOURS.get(r.outcome, "#ffffff")
    return (
        f'<td class="cell" data-outcome="{escape(r.outcome)}" style="{style}" title="{escape(title)}">'
        f'<a style="color:{colour}" href="{escape(logs)}{escape(r.id)}.txt">{escape(SHORT.get(r.outcome, r.outcome))}'
        "</a></td>"
    )


def overview(results: list[PathResult], logs: str) -> str:
    """Every platform × method as a small from × to grid, wrapped many to a row."""
    by_grid: dict[tuple[str, str], dict[tuple[str, str], PathResult]] = {}
    for r in results:
        by_grid.setdefault((r.platform, r.method), {})[(r.from_version, r.to_version)] = r
    out = ["<section id='overview'><h2>Every path (from ↓ × to →)</h2><div class='grids'>"]
    for (platform, method), cells in sorted(by_grid.items()):
        vs = sorted({v for pair in cells for v in pair}, key=versions.semver_key)
        out.append(
            f"<div class='grid' id='{escape(platform)}-{escape(method)}'><h3>{escape(platform)} — {escape(method)}</h3>"
            "<table><tr><th></th>" + "".join(f"<th>{escape(v)}</th>" for v in vs) + "</tr>"
        )
        for old in vs:
            row = "".join(_cell(cells.get((old, new)), logs) for new in vs)
            out.append(f"<tr><th>{escape(old)}</th>{row}</tr>")
        out.append("</table></div>")
    out.append("</div></section>")
    return "".join(out)


def matrix_page(results: list[PathResult], meta: dict[str, Any], logs: str = "logs/") -> str:
    """The whole run as one HTML page; `logs`: where the path logs are, relative to the page."""
    legend = "<p class='legend'>" + "".join(badge(o, f"{SHORT[o]} = {o}") for o in OUTCOMES) + "</p>"
    body = (
        "<h1>Upgrade/downgrade matrix</h1>"
        + run_header(results, meta)
        + failures(results, str(meta.get("host") or "—"), logs)
        + overview(results, logs)
        + legend
        + "<p><a href='trend.html'>trend over past runs</a> · <a href='results.json'>results.json</a> · "
        "<a href='report.html'>report.html</a></p>"
    )
    return page("particle-rig matrix", body)
