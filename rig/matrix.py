"""The upgrade/downgrade matrix: which paths (platform, from, to, method) a run covers.

Paths come from options and the release store only — never from what is plugged in — and are
sorted, so every pytest-xdist worker collects the same tests in the same order (python-stack §6b).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rig import platforms
from rig.errors import ConfigError
from rig.firmware import synthetic, versions
from rig.firmware.release import ReleaseStore
from rig.methods import METHODS, PARTICLE_UPDATE

DEFAULT_METHODS = ("dfu", "serial", "usb", "restore", "ota")
# The simulated lab's default bench and the synthetic releases it runs (Device OS lines each
# platform really had: Gen 2 ended with 2.3.x; LTS 4.0.1 for Gen 3).
SIM_PLATFORMS = ("photon", "p1", "electron", "argon", "boron", "bsom", "b5som", "tracker")
SIM_VERSIONS = {
    "photon": ("1.5.2", "2.3.1"),
    "p1": ("1.5.2", "2.3.1"),
    "electron": ("1.5.2", "2.3.1"),
    "tracker": ("2.2.0", "4.0.1"),
}
SIM_DEFAULT_VERSIONS = ("1.5.2", "2.3.1", "4.0.1")


@dataclass(frozen=True, order=True)
class MatrixPath:
    """One cell of the matrix."""

    platform: str
    from_version: str
    to_version: str
    method: str

    @property
    def id(self) -> str:
        """Readable test id, e.g. boron-2.2.0-to-4.0.1-dfu."""
        return f"{self.platform}-{self.from_version}-to-{self.to_version}-{self.method}"

    @classmethod
    def from_id(cls, text: str) -> MatrixPath | None:
        """The path of a test id (the inverse of `id`), None when `text` is not one."""
        head, sep, tail = text.partition("-to-")
        platform, _, source = head.partition("-")
        if not (sep and platform and source):
            return None
        for i, char in enumerate(tail):
            method = tail[i + 1 :]
            if char == "-" and i and (method in METHODS or method.startswith(f"{PARTICLE_UPDATE}@")):
                return cls(platform, source, tail[:i], method)
        return None

    @classmethod
    def from_nodeid(cls, nodeid: str) -> MatrixPath | None:
        """The path of a pytest test id (`...::test_path[<path id>]`), None when it has none."""
        _, bracket, param = nodeid.partition("[")
        return cls.from_id(param[:-1]) if bracket and param.endswith("]") else None

    @property
    def upgrade(self) -> bool:
        """True when the target is newer."""
        return versions.semver_key(self.to_version) > versions.semver_key(self.from_version)


def sim_versions(platform: str) -> tuple[str, ...]:
    """Device OS versions of the synthetic releases for a platform."""
    return SIM_VERSIONS.get(platform, SIM_DEFAULT_VERSIONS)


def write_synthetic_store(folder: Path, platform_names: list[str]) -> ReleaseStore:
    """Synthetic releases for the simulated lab's default matrix, written to `folder`."""
    for name in platform_names:
        for version in sim_versions(name):
            synthetic.write_release(folder, name, version)
    return ReleaseStore.scan(folder)


def paths(
    store: ReleaseStore,
    platform_names: list[str],
    methods: list[str],
    from_versions: list[str] | None = None,
    to_versions: list[str] | None = None,
) -> list[MatrixPath]:
    """Every ordered pair of releases per platform × method, filtered, sorted."""
    out = []
    for name in platform_names:
        plat = platforms.by_name(name)
        have = store.versions(plat.name)
        for old in have:
            if from_versions and old not in from_versions:
                continue
            for new in have:
                if new == old or (to_versions and new not in to_versions):
                    continue
                out += [MatrixPath(plat.name, old, new, m) for m in methods]
    return sorted(set(out))


def run_platforms(given: list[str], bench_platforms: list[str] | None) -> list[str]:
    """Platforms of a run: those given, else the bench's (devices.yaml), else the simulated lab's."""
    if given:
        chosen = [platforms.by_name(p) for p in given]
        for plat in chosen:
            if not plat.flashable:
                raise ConfigError(
                    f"The {plat.display_name} has no Device OS the rig can flash: leave it out of --platforms."
                )
        return [plat.name for plat in chosen]
    if bench_platforms is not None:
        return sorted(set(bench_platforms))
    return list(SIM_PLATFORMS)


def check_numbers(workers: int | None, path_timeout: float | None, time_scale: float) -> None:
    """Worker count, watchdog and time scale (None: not given) that would hang or silently disable
    something end here.
    """
    if workers is not None and workers < 0:
        raise ConfigError(f"-n {workers}: the number of workers must be 0 (no xdist) or more.")
    if path_timeout is not None and (not math.isfinite(path_timeout) or path_timeout <= 0):
        raise ConfigError(
            f"Path timeout {path_timeout:g}: the watchdog needs a number of wall seconds above 0 (default 1800)."
        )
    if not math.isfinite(time_scale) or time_scale < 0:
        raise ConfigError(
            f"Time scale {time_scale:g}: use 0 (simulated time) or wall seconds per modelled second above 0."
        )


MAX_RETRIES = 20  # a path that fails 21 times is not flaky: more tries only burn the night


def check_retries(retries: int) -> None:
    """A retry count below 0 or above MAX_RETRIES ends here."""
    if not 0 <= retries <= MAX_RETRIES:
        raise ConfigError(f"--retries {retries}: give how many more times a failed path is tried, 0 to {MAX_RETRIES}.")


def check_selection(
    store_versions: Callable[[str], list[str]],
    platform_names: list[str],
    methods: list[str],
    from_versions: list[str],
    to_versions: list[str],
) -> None:
    """A selection naming an unknown platform or method, or a release no selected platform has,
    ends here in one sentence (before any board is touched); `store_versions(platform)` lists the
    platform's releases.
    """
    from rig.plan.planner import check_method

    names = [platforms.by_name(p).name for p in platform_names]
    for method in methods:
        check_method(method)
    have = {v for name in names for v in store_versions(name)}
    for what, given in (("source", from_versions), ("target", to_versions)):
        missing = [v for v in given if v not in have]
        if missing:
            known = ", ".join(sorted(have, key=versions.semver_key)) or "none"
            raise ConfigError(
                f"No release of Device OS {', '.join(missing)} for {', '.join(names)} (the {what} versions "
                f"given); the releases here are {known}: pick from those or add the release to the store."
            )
