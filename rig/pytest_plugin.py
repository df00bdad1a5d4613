"""particle-rig's pytest plugin (entry point `pytest11`): markers and clean skips without boards.

Options, fixtures and the matrix parametrisation arrive with the plugin issue; today the plugin
registers the rig's markers (so `--strict-markers` accepts them) and skips `hil` tests with a
reason when no bench is given.
"""

from __future__ import annotations

import pytest

MARKERS = (
    "hil: needs a board (real, or simulated with --rig-sim); skipped without one",
    "rig_platform(*names): platforms a HIL test applies to",
    "rig_method(*methods): flashing paths a HIL test exercises",
)


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the rig's command-line options."""
    group = parser.getgroup("rig", "particle-rig")
    group.addoption("--rig-devices", metavar="FILE", default=None, help="devices.yaml of the bench")
    group.addoption("--rig-sim", action="store_true", default=False, help="run HIL tests on a simulated bench")


def pytest_configure(config: pytest.Config) -> None:
    """Register the markers."""
    for line in MARKERS:
        config.addinivalue_line("markers", line)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip `hil` tests with a reason when neither boards nor the simulated bench are given."""
    if config.getoption("--rig-devices") or config.getoption("--rig-sim"):
        return
    skip = pytest.mark.skip(reason="no boards: pass --rig-devices FILE, or --rig-sim for the simulated lab")
    for item in items:
        if item.get_closest_marker("hil"):
            item.add_marker(skip)
