"""The watchdog of a HIL test: pytest-timeout's timer, `--rig-path-timeout` wall seconds for the
test function (for each try of a path on its own: `new_try`), and the same again, separately, for
its fixtures' set-up and for their teardown (a claim or a fixture that never ends, a recovery that
hangs). A timer that fires fails that phase with pytest-timeout's message and stack dump; later
finalizers still run, so the board fixture still switches its port on and releases its lock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from pytest_timeout import Settings

_SECONDS = pytest.StashKey[float]()


def arm(items: list[pytest.Item], seconds: float) -> None:
    """Give every `hil` test without a timeout of its own the watchdog over all three phases."""
    for item in items:
        if item.get_closest_marker("hil") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(seconds, method="signal", func_only=True))
            item.stash[_SECONDS] = seconds


def new_try(item: pytest.Item) -> None:
    """Start an armed test's watchdog over: each try of a path (--rig-retries) gets the whole budget."""
    seconds = item.stash.get(_SECONDS, None)
    if seconds is not None:
        hooks = item.config.pluginmanager.hook
        hooks.pytest_timeout_cancel_timer(item=item)
        hooks.pytest_timeout_set_timer(item=item, settings=_settings(seconds))


def _settings(seconds: float) -> Settings:
    """pytest-timeout's settings of the watchdog: SIGALRM, for the phase it is set in."""
    return Settings(seconds, "signal", True, False)


@contextmanager
def _timer(item: pytest.Item) -> Iterator[None]:
    seconds = item.stash.get(_SECONDS, None)
    if seconds is None:
        yield
        return
    hooks = item.config.pluginmanager.hook
    hooks.pytest_timeout_set_timer(item=item, settings=_settings(seconds))
    try:
        yield
    finally:
        hooks.pytest_timeout_cancel_timer(item=item)


class FixtureWatchdog:
    """Plugin: the watchdog's timer around the set-up and the teardown of an armed test."""

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Iterator[None]:
        """Set-up (claiming the board, every fixture) within the watchdog."""
        with _timer(item):
            return (yield)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> Iterator[None]:
        """Teardown (recovery, releasing the board) within the watchdog."""
        with _timer(item):
            return (yield)
