"""The upgrade and downgrade matrix: platform × from × to × method, on real boards, the boards of a
labgrid lab's hosts (each try run there: rig/labgrid/remote.py), or the simulated lab (unchanged).
Each path is planned, run, and checked on the board itself; with `--rig-retries N` a failed path is
run again (its board set up again first, the watchdog started over), and one that fails and then
passes is reported `flaky`, never `pass`.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from rig.matrix import MatrixPath
from rig.report.results import FLAKY, PathResult
from rig.runner.path import as_planned
from rig.runner.run import FAIL, REFUSED

pytestmark = pytest.mark.hil


def test_path(
    rig_path: MatrixPath,
    rig_try: Callable[[], PathResult],
    rig_record: Callable[[PathResult], None],
    rig_retries: int,
    rig_new_try: Callable[[], None],
) -> None:
    """One path of the matrix: set the board up at `from`, plan, run, verify on the board."""
    tries = [rig_try()]
    while tries[-1].outcome == FAIL and len(tries) <= rig_retries:
        rig_new_try()  # each try has the whole watchdog (--rig-path-timeout) of its own
        tries.append(rig_try())
    result = tries[-1] if len(tries) == 1 else merged(tries)
    rig_record(result)
    if result.outcome == REFUSED:  # reported skipped with its reason (report.html, JUnit); recorded refused
        assert as_planned(rig_path, result), f"unexpected refusal: {result.error}"
        pytest.skip(f"refused: {result.error}")
    assert as_planned(rig_path, result), result.error


def merged(tries: list[PathResult]) -> PathResult:
    """One result for a path tried more than once, keeping every try's time, steps and log: `flaky`
    when the last try passed after failures, `fail` (naming every try's failure) when none passed.
    """
    last, failed = tries[-1], [r for r in tries if r.outcome == FAIL]
    why = "; ".join(f"try {i} failed: {r.error}" for i, r in enumerate(failed, 1))
    last.log = "".join(f"--- try {i} of {len(tries)}: {r.outcome} ---\n{r.log}\n" for i, r in enumerate(tries, 1))
    if last.outcome == FAIL:
        last.error = f"failed all {len(tries)} tries ({why})"
    else:
        last.error, last.outcome = f"passed on try {len(tries)} of {len(tries)} after failing ({why})", FLAKY
    last.modelled_seconds = sum(r.modelled_seconds for r in tries)
    last.setup_modelled_seconds = sum(r.setup_modelled_seconds for r in tries)
    last.wall_seconds = sum(r.wall_seconds for r in tries)
    last.steps = [step for r in tries for step in r.steps]
    return last
