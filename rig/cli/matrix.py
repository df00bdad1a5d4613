"""`rig matrix`: run the upgrade/downgrade matrix (rig/hil through pytest), show progress and a
summary, and say where the report is. `rig check-app`: one user binary across Device OS versions.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from rig import hil, matrix
from rig.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_PASSED, ConfigError
from rig.report import journal
from rig.report import results as report_results

HIL_TESTS = Path(hil.__file__).resolve().parent  # the matrix tests ship inside the package
# pytest settings the reports rely on; given on the command line so that neither the checkout's
# pyproject.toml nor a pytest.ini of the folder rig runs from changes them
PYTEST_SETTINGS = ("junit_family=xunit1", "junit_logging=system-out", "xfail_strict=true")


class _ProgressPlugin:
    """Feeds a rich progress bar from pytest's reports (works under xdist on the controller)."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task = progress.add_task("matrix", total=None)
        self.counts: dict[str, int] = {}

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Total when collecting in this process."""
        self.progress.update(self.task, total=len(session.items))

    @pytest.hookimpl(optionalhook=True)  # xdist's hook: known only when xdist is loaded
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        """Total when the workers collect."""
        self.progress.update(self.task, total=len(ids))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """One more path done."""
        if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
            self.counts[report.outcome] = self.counts.get(report.outcome, 0) + 1
            self.progress.update(self.task, advance=1, description=f"matrix {report.nodeid.split('[')[-1][:-1]}")


def pytest_args(args: argparse.Namespace, report: Path, run_id: str, tests: str = "test_matrix.py") -> list[str]:
    """The pytest command line of a matrix run (the package's own tests, wherever rig is installed)."""
    run = report / journal.RUNS / run_id
    out = [
        str(HIL_TESTS / tests),
        "-q",
        "-p",
        "no:cacheprovider",
        "-c",
        os.devnull,  # no ini file: the run is the same from any folder
        "--rootdir",
        str(HIL_TESTS),
        *(arg for setting in PYTEST_SETTINGS for arg in ("-o", setting)),
        "-W",
        "ignore::pytest.PytestAssertRewriteWarning",  # the rig package is imported before pytest starts
        "--rig-report",
        str(report),
        "--rig-run-id",
        run_id,
        f"--junitxml={run / 'junit.xml'}",
        f"--html={run / 'report.html'}",
        "--self-contained-html",
        "-n",
        str(args.workers),
        "--rig-time-scale",
        str(args.time_scale),
        "--rig-path-timeout",
        str(args.path_timeout),
        "--rig-schedule",
        args.schedule,
        "--rig-retries",
        str(args.retries),
    ]
    if args.sim:
        out.append("--rig-sim")
    for flag, value in (
        ("--rig-devices", args.devices),
        ("--rig-releases", args.releases),
        ("--rig-labgrid", args.labgrid),
        ("--rig-remote-rig", args.remote_rig),
    ):
        if value:
            out += [flag, value]
    for flag, values in (
        ("--rig-platforms", args.platforms),
        ("--rig-from", args.from_versions),
        ("--rig-to", args.to_versions),
        ("--rig-methods", args.methods),
    ):
        if values:
            out += [flag, ",".join(values)]
    return out


def summary(results: list[report_results.PathResult]) -> Table:
    """Outcomes per platform and method."""
    table = Table(title="Matrix summary")
    columns = ("platform", "method", "paths", "pass", "over the air", "flaky", "fail", "refused", "not finished")
    for col in (*columns, "modelled s (set-up + paths)"):
        table.add_column(col)
    groups: dict[tuple[str, str], list[report_results.PathResult]] = {}
    for r in results:
        groups.setdefault((r.platform, r.method), []).append(r)
    for (platform, method), rs in sorted(groups.items()):
        count = {o: sum(r.outcome == o for r in rs) for o in report_results.OUTCOMES}
        table.add_row(
            platform,
            method,
            str(len(rs)),
            str(count["pass"]),
            str(count["completed-over-the-air"]),
            str(count[report_results.FLAKY]),
            str(count["fail"]),
            str(count["refused"]),
            str(count["interrupted"] + count["not-run"]),
            _bench_seconds(rs),
        )
    return table


def _bench_seconds(rs: list[report_results.PathResult]) -> str:
    setup, paths = sum(r.setup_modelled_seconds for r in rs), sum(r.modelled_seconds for r in rs)
    return f"{setup + paths:.0f} ({setup:.0f} + {paths:.0f})"


def preflight(args: argparse.Namespace) -> None:
    """User mistakes found before pytest starts (nothing is touched): the numbers, devices.yaml,
    the release store, the selection (platforms, methods, versions), the lock directory.
    """
    from rig.firmware.release import ReleaseStore
    from rig.inventory import Inventory, load_inventory
    from rig.pool import lock_dir

    matrix.check_numbers(args.workers, args.path_timeout, args.time_scale)
    matrix.check_retries(args.retries)
    inventory = load_inventory(Path(args.devices)) if args.devices else None
    if args.labgrid and inventory is None and not args.sim:  # the boards are the coordinator's places
        from rig.labgrid.client import LabgridClient
        from rig.labgrid.remote import place_boards

        inventory = Inventory(devices=place_boards(LabgridClient(args.labgrid).places()))
    names = matrix.run_platforms(args.platforms or [], [d.platform for d in inventory.devices] if inventory else None)
    store = ReleaseStore.scan(Path(args.releases)).require_releases() if args.releases else None
    if store is None and not args.sim:
        raise ConfigError("Say which releases to run: --releases DIR (a folder of Device OS binaries).")

    def versions_of(name: str) -> list[str]:
        return store.versions(name) if store else list(matrix.sim_versions(name))

    methods = args.methods or list(matrix.DEFAULT_METHODS)
    matrix.check_selection(versions_of, names, methods, args.from_versions or [], args.to_versions or [])
    if not args.sim:
        lock_dir(None)
    if args.json_out:  # found now, not after the whole night
        check_json_out(Path(args.json_out))


def check_json_out(target: Path) -> None:
    """A --json-out file that cannot be written ends here, before anything runs."""
    if target.is_dir() or not os.access(target if target.exists() else (target.parent or Path(".")), os.W_OK):
        raise ConfigError(f"--json-out {target} cannot be written: pass a file in a writable folder.")


SELECTION = "selection.json"  # what a run covers, so --resume and --rerun-failed run the same paths
SELECTION_KEYS = (
    "sim", "devices", "releases", "platforms", "from_versions", "to_versions", "methods", "workers",
    "time_scale", "path_timeout", "schedule", "retries", "labgrid", "remote_rig",
)  # fmt: skip


def _from_earlier_run(args: argparse.Namespace) -> tuple[Path, dict[str, report_results.PathResult]]:
    """The run --resume or --rerun-failed names, its records, and its selection put back into `args`."""
    source = journal.resolve_run(Path(args.resume or args.rerun_failed).resolve())
    try:
        saved = json.loads((source / SELECTION).read_text())
    except (OSError, ValueError):
        raise ConfigError(f"{source} holds no {SELECTION}: only a run `rig matrix` started can be resumed.") from None
    given = [k for k in SELECTION_KEYS if k in saved and getattr(args, k) not in (args.default_of(k), saved[k])]
    if given:
        options = ", ".join(f"--{k.replace('_', '-')} (it ran with {saved[k]})" for k in given)
        raise ConfigError(f"{source.name} runs again with its own selection: leave out {options}.")
    for key in SELECTION_KEYS:
        setattr(args, key, saved.get(key, getattr(args, key)))
    return source, journal.latest(source)


def _ids_file(run: Path, name: str, ids: list[str]) -> Path:
    path = run / name
    journal.write_whole(path, "".join(f"{i}\n" for i in sorted(ids)))
    return path


def cmd_matrix(args: argparse.Namespace, out: Console) -> int:
    """`rig matrix` (also --resume / --rerun-failed of an earlier run)."""
    extra: list[str] = []
    made: list[Path] = []
    records: dict[str, report_results.PathResult] = {}
    if args.resume or args.rerun_failed:
        source, records = _from_earlier_run(args)
    if not args.sim and not args.devices and not args.labgrid:
        raise ConfigError(
            "Say which bench: --sim for the simulated lab, --devices devices.yaml for real boards, or --labgrid "
            "HOST:PORT for the boards of a labgrid lab's hosts."
        )
    preflight(args)
    if args.sim:
        from rig.sim import host_programs

        host_programs.refuse_stand_ins()  # with RIG_SIM_REAL_PROGRAMS=1: one sentence before the run
        out.print(host_programs.summary(), markup=False, highlight=False)
    if args.resume:  # the same run folder: the finished paths stay, the others run now
        run, report = source, source.parent.parent
        done = [i for i, r in records.items() if r.outcome in report_results.FINAL]
        extra = ["--rig-skip-paths", str(_ids_file(run, "resume-skip.txt", done))]
    else:
        report = Path(args.report).resolve()
        made = [f for f in (report, report / journal.RUNS) if not f.exists()]  # removed again if nothing ran
        run = journal.create_run_folder(report, journal.new_run_id())  # its own folder: no run touches another's
        if args.rerun_failed:
            failed = [i for i, r in records.items() if r.outcome == "fail"]
            if not failed:
                raise ConfigError(f"No path failed in {source}: nothing to run again.")
            extra = ["--rig-only-paths", str(_ids_file(run, "rerun-only.txt", failed))]
    selection = {key: getattr(args, key) for key in SELECTION_KEYS}
    if not (run / SELECTION).exists():
        journal.write_whole(run / SELECTION, json.dumps(selection, indent=1))
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=out,
        transient=True,
    ) as progress:
        code = pytest.main([*pytest_args(args, report, run.name), *extra], plugins=[_ProgressPlugin(progress)])
    results = list(journal.latest(run).values())
    if not results and int(code) in (int(pytest.ExitCode.OK), int(pytest.ExitCode.NO_TESTS_COLLECTED)):
        if not args.resume:  # no run happened: no run folder is left behind
            journal.discard_run(run, made)
        raise ConfigError(
            "The selection holds no path (a path goes from one version to another of one platform): "
            "widen --platforms, --methods, --from or --to."
        )
    if not results:
        raise ConfigError(f"The matrix produced no results (pytest exit code {int(code)}); see the output above.")
    out.print(summary(results))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps([r.public() for r in report_results.ordered(results)], indent=1))
        out.print(f"JSON: {args.json_out}")
    out.print(f"Report: {report / 'matrix.html'} (also results.json, junit.xml, report.html, trend.html)")
    out.print(f"This run: {run}")
    for line in failure_lines(results):  # plain, unwrapped: cron mail and CI logs show the reasons
        out.print(line, markup=False, highlight=False, soft_wrap=True)
    return exit_code(results, int(code))


def failure_lines(results: list[report_results.PathResult]) -> list[str]:
    """One `path: reason` line per failed or interrupted path (then the flaky ones), in report order."""
    out = []
    for title, outcomes in (("Failed", report_results.FAILED), ("Flaky", (report_results.FLAKY,))):
        rows = [
            f"{r.id}: {r.error or 'no reason recorded'}"
            for r in report_results.ordered(results)
            if r.outcome in outcomes
        ]
        out += [f"{title} paths ({len(rows)}):", *rows] if rows else []
    return out


def exit_code(results: list[report_results.PathResult], pytest_code: int) -> int:
    """0 every path passed (or was refused as planned), 1 paths failed, 3 the run was interrupted."""
    if pytest_code == int(pytest.ExitCode.INTERRUPTED) or any(r.outcome in report_results.UNFINISHED for r in results):
        return EXIT_INTERRUPTED
    failed = sum(r.outcome == "fail" for r in results)
    return EXIT_FAILED if failed or pytest_code not in (0, 5) else EXIT_PASSED
