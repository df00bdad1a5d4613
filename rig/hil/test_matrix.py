"""The upgrade and downgrade matrix: platform × from × to × method, on real boards or the
simulated lab (unchanged). Each path is planned, run, and checked on the board itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from rig.device import Device
from rig.firmware.release import ReleaseStore
from rig.matrix import MatrixPath
from rig.plan import PlanRefused, plan
from rig.report.results import PathResult, from_run
from rig.runner import OVER_THE_AIR, PASS, Runner, installed
from rig.runner.prepare import ensure_release

pytestmark = pytest.mark.hil


def test_path(
    rig_path: MatrixPath, board: Device, rig_releases: ReleaseStore, rig_record: Callable[[PathResult], None]
) -> None:
    """One path of the matrix: set the board up at `from`, plan, run, verify on the board."""
    p = rig_path
    source = rig_releases.get(p.platform, p.from_version)
    target = rig_releases.get(p.platform, p.to_version)
    setup = ensure_release(board, source)  # None: the board ran `from` already (the previous path's `to`)
    setup_seconds = setup.clock_seconds if setup is not None else 0.0
    start = time.perf_counter()
    try:
        steps = plan(installed(board, hashes=True), target, p.method)
    except PlanRefused as exc:
        rig_record(
            PathResult(
                p.id,
                p.platform,
                p.from_version,
                p.to_version,
                p.method,
                "refused",
                str(exc),
                board.name,
                wall_seconds=time.perf_counter() - start,
                log=str(exc),
                setup_modelled_seconds=setup_seconds,
            )
        )
        assert p.method == "ota" and not p.upgrade, f"unexpected refusal: {exc}"
        return
    result = Runner(board).run(steps, target)
    recorded = from_run(p.id, p.platform, p.from_version, p.to_version, p.method, board.name, result)
    recorded.setup_modelled_seconds = setup_seconds
    rig_record(recorded)
    assert result.outcome in (PASS, OVER_THE_AIR), f"{result.error} (last good step: {result.last_good_step})"
