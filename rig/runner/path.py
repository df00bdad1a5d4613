"""One path of the matrix on a claimed board, as a record: the board brought to `from`, the plan
made and run, the outcome, steps, times, board state and log (a `PathResult`). The matrix's test
(rig/hil/test_matrix.py) and `rig path run` both make their records here.
"""

from __future__ import annotations

import socket
import time

from rig.device import Device
from rig.firmware.release import ReleaseStore
from rig.matrix import MatrixPath
from rig.plan import PlanRefused, plan
from rig.plan.planner import refused_before_any_write
from rig.report.results import FLAKY, PASSED, PathResult, from_run
from rig.runner.prepare import PrepareError, ensure_release
from rig.runner.run import FAIL, REFUSED, Runner, installed


def attempt(p: MatrixPath, board: Device, store: ReleaseStore) -> PathResult:
    """One try of a path: the board brought to `from` (0 s when it runs it already), planned, run."""
    source, target = store.get(p.platform, p.from_version), store.get(p.platform, p.to_version)
    noted, began = len(board.log), board.clock.now()
    try:
        setup = ensure_release(board, source)  # None: the board ran `from` already (the previous path's `to`)
    except PrepareError as exc:  # a try that failed in its set-up: retried like any other, its time counted
        log, spent = "\n".join(board.log[noted:]), board.clock.now() - began
        return _on_this_host(PathResult(
            p.id, p.platform, p.from_version, p.to_version, p.method, FAIL, str(exc), board.name, log=log,
            setup_modelled_seconds=spent,
        ))  # fmt: skip
    setup_seconds = setup.clock_seconds if setup is not None else 0.0
    start = time.perf_counter()
    try:
        steps = plan(installed(board, hashes=True), target, p.method)
    except PlanRefused as exc:
        return _on_this_host(PathResult(
            p.id, p.platform, p.from_version, p.to_version, p.method, REFUSED, str(exc), board.name,
            wall_seconds=time.perf_counter() - start, log=str(exc), setup_modelled_seconds=setup_seconds,
        ))  # fmt: skip
    run = Runner(board).run(steps, target)
    result = from_run(p.id, p.platform, p.from_version, p.to_version, p.method, board.name, run)
    result.setup_modelled_seconds = setup_seconds
    return _on_this_host(result)


def _on_this_host(result: PathResult) -> PathResult:
    """The record names the host whose board ran the path (a multi-host report shows it per path)."""
    result.host = socket.gethostname()
    return result


def as_planned(p: MatrixPath, result: PathResult) -> bool:
    """True when a path's result is no failure of the test: it passed (flaky included: the report
    counts it apart), or it was refused where the planner always refuses (OTA to an older Device OS).
    """
    if result.outcome == REFUSED:
        return refused_before_any_write(p.method, p.from_version, p.to_version)
    return result.outcome in (*PASSED, FLAKY)
