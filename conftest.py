"""Root conftest: shared fixtures for tests_unit/ and tests_hil/ (the rig plugin loads by entry point)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parent
# Real Particle binaries live beside the project (../shared/firmware); RIG_FIRMWARE_DIR overrides.
FIRMWARE_DIR = Path(os.environ.get("RIG_FIRMWARE_DIR", ROOT.parent / "shared" / "firmware"))

settings.register_profile("ci", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


@pytest.fixture(scope="session")
def firmware_dir() -> Path:
    """The directory of real Particle binaries; tests using it skip when it is absent."""
    if not (FIRMWARE_DIR / "boron-system-part1@2.2.0.bin").is_file():
        if os.environ.get("RIG_FIRMWARE_DIR"):  # asked for by name: a wrong folder is a failure, not a skip
            pytest.fail(f"RIG_FIRMWARE_DIR={FIRMWARE_DIR} holds no real Particle binaries", pytrace=False)
        pytest.skip(f"real Particle binaries not found at {FIRMWARE_DIR} (set RIG_FIRMWARE_DIR)")
    return FIRMWARE_DIR


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the fault matrix (tests_unit/faults) when its cells ran."""
    rows = []
    for report in terminalreporter.stats.get("passed", []) + terminalreporter.stats.get("failed", []):
        for key, value in getattr(report, "user_properties", []):
            if key == "fault_cell" and report.when == "call":
                rows.append(json.loads(value))
    if not rows:
        return
    from tests_unit.faults.table import expected_rows, matrix_table

    order = {(r["stage"], r["method"], r["fault"]): i for i, r in enumerate(expected_rows())}
    rows.sort(key=lambda r: order.get((r["stage"], r["method"], r["fault"]), len(order)))  # as defined
    terminalreporter.section("fault matrix (outcome, simulated seconds)")
    terminalreporter.write_line(matrix_table(rows))
