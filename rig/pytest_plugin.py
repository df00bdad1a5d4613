"""particle-rig's pytest plugin (entry point `pytest11`): options, fixtures, markers, the matrix.

Without boards and without --rig-sim, `hil` tests are skipped with a reason; with --rig-sim each
xdist worker runs its own simulated bench. The matrix (`rig_path`) comes from options and the
release store only, sorted, so every worker collects the same tests (python-stack §6b); boards
are shared safely through file locks, not `--dist loadgroup` (python-stack §6c). Results go to JUnit
properties, pytest-html extras and, from the controller, results.json and the HTML matrix.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from _pytest._code.code import TracebackEntry

from rig import matrix, pytest_watchdog, signals
from rig.errors import RigError
from rig.firmware.parse import parse_file
from rig.firmware.release import ReleaseStore
from rig.labgrid.remote import remote_rig_words
from rig.plan import Target
from rig.pool import lock_dir
from rig.pytest_boards import FAILED, board, rig_try  # noqa: F401  (fixtures registered with the plugin)
from rig.pytest_chains import ChainPlugin
from rig.pytest_session import RigSession, listed
from rig.report import results as report_results
from rig.report.collect import RESULT_KEY, ResultCollector, as_interrupted, path_property
from rig.schedule_kind import Schedule

MARKERS = (
    "hil: needs a board (real, or simulated with --rig-sim); skipped without one",
    "rig_platform(*names): platforms a HIL test applies to",
    "rig_method(*methods): flashing paths a HIL test exercises",
)
NO_BENCH = "no boards: pass --rig-devices FILE, or --rig-sim for the simulated lab"
PATH_TIMEOUT = 1800.0  # wall seconds: far above any path (every wait inside has its own timeout)


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the rig's options (and ini equivalents)."""
    g = parser.getgroup("rig", "particle-rig")
    g.addoption("--rig-devices", metavar="FILE", help="devices.yaml of the bench")
    g.addoption("--rig-sim", action="store_true", default=False, help="run HIL tests on a simulated bench")
    g.addoption("--rig-time-scale", type=float, default=0.0, help="simulated time scale (0: instant)")
    g.addoption("--rig-platforms", action="append", default=[], help="platforms of the matrix (comma list)")
    g.addoption("--rig-from", action="append", default=[], help="source Device OS versions (comma list)")
    g.addoption("--rig-to", action="append", default=[], help="target Device OS versions (comma list)")
    g.addoption("--rig-methods", action="append", default=[], help="methods (comma list)")
    g.addoption("--rig-user-binary", metavar="FILE", help="user firmware to check across Device OS versions")
    g.addoption("--rig-releases", metavar="DIR", help="release store (default with --rig-sim: synthetic)")
    g.addoption("--rig-report", metavar="DIR", help="write results.json and the HTML matrix here")
    g.addoption(
        "--rig-run-id",
        metavar="ID",
        help="this run's folder under DIR/runs, made by the caller (default: a new one, time-pid)",
    )
    g.addoption("--rig-skip-paths", metavar="FILE", help="path ids (one per line) not to run (rig matrix --resume)")
    g.addoption("--rig-only-paths", metavar="FILE", help="run only these path ids (rig matrix --rerun-failed)")
    g.addoption("--rig-lock-dir", metavar="DIR", help="machine-wide board lock directory")
    g.addoption(
        "--rig-labgrid",
        metavar="HOST:PORT",
        help="claim boards as places on this labgrid coordinator (without --rig-devices: every place the rig "
        "made, each path run on its host)",
    )
    g.addoption(
        "--rig-remote-rig",
        default="rig",
        metavar="COMMAND",
        help="the rig command on the labgrid hosts (default: rig, on their PATH)",
    )
    g.addoption(
        "--rig-retries",
        type=int,
        default=0,
        metavar="N",
        help="run a failed path up to N more times; one that then passes is reported flaky (default 0)",
    )
    g.addoption(
        "--rig-schedule",
        choices=[s.value for s in Schedule],
        default=Schedule.CIRCUIT.value,
        help="circuit: each path starts where the previous one ended (default); naive: sorted, each sets its board up",
    )
    g.addoption(
        "--rig-path-timeout",
        type=float,
        default=PATH_TIMEOUT,
        metavar="SECONDS",
        help=f"watchdog: a HIL test running longer (wall s) fails, its board is recovered (default {PATH_TIMEOUT:g})",
    )
    for name in ("rig_devices", "rig_releases", "rig_report", "rig_lock_dir"):
        parser.addini(name, f"default for --{name.replace('_', '-')}", default=None)


_SESSION = pytest.StashKey[RigSession]()


def pytest_configure(config: pytest.Config) -> None:
    """Markers, the per-process session, and the controller's result list."""
    for line in MARKERS:
        config.addinivalue_line("markers", line)
    config.stash[_SESSION] = RigSession(config)
    config.pluginmanager.register(ResultCollector(config), "rig-results")
    config.pluginmanager.register(pytest_watchdog.FixtureWatchdog(), "rig-watchdog")
    rs = config.stash[_SESSION]
    if rs.has_bench and config.getoption("--rig-schedule") == Schedule.CIRCUIT:
        config.pluginmanager.register(ChainPlugin(rs.schedule, rs.chain_starts), "rig-chains")
    config.stash[_SIGNALS] = signals.stop_on_signals()  # SIGTERM and SIGHUP stop the run as Ctrl-C does


