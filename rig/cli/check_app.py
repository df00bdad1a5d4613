"""`rig check-app`: one user binary across Device OS versions, or bisected to the first version it
stops running normally on (rig/runner/check_app.py, rig/runner/bisect.py).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.table import Table

from rig.cli.bench import command_bench
from rig.device import Device
from rig.errors import ConfigError
from rig.firmware import versions
from rig.firmware.format import ModuleFunction as F
from rig.firmware.parse import parse_file
from rig.firmware.release import ReleaseStore
from rig.plan import Target
from rig.runner.bisect import bisect_app
from rig.runner.check_app import NOT_RUN, RUNS, AppCheck, check_app

CLAIM_WAIT = 10.0  # seconds to wait for a board another run or command holds


def cmd_check_app(args: argparse.Namespace, out: Console) -> int:
    """`rig check-app APP.bin --versions 1.5.2,2.3.1,4.0.1 [--sim]`."""
    app_path = Path(args.app)
    modules = parse_file(app_path)
    app = Target(app_path.name, modules[0])
    if app.image.function != 5:
        raise ConfigError(f"{app_path.name} is a {app.image.function.label}, not a user app.")
    wanted = _versions(args.versions, args.releases if not args.sim or args.releases else None, app)
    bench = command_bench(
        args.devices,
        args.sim,
        args.time_scale,
        args.releases,
        platform_names=[app.module.platform.name],
        versions=wanted,
    )
    try:
        if bench.store is None:
            raise ConfigError("Say which releases to check on: --releases DIR (a folder of Device OS binaries).")
        candidates = [d for d in bench.devices.values() if d.platform.id == app.module.platform_id]
        if not candidates:
            raise ConfigError(f"No {app.module.platform.display_name} in devices.yaml to check {app_path.name} on.")
        with bench.claimer().claim([c.name for c in candidates], bench.clock, timeout=CLAIM_WAIT) as name:
            return _check_on(bench.devices[name], bench.store, wanted, app, args.bisect, out)
    finally:
        bench.close()


def _check_on(dev: Device, store: ReleaseStore, wanted: list[str], app: Target, bisect: bool, out: Console) -> int:
    """The checks on one claimed board: a table per version, or the bisection."""
    if bisect:
        return _bisect(dev, store, wanted, app, out)
    out.print(f"checking {app.name} on {dev.name}: Device OS {', '.join(wanted)}", markup=False)
    table = Table(title=f"{app.name} on {dev.name} ({dev.platform.display_name})")
    for col in ("Device OS", "result", "detail"):
        table.add_column(col)
    verdicts = [check_app(dev, store, v, app) for v in wanted]
    for v in verdicts:
        table.add_row(v.version, v.outcome, v.detail)
    out.print(table)
    ran = [v for v in verdicts if v.outcome != NOT_RUN]
    return 0 if ran and all(v.outcome == RUNS for v in ran) else 1


def _versions(text: str, releases: str | None, app: Target) -> list[str]:
    """`--versions`: a comma list, or OLD..NEW meaning every release between them in the store (with
    --sim and no store: the simulated lab's known versions).
    """
    if ".." not in text:
        return [v.strip() for v in text.split(",") if v.strip()]
    old, _, new = (v.strip() for v in text.partition(".."))
    if not old or not new:
        raise ConfigError(f"--versions {text}: give both ends, OLD..NEW (e.g. 2.3.1..5.0.0).")
    if versions.semver_key(old) > versions.semver_key(new):
        raise ConfigError(f"--versions {text} is reversed: write the older version first ({new}..{old}).")
    have = (
        ReleaseStore.scan(Path(releases)).versions(app.module.platform.name)
        if releases
        else [v.semver for v in versions.VERSIONS]
    )
    key = versions.semver_key
    for end in (old, new):
        if end not in have:
            raise ConfigError(f"--versions {text}: no release {end} here; pick from {', '.join(have) or 'none'}.")
    return [v for v in have if key(old) <= key(v) <= key(new)]


def _bisect(dev: Device, store: ReleaseStore, wanted: list[str], app: Target, out: Console) -> int:
    """`rig check-app --bisect`: the first version the app stops running on, with the evidence."""
    have = store.versions(dev.platform.name)
    skipped = [v for v in wanted if v not in have]
    wanted = [v for v in wanted if v in have]
    if skipped:
        out.print(f"no complete {dev.platform.name} release of {', '.join(skipped)}: left out", markup=False)
    if not wanted:
        raise ConfigError(f"--bisect: none of the versions given has a complete {dev.platform.name} release here.")
    needs = max((d.version for d in app.image.real_dependencies if d.function == F.SYSTEM_PART), default=0)
    below = [v for v in wanted if versions.known(v) and versions.module_version(v) < needs]
    if below:  # it would stop in safe mode there: not the regression looked for
        out.print(f"{app.name} needs system part {needs}: {', '.join(below)} left out", markup=False)
        wanted = [v for v in wanted if v not in below]
    if len(wanted) < 2:
        raise ConfigError(
            f"--bisect needs two or more Device OS versions to search; here: {', '.join(wanted) or 'none'}."
        )
    out.print(f"bisecting {app.name} on {dev.name} over Device OS {wanted[0]} .. {wanted[-1]}", markup=False)

    def show(verdict: AppCheck) -> None:
        out.print(f"  {verdict.version}: {verdict.outcome} ({verdict.detail})", markup=False)

    found = bisect_app(dev, store, wanted, app, progress=show)
    out.print(found.sentence(), markup=False)
    for label, seen in (("last good", found.last_good), ("first bad", found.first_bad)):
        if seen is not None:
            out.print(f"evidence, {label} {seen.version}:", markup=False)
            for line in seen.evidence:
                out.print(f"    {line}", markup=False)
    return 1 if found.first_bad is not None else 0
