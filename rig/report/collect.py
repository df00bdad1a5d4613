"""The controller's side of a pytest run: a final record for every selected path, written as it
ends, then the reports and the JUnit suite metadata (python-stack §6d: record_testsuite_property is
dropped under xdist, so the controller adds it). Layout and guarantees: rig/report/journal.py.
"""

from __future__ import annotations

import json
import platform
import re
import sys
import time
from collections import Counter
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from _pytest.junitxml import xml_key

from rig.errors import ConfigError
from rig.matrix import MatrixPath
from rig.report import journal
from rig.report import publish as report_publish
from rig.report import results as report_results
from rig.signals import STOPPED_BY

RESULT_KEY = "rig_result"  # the user property carrying a path's PathResult (rig_record)
SELECTION = ("platforms", "methods", "from", "to")  # the --rig-<name> filters of a run
PATH_KEY = "rig_path"  # the user property naming the path a test item runs (added at collection)
CLAIMED_KEY = "rig_claimed"  # the user property naming the board a test claimed and its host (added at the claim)


def claimed_property(board: str, host: str) -> tuple[str, str]:
    """The user property saying which board (and host) a test holds: a try the watchdog ends names them."""
    return CLAIMED_KEY, json.dumps([board, host])


def path_property(path: MatrixPath) -> tuple[str, str]:
    """The user property that marks a test item as one path of the matrix."""
    return PATH_KEY, json.dumps([path.platform, path.from_version, path.to_version, path.method])


def as_interrupted(result: report_results.PathResult) -> report_results.PathResult:
    """A path that failed while the run was being stopped was interrupted: its failure may be the
    stop itself (a tool killed by the same signal), so it is not reported as the board's.
    """
    if STOPPED_BY and result.outcome == "fail":
        result.error = f"the run was stopped ({STOPPED_BY[0]}) while this path ran: {result.error}"
        result.outcome = "interrupted"
    return result


def _error_sentence(report: pytest.TestReport) -> str:
    """What ended a test that recorded no result, in one line."""
    crash = getattr(report.longrepr, "reprcrash", None)
    text = getattr(crash, "message", None) or str(report.longrepr or "").strip().splitlines()[-1:] or ["unknown"]
    line = text if isinstance(text, str) else text[0]
    if not line.strip():
        return "the test failed without a message"
    first = line.strip().splitlines()[0][:500]
    return _NOT_THE_SENTENCE.sub("", first) or first  # the rig's own errors are one sentence already


# pytest.fail's "Failed: " and a rig error's qualified class name: the sentence is what follows
_NOT_THE_SENTENCE = re.compile(r"^(Failed: |rig(\.\w+)+: )+")