_SIGNALS = pytest.StashKey[dict[int, Any]]()


def pytest_sessionstart(session: pytest.Session) -> None:
    """Check the bench before any test runs: devices.yaml, the release store, the lock directory;
    a mistake ends the run with one sentence (pytest's usage error), not a traceback per test.
    """
    rs = session.config.stash[_SESSION]
    if not rs.has_bench:
        return
    config = session.config
    try:
        matrix.check_numbers(None, config.getoption("--rig-path-timeout"), config.getoption("--rig-time-scale"))
        matrix.check_retries(config.getoption("--rig-retries"))
        remote_rig_words(config.getoption("--rig-remote-rig"))
        rs.inventory()
        store = rs.store()  # a given store must hold releases (synthetic ones are made for --rig-sim)
        if store is not None:
            matrix.check_selection(
                store.versions,
                rs.platforms(),
                listed(config, "--rig-methods"),
                listed(config, "--rig-from"),
                listed(config, "--rig-to"),
            )
        folder = rs.folder_option("rig_lock_dir")
        lock_dir(Path(folder) if folder else None)
        if rs.sim:  # RIG_SIM_REAL_PROGRAMS=1 and a program the lab needs missing: one sentence, not one per path
            from rig.sim.host_programs import refuse_stand_ins

            refuse_stand_ins()
    except RigError as exc:
        raise pytest.UsageError(str(exc)) from None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item) -> None:
    """No test starts once a signal asked the run to stop (even one whose interrupt was swallowed)."""
    signals.raise_if_stopped()


@pytest.hookimpl(tryfirst=True)
def pytest_keyboard_interrupt(excinfo: pytest.ExceptionInfo[BaseException]) -> None:
    """A stop signal that lands on an instruction without a line number (Python 3.11 gives such a
    frame `tb_lineno` None) made pytest's own report of the interrupt fail with a TypeError, so the
    run ended with exit 1 instead of its interrupted code: such frames leave the report.
    """
    excinfo.traceback = excinfo.traceback.filter(has_line)


def has_line(entry: TracebackEntry) -> bool:
    """Whether pytest can show this traceback entry (it knows the entry's line)."""
    try:
        entry.lineno  # noqa: B018 (the property is the check)
    except TypeError:
        return False
    return True


def pytest_unconfigure(config: pytest.Config) -> None:
    """Tear the simulated bench down; the signals as they were."""
    if _SESSION in config.stash:
        config.stash[_SESSION].close()
    signals.restore(config.stash.get(_SIGNALS, {}))


@dataclass(frozen=True, order=True)
class AppCase:
    """One Device OS version to check a user binary on."""

    platform: str
    version: str
    method: str = "dfu"


def _user_binary(config: pytest.Config) -> Target | None:
    given = config.getoption("--rig-user-binary")
    if not given:
        return None
    return Target(Path(given).name, parse_file(Path(given))[0])


def _generate_app_cases(metafunc: pytest.Metafunc, rs: RigSession) -> None:
    app = _user_binary(metafunc.config)
    store = rs.store() if rs.has_bench else None
    if app is None or store is None:
        reason = "pass --rig-user-binary FILE" if app is None else NO_BENCH
        metafunc.parametrize(
            "rig_app_case", [pytest.param(None, marks=pytest.mark.skip(reason=reason))], ids=["no-app"]
        )
        return
    wanted = listed(metafunc.config, "--rig-to")
    cases = [
        AppCase(app.module.platform.name, v)
        for v in store.versions(app.module.platform.name)
        if not wanted or v in wanted
    ]
    metafunc.parametrize("rig_app_case", cases, ids=[f"{c.platform}-{c.version}" for c in cases])


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrise `rig_path` with the matrix, sorted, from options and releases only."""
    if "rig_app_case" in metafunc.fixturenames:
        _generate_app_cases(metafunc, metafunc.config.stash[_SESSION])
    if "rig_path" not in metafunc.fixturenames:
        return
    rs = metafunc.config.stash[_SESSION]
    store = rs.store() if rs.has_bench else None
    if store is None:
        reason = NO_BENCH if not rs.has_bench else "no release store: pass --rig-releases DIR"
        metafunc.parametrize("rig_path", [pytest.param(None, marks=pytest.mark.skip(reason=reason))], ids=["no-bench"])
        return
    methods = listed(metafunc.config, "--rig-methods") or list(matrix.DEFAULT_METHODS)
    marker = metafunc.definition.get_closest_marker("rig_method")
    if marker:
        methods = [m for m in methods if m in marker.args] or list(marker.args)
    paths = matrix.paths(
        store, rs.platforms(), methods, listed(metafunc.config, "--rig-from"), listed(metafunc.config, "--rig-to")
    )
    paths = interleaved(paths)
    metafunc.parametrize("rig_path", paths, ids=[p.id for p in paths])


def interleaved(paths: list[matrix.MatrixPath]) -> list[matrix.MatrixPath]:
    """Paths round-robin over platforms, so xdist's contiguous batches land on different boards."""
    per_platform: dict[str, int] = {}
    ranked = []
    for order, path in enumerate(paths):
        rank = per_platform.get(path.platform, 0)
        per_platform[path.platform] = rank + 1
        ranked.append((rank, order, path))
    return [path for _, _, path in sorted(ranked, key=lambda t: (t[0], t[1]))]


