"""Executing plans on boards: timing, OTA-fallback detection, verification, recovery."""

from rig.runner.run import (
    ANY_APP,
    FAIL,
    OVER_THE_AIR,
    PASS,
    REFUSED,
    Runner,
    RunResult,
    installed,
    refused,
    run_plan,
    verify,
)

__all__ = [
    "ANY_APP",
    "FAIL",
    "OVER_THE_AIR",
    "PASS",
    "REFUSED",
    "RunResult",
    "Runner",
    "installed",
    "refused",
    "run_plan",
    "verify",
]