class ResultCollector:
    """Collects path results, journals each as it ends, writes the reports (on the controller)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.results: dict[str, report_results.PathResult] = {}
        self.selected: dict[str, MatrixPath] = {}  # every path of the run, by id
        self.started: set[str] = set()
        self.claimed: dict[str, tuple[str, str]] = {}  # path id: the board a test of it holds, and its host
        self.started_at = time.strftime("%Y-%m-%dT%H:%M:%S")
        self.started_wall = time.monotonic()  # the run's wall time is measured from here
        self.report_dir: Path | None = None
        self.run_folder: Path | None = None
        self.problems: list[str] = []

    @property
    def controller(self) -> bool:
        """False in an xdist worker."""
        return not hasattr(self.config, "workerinput")

    def _folder(self) -> Path | None:
        """The run's folder, made on first use (only with --rig-report)."""
        if self.run_folder is None and self.report_dir is not None:
            given = self.config.getoption("--rig-run-id")  # made by the caller (rig matrix), exclusively
            if given:
                self.run_folder = self.report_dir / journal.RUNS / given
                self.run_folder.mkdir(parents=True, exist_ok=True)
            else:
                self.run_folder = journal.create_run_folder(self.report_dir, journal.new_run_id())
        return self.run_folder

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """Where the reports go; a report folder that cannot be used ends the run before any test."""
        folder = self.config.getoption("--rig-report") or self.config.getini("rig_report")
        if not self.controller or not folder:
            return
        self.report_dir = Path(folder)
        given = self.config.getoption("--rig-run-id")
        if given and (self.report_dir / journal.RUNS / given / journal.JOURNAL).is_file():  # a resumed run
            self.run_folder = self.report_dir / journal.RUNS / given
            for result in journal.latest(self.run_folder).values():
                if result.outcome in report_results.FINAL:
                    self.results[result.id] = result
                    self.selected[result.id] = MatrixPath(
                        result.platform, result.from_version, result.to_version, result.method
                    )

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """The selected paths (without xdist: this process collected them)."""
        for item in session.items:
            self._select(item.nodeid, dict(item.user_properties).get(PATH_KEY))

    @pytest.hookimpl(optionalhook=True)  # xdist's hook: known only when xdist is loaded
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        """The selected paths (under xdist: from a worker's collection, by test id)."""
        for nodeid in ids:
            path = MatrixPath.from_nodeid(nodeid)
            if path is not None:
                self.selected.setdefault(path.id, path)

    def _select(self, nodeid: str, prop: Any) -> None:
        if prop is not None:
            path = MatrixPath(*json.loads(str(prop)))
            self.selected.setdefault(path.id, path)

    def pytest_runtest_logstart(self, nodeid: str, location: tuple[str, int | None, str]) -> None:
        """A path started (so an interruption finds it in flight)."""
        path = MatrixPath.from_nodeid(nodeid)
        if path is not None:
            self.started.add(path.id)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """A test report (of a worker, or of this process): the path's final record when it has one."""
        props = dict(report.user_properties)
        if report.when == "call" and RESULT_KEY in props:
            self._record(report_results.PathResult.from_json(json.loads(str(props[RESULT_KEY]))))
            return
        if PATH_KEY not in props or report.when == "teardown":
            return
        path = MatrixPath(*json.loads(str(props[PATH_KEY])))
        if path.id in self.results:
            return
        if CLAIMED_KEY in props:
            self.claimed[path.id] = tuple(json.loads(str(props[CLAIMED_KEY])))
        board, host = self.claimed.get(path.id, (None, ""))
        if report.failed:
            self._record(self._unfinished(path, "fail", _error_sentence(report), report.duration, board, host))
        elif report.skipped:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else "skipped"
            self._record(self._unfinished(path, "skipped", str(reason).removeprefix("Skipped: "), 0.0, board, host))

    @staticmethod
    def _unfinished(
        path: MatrixPath, outcome: str, why: str, wall: float, board: str | None = None, host: str = ""
    ) -> report_results.PathResult:
        return report_results.PathResult(
            path.id, path.platform, path.from_version, path.to_version, path.method, outcome, why, board,
            wall_seconds=wall, log=why + "\n", host=host,
        )  # fmt: skip

    def _record(self, result: report_results.PathResult) -> None:
        self.results[result.id] = as_interrupted(result)
        if not self.controller:
            return
        try:
            folder = self._folder()
            if folder is not None:
                journal.record(folder, result)
        except (OSError, ConfigError) as exc:
            self.problems.append(f"Could not add {result.id} to the run's journal ({exc}).")

    def suite_metadata(self) -> dict[str, str]:
        """What the run was: bench, selection, versions, outcome counts."""
        config = self.config
        meta = {
            "rig_version": metadata.version("particle-rig"),
            "python": platform.python_version(),
            "host": platform.node(),
            "started": self.started_at,
            "simulated": str(bool(config.getoption("--rig-sim"))).lower(),
            "devices": str(config.getoption("--rig-devices") or config.getini("rig_devices") or ""),
            "releases": str(config.getoption("--rig-releases") or config.getini("rig_releases") or "synthetic"),
            "workers": str(getattr(config.option, "numprocesses", None) or 0),
            "paths": str(len(self.results)),
        }
        for name in SELECTION:
            meta[name] = ",".join(config.getoption(f"--rig-{name}") or [])
        for outcome, count in sorted(Counter(r.outcome for r in self.results.values()).items()):
            meta[f"outcome_{outcome}"] = str(count)
        return meta

    def selection(self) -> dict[str, str]:
        """The run's filters (empty: every one) and schedule."""
        out = {name: ",".join(self.config.getoption(f"--rig-{name}") or []) for name in SELECTION}
        out["schedule"] = str(self.config.getoption("--rig-schedule") or "")
        return out

    def bench(self) -> str:
        """The devices file, and whether the lab is simulated."""
        devices = str(self.config.getoption("--rig-devices") or self.config.getini("rig_devices") or "")
        if self.config.getoption("--rig-sim"):
            return f"simulated lab ({devices})" if devices else "simulated lab"
        return devices or "(no devices file)"

    def _close_unfinished(self, exitstatus: int) -> None:
        """A record for every selected path the run did not finish."""
        stopped = exitstatus == pytest.ExitCode.INTERRUPTED
        for path_id, path in sorted(self.selected.items()):
            if path_id in self.results:
                continue
            if path_id in self.started:
                why = "the run was stopped while this path ran" if stopped else "the test ended without a result"
                self._record(self._unfinished(path, "interrupted", why, 0.0, *self.claimed.get(path_id, (None, ""))))
            else:
                why = "the run was stopped before this path started" if stopped else "the run ended first"
                self._record(self._unfinished(path, "not-run", why, 0.0))

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        """Records for unfinished paths, suite properties into the JUnit XML, then the run's files."""
        if not self.controller:
            return
        self._close_unfinished(int(exitstatus))
        xml = self.config.stash.get(xml_key, None)
        if xml is not None:  # runs before junitxml writes its file (tryfirst)
            for name, value in self.suite_metadata().items():
                xml.add_global_property(f"rig_{name}", value)
        if self.report_dir is None or not self.results:
            return
        try:
            folder = self._folder()
        except ConfigError as exc:
            self.problems.append(str(exc))
            return
        assert folder is not None
        meta = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "started": self.started_at,
            "run": folder.name,
            "simulated": bool(self.config.getoption("--rig-sim")),
            "paths": len(self.results),
            "interrupted": int(exitstatus) == pytest.ExitCode.INTERRUPTED,
            "wall_seconds": round(time.monotonic() - self.started_wall, 1),
            "host": platform.node(),
            "bench": self.bench(),
            "selection": self.selection(),
        }
        self.problems += report_publish.write_run(self.report_dir, folder, list(self.results.values()), meta)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        """Copies of the run's junit.xml and report.html (written after the rig's own files); say what failed."""
        if self.report_dir is not None and self.run_folder is not None:
            self.problems += report_publish.copy_latest(self.report_dir, self.run_folder)
        for sentence in self.problems:
            print(f"rig: {sentence}", file=sys.stderr)