def _path_ids(config: pytest.Config, option: str) -> set[str] | None:
    name = config.getoption(option)
    return set(Path(name).read_text().split()) if name else None


def _select_paths(config: pytest.Config, items: list[pytest.Item]) -> None:
    """--rig-skip-paths / --rig-only-paths: deselect matrix paths by id (a resumed run, a rerun)."""
    skip, only = _path_ids(config, "--rig-skip-paths"), _path_ids(config, "--rig-only-paths")
    if skip is None and only is None:
        return
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        path = callspec.params.get("rig_path") if callspec is not None else None
        pid = path.id if isinstance(path, matrix.MatrixPath) else None
        wanted = pid is None or ((skip is None or pid not in skip) and (only is None or pid in only))
        (keep if wanted else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip `hil` tests with a reason when there is no bench; else give each a watchdog (pytest-timeout:
    the test function, its set-up and its teardown each bounded, rig/pytest_watchdog.py). Each path of
    the matrix is marked with its path, so it gets a final record whatever ends it.
    """
    _select_paths(config, items)
    for item in items:
        callspec = getattr(item, "callspec", None)
        path = callspec.params.get("rig_path") if callspec is not None else None
        if isinstance(path, matrix.MatrixPath):
            item.user_properties.append(path_property(path))
    if config.stash[_SESSION].has_bench:
        pytest_watchdog.arm(items, config.getoption("--rig-path-timeout"))
        return
    skip = pytest.mark.skip(reason=NO_BENCH)
    for item in items:
        if item.get_closest_marker("hil"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def rig_session(request: pytest.FixtureRequest) -> RigSession:
    """The rig's per-process session."""
    rs = request.config.stash[_SESSION]
    if not rs.has_bench:
        pytest.skip(NO_BENCH)
    return rs


@pytest.fixture(scope="session")
def rig_releases(rig_session: RigSession) -> ReleaseStore:
    """The release store of the run."""
    store = rig_session.store()
    if store is None:
        pytest.skip("no release store: pass --rig-releases DIR")
    return store


@pytest.fixture
def rig_path(request: pytest.FixtureRequest) -> matrix.MatrixPath:
    """The matrix cell under test."""
    path: matrix.MatrixPath = request.param
    return path


@pytest.fixture
def rig_app_case(request: pytest.FixtureRequest) -> AppCase:
    """The Device OS version a user binary is checked on."""
    case: AppCase = request.param
    return case


@pytest.fixture(scope="session")
def rig_user_binary(request: pytest.FixtureRequest) -> Target:
    """The user binary of --rig-user-binary."""
    app = _user_binary(request.config)
    if app is None:
        pytest.skip("pass --rig-user-binary FILE")
    return app


@pytest.fixture
def rig_retries(request: pytest.FixtureRequest) -> int:
    """How many more times a failed path is tried (--rig-retries)."""
    return int(request.config.getoption("--rig-retries"))


@pytest.fixture
def rig_new_try(request: pytest.FixtureRequest) -> Callable[[], None]:
    """Call before each further try of a test: its watchdog (--rig-path-timeout) starts over."""
    return lambda: pytest_watchdog.new_try(request.node)


@pytest.fixture
def rig_record(request: pytest.FixtureRequest, record_property: Any) -> Any:
    """Record a path result: JUnit properties, the serial log on stdout, pytest-html extras."""

    def record(result: report_results.PathResult) -> None:
        as_interrupted(result)
        for key in ("platform", "from_version", "to_version", "method", "outcome", "board", "error", "board_state"):
            record_property(key, getattr(result, key))
        record_property("modelled_seconds", round(result.modelled_seconds, 2))
        record_property("setup_modelled_seconds", round(result.setup_modelled_seconds, 2))
        record_property("wall_seconds", round(result.wall_seconds, 3))
        for i, step in enumerate(result.steps):
            record_property(f"step{i:02}", f"{step['step']} | wall {step['wall']:.3f} s | clock {step['clock']:.2f} s")
        request.node.user_properties.append((RESULT_KEY, json.dumps(result.__dict__)))
        request.node.stash[_LOG] = result.log
        print(result.log)

    return record


_LOG = pytest.StashKey[str]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Attach the path's log to the pytest-html report."""
    report: Any = yield
    if report.when == "call":
        item.stash[FAILED] = bool(report.failed)
    if report.when == "call" and _LOG in item.stash:
        try:
            import pytest_html

            report.extras = [*getattr(report, "extras", []), pytest_html.extras.text(item.stash[_LOG], name="log")]
        except ImportError:
            pass
    return report  # type: ignore[no-any-return]
