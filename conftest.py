"""Root conftest: registers the shared fixtures (testsupport.fixtures) for tests_unit/, tests_cli/ and
tests_hil/, the hypothesis profiles, the unit suite's bytecode cache for its child processes, the
installed Particle CLI on PATH, the stand-in tier (`--stand-ins`), and the fault matrix summary (the
rig plugin loads by entry point)."""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import HealthCheck, settings

from testsupport.bytecode import remove_bytecode, share_bytecode
from testsupport.paths import ROOT

CLI_BIN = ROOT / "tools" / "particle-cli" / "node_modules" / ".bin"

# The shared fixtures (firmware_dir, real_store, lab, real_lab), defined once; only the root conftest
# may register a plugin this way.
pytest_plugins = ["testsupport.fixtures", "testsupport.labgrid"]

settings.register_profile("ci", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


STAND_INS = "--stand-ins"


def pytest_addoption(parser: pytest.Parser) -> None:
    """--stand-ins: the tier of the stand-in programs (docs/bench-in-a-box.md)."""
    parser.addoption(
        STAND_INS,
        action="store_true",
        help="run only the tests marked stand_in: the stand-ins for uhubctl, dfu-util and the Particle CLI "
        "(rig/sim/fake_tools.py, for hosts without umockdev or the program) against the real programs' cases; "
        "without it those tests are deselected, so the default run meets only the real programs",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep the stand_in tests with --stand-ins and only them; without it, everything else."""
    wanted = bool(config.getoption(STAND_INS))
    keep = [item for item in items if (item.get_closest_marker("stand_in") is not None) == wanted]
    if len(keep) != len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in keep])
        items[:] = keep


def pytest_configure(config: pytest.Config) -> None:
    """The unit suite's children share one bytecode cache (testsupport/bytecode.py); the Particle CLI
    installed by tools/particle-cli/install (with its Node.js) is on PATH, so the simulated labs run it.
    """
    config.addinivalue_line(
        "markers", "stand_in: runs a stand-in program (rig/sim/fake_tools.py); only in the --stand-ins tier"
    )
    share_bytecode(config)
    if (CLI_BIN / "particle").exists() and (CLI_BIN / "node").exists() and str(CLI_BIN) not in os.environ["PATH"]:
        os.environ["PATH"] = f"{CLI_BIN}{os.pathsep}{os.environ['PATH']}"


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove that cache."""
    remove_bytecode()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the fault matrix (tests_unit/faults) when its cells ran."""
    rows = []
    for report in terminalreporter.stats.get("passed", []) + terminalreporter.stats.get("failed", []):
        for key, value in getattr(report, "user_properties", []):
            if key == "fault_cell" and report.when == "call":
                rows.append(json.loads(value))
    if not rows:
        return
    from testsupport.fault_table import expected_rows, matrix_table

    order = {(r["stage"], r["method"], r["fault"]): i for i, r in enumerate(expected_rows())}
    rows.sort(key=lambda r: order.get((r["stage"], r["method"], r["fault"]), len(order)))  # as defined
    terminalreporter.section("fault matrix (outcome, simulated seconds)")
    terminalreporter.write_line(matrix_table(rows))
