"""The first Device OS a user app stops running normally on (`rig check-app --bisect`): a binary
search over the releases given, each step a real install, flash and boot check (`check_app`), so
n versions take about log2(n) + 2 checks instead of n.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from rig.device import Device
from rig.errors import EXIT_FAILED, ConfigError, RigError
from rig.firmware import versions
from rig.firmware.release import ReleaseStore
from rig.plan import Target
from rig.runner.check_app import BENCH_FAILED, NOT_RUN, RUNS, STAY_UP_SECONDS, AppCheck, check_app


@dataclass
class Bisection:
    """What the search found: the first version the app fails on and the last it runs on before it."""

    first_bad: AppCheck | None  # None: the app runs on every version given
    last_good: AppCheck | None  # None: it fails on the oldest version already
    checks: list[AppCheck] = field(default_factory=list)  # in the order they ran

    def sentence(self) -> str:
        """The verdict in one sentence."""
        if self.first_bad is None:
            return f"The app runs on every version checked (the newest: {self._last_good().version})."
        if self.last_good is None:
            return f"The app does not run even on the oldest version given, {self.first_bad.version}."
        return (
            f"The app runs on Device OS {self.last_good.version} and stops running on "
            f"{self.first_bad.version} ({self.first_bad.outcome}: {self.first_bad.detail})."
        )

    def _last_good(self) -> AppCheck:
        assert self.last_good is not None
        return self.last_good


class BisectionStopped(RigError):
    """The bench failed during the search: there is no verdict on the app."""

    exit_code = EXIT_FAILED


def bisect_app(
    dev: Device,
    store: ReleaseStore,
    wanted: list[str],
    app: Target,
    stay_up: float = STAY_UP_SECONDS,
    progress: Callable[[AppCheck], None] = lambda verdict: None,
) -> Bisection:
    """Binary search of `wanted` (sorted by version) for the first version the app fails on; assumes
    that once it fails it fails on every later version (a regression), and checks both ends first.
    Each check is handed to `progress` as it ends; a check the bench failed stops the search.
    """
    ordered = sorted(set(wanted), key=versions.semver_key)
    missing = [v for v in ordered if v not in store.versions(dev.platform.name)]
    if len(ordered) < 2 or missing:
        gaps = f" (missing: {', '.join(missing)})" if missing else ""
        raise ConfigError(
            f"--bisect needs two or more Device OS versions the release store has for the {dev.platform.name}{gaps}."
        )
    found = Bisection(None, None)

    def check(index: int) -> AppCheck:
        verdict = check_app(dev, store, ordered[index], app, stay_up)
        assert verdict.outcome != NOT_RUN  # every version is in the store (checked above)
        found.checks.append(verdict)
        progress(verdict)
        if verdict.outcome == BENCH_FAILED:
            raise BisectionStopped(
                f"The bisection stopped at Device OS {verdict.version}: the bench failed ({verdict.detail}); "
                "fix the board and run it again."
            )
        return verdict

    good, bad = 0, len(ordered) - 1
    oldest = check(good)
    if oldest.outcome != RUNS:
        found.first_bad = oldest
        return found
    found.last_good = oldest
    newest = check(bad)
    if newest.outcome == RUNS:
        found.last_good = newest
        return found
    found.first_bad = newest
    while bad - good > 1:
        middle = (good + bad) // 2
        verdict = check(middle)
        if verdict.outcome == RUNS:
            good, found.last_good = middle, verdict
        else:
            bad, found.first_bad = middle, verdict
    return found
