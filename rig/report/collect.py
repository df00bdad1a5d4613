"""The controller's side of a pytest run: gathers path results from workers, writes the reports
and the JUnit suite metadata (python-stack §6d: record_testsuite_property is dropped under xdist,
so the controller adds it).
"""

from __future__ import annotations

import json
import platform
import time
from collections import Counter
from importlib import metadata
from pathlib import Path

import pytest
from _pytest.junitxml import xml_key

from rig.report import html as report_html
from rig.report import results as report_results

RESULT_KEY = "rig_result"


class ResultCollector:
    """Collects path results and writes the reports (on the controller under xdist)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.results: list[report_results.PathResult] = []
        self.started = time.strftime("%Y-%m-%dT%H:%M:%S")

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """A worker's (or this process's) test report: keep its path result."""
        if report.when != "call":
            return
        for key, value in report.user_properties:
            if key == RESULT_KEY:
                self.results.append(report_results.PathResult.from_json(json.loads(str(value))))

    def suite_metadata(self) -> dict[str, str]:
        """What the run was: bench, selection, versions, outcome counts."""
        config = self.config
        meta = {
            "rig_version": metadata.version("particle-rig"),
            "python": platform.python_version(),
            "host": platform.node(),
            "started": self.started,
            "simulated": str(bool(config.getoption("--rig-sim"))).lower(),
            "devices": str(config.getoption("--rig-devices") or config.getini("rig_devices") or ""),
            "releases": str(config.getoption("--rig-releases") or config.getini("rig_releases") or "synthetic"),
            "workers": str(getattr(config.option, "numprocesses", None) or 0),
            "paths": str(len(self.results)),
        }
        for name in ("platforms", "from", "to", "methods"):
            meta[name] = ",".join(config.getoption(f"--rig-{name}") or [])
        for outcome, count in sorted(Counter(r.outcome for r in self.results).items()):
            meta[f"outcome_{outcome}"] = str(count)
        return meta

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        """Suite properties into the JUnit XML, then results.json, the HTML matrix and the trend page."""
        config = self.config
        if hasattr(config, "workerinput"):
            return
        xml = config.stash.get(xml_key, None)
        if xml is not None:  # runs before junitxml writes its file (tryfirst)
            for name, value in self.suite_metadata().items():
                xml.add_global_property(f"rig_{name}", value)
        folder = config.getoption("--rig-report") or config.getini("rig_report")
        if not folder or not self.results:
            return
        report_dir = Path(folder)
        meta = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "simulated": bool(config.getoption("--rig-sim")),
            "paths": len(self.results),
        }
        report_results.write(report_dir, self.results, meta)
        report_html.write_pages(report_dir, self.results, meta, report_results.history(report_dir))
