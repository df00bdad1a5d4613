"""The fault matrix as a markdown table: a row per stage (and path), a column per fault, the outcome
in each cell. Printed at the end of a test run and kept in docs/faults.md.
"""

from __future__ import annotations

from typing import Any

from testsupport.fault_cells import CELLS

KILLED = {"stage": "claiming a board", "fault": "worker killed holding it", "method": "any", "outcome": "pass"}


def expected_rows() -> list[dict[str, Any]]:
    """The outcome every cell must reach."""
    return [{"stage": c.stage, "fault": c.fault, "method": c.path, "outcome": c.expect} for c in CELLS] + [KILLED]


def matrix_table(rows: list[dict[str, Any]]) -> str:
    """Stages × faults; a cell is `pass` or the named error, with simulated seconds when known."""
    faults = list(dict.fromkeys(r["fault"] for r in rows))
    stages = list(dict.fromkeys((r["stage"], r["method"]) for r in rows))
    cells = {(r["stage"], r["method"], r["fault"]): r for r in rows}
    lines = [
        "| stage (path) | " + " | ".join(faults) + " |",
        "| --- |" + " --- |" * len(faults),
    ]
    for stage, method in stages:
        out = []
        for fault in faults:
            r = cells.get((stage, method, fault))
            if r is None:
                out.append("·")
            else:
                secs = f", {r['seconds']} s" if "seconds" in r else ""
                out.append(f"{r['outcome']}{secs}")
        lines.append(f"| {stage} ({method}) | " + " | ".join(out) + " |")
    return "\n".join(lines)
