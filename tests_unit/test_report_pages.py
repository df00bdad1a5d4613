"""The morning report (issue 17 item 3): matrix.html opens with the run and its failures as text,
then compact grids; trend.html shows each run and what changed; colours readable (WCAG AA);
`rig matrix` ends with one `path: reason` line per failure.
"""

from __future__ import annotations

import json
from pathlib import Path

from rig.cli.matrix import failure_lines
from rig.report import journal
from rig.report.html import COLOURS, TEXT_COLOURS
from rig.report.html_matrix import failing_step, matrix_page
from rig.report.html_trend import trend_page
from rig.report.publish import HISTORY, write_run
from rig.report.results import OUTCOMES, PathResult, history_entry
from testsupport.reports import ControllerConfig, report_of, text_of

NAMED = [
    {"step": "enter-mode dfu", "wall": 0.01, "clock": 1.5},
    {"step": "failed: flash system-part1 via dfu: errWRITE.", "wall": 0.0, "clock": 4.0,
     "failing": "step 2/3 flash system-part1 via dfu"},
]  # fmt: skip

STEPS = [
    {"step": "enter-mode dfu", "wall": 0.01, "clock": 1.5},
    {"step": "flash system-part1 via dfu", "wall": 0.02, "clock": 9.0},
    {"step": "failed: The board failed to write 0x8020000: errWRITE.", "wall": 0.0, "clock": 0.0},
]


def _luminance(colour: str) -> float:
    channels = [int(colour.lstrip("#")[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    """The WCAG 2 contrast ratio of two #rrggbb colours."""
    light, dark = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def result(path_id: str, outcome: str, error: str | None = None, **kw: object) -> PathResult:
    platform, frm, _to, to, method = path_id.split("-")
    return PathResult(path_id, platform, frm, to, method, outcome, error, "photon-1", **kw)  # type: ignore[arg-type]


def night() -> list[PathResult]:
    return [
        result("photon-1.5.2-to-2.3.1-dfu", "fail", "The board failed to write 0x8020000: errWRITE.",
               steps=STEPS, board_state="dfu mode; hub 1-1 port 3 on", wall_seconds=0.5, modelled_seconds=12.0,
               setup_modelled_seconds=40.0),
        result("photon-2.3.1-to-1.5.2-dfu", "pass", wall_seconds=0.4, modelled_seconds=30.0),
        result("photon-2.3.1-to-1.5.2-ota", "refused", "OTA cannot downgrade"),
        result("photon-1.5.2-to-2.3.1-serial", "flaky", "passed on try 2 of 2 after failing (try 1 failed: timeout)",
               steps=[STEPS[0], {"step": "failed: timeout", "wall": 0, "clock": 0}, STEPS[1]]),
        result("boron-2.3.1-to-4.0.1-usb", "interrupted", "the run was stopped while this path ran"),
    ]  # fmt: skip


META = {
    "time": "2026-12-02T06:00:00",
    "started": "2026-12-02T01:00:00",
    "run": "20261202T010000-1",
    "host": "bench-host-7",
    "bench": "/etc/rig/devices.yaml",
    "wall_seconds": 18000.0,
    "selection": {
        "platforms": "photon,boron",
        "methods": "dfu,serial",
        "from": "",
        "to": "2.3.1",
        "schedule": "circuit",
    },
}


def test_every_outcome_colour_has_text_readable_on_it_wcag_aa() -> None:
    assert set(COLOURS) == set(OUTCOMES) == set(TEXT_COLOURS)
    for outcome in OUTCOMES:
        ratio = contrast(TEXT_COLOURS[outcome], COLOURS[outcome])
        assert ratio >= 4.5, f"{outcome}: {TEXT_COLOURS[outcome]} on {COLOURS[outcome]} is {ratio:.2f}:1"


def test_the_contrast_check_itself() -> None:
    assert round(contrast("#ffffff", "#000000"), 1) == 21.0 and contrast("#777777", "#777777") == 1.0
    assert contrast("#ffffff", "#f9a825") < 4.5  # white on amber: the old over-the-air cell


def test_the_matrix_page_opens_with_the_run_then_the_failures_as_text_then_the_grids() -> None:
    page = matrix_page(night(), META, "runs/20261202T010000-1/logs/")
    text = text_of(page)
    run = text.of("run")
    for fact in ("photon,boron", "dfu,serial", "to 2.3.1", "schedule circuit", "/etc/rig/devices.yaml",
                 "bench-host-7", "2026-12-02T01:00:00", "5 h 00 min"):  # fmt: skip
        assert fact in run, (fact, run)
    assert "5 paths: 1 pass, 1 flaky, 1 fail, 1 refused, 1 interrupted" in text.of("summary")
    assert text.ids.index("failures") < text.ids.index("flaky") < text.ids.index("overview")
    failures = text.of("failures")
    assert "Failures (2)" in failures
    assert "photon-1.5.2-to-2.3.1-dfu" in failures and "boron-2.3.1-to-4.0.1-usb" in failures
    assert "The board failed to write 0x8020000: errWRITE. Board left in: dfu mode; hub 1-1 port 3 on." in failures
    assert "after: flash system-part1 via dfu" in failures  # no failing step named: the last one done
    assert "bench-host-7" in failures and "photon-1" in failures
    assert "passed on try 2" not in failures and "the run was stopped while this path ran" in failures
    assert "passed on try 2 of 2 after failing (try 1 failed: timeout)" in text.of("flaky")
    assert "enter-mode dfu" in text.of("flaky")  # the flaky path's first try stopped after it
    assert "OTA cannot downgrade" not in failures
    # a path's bench time is its set-up and the path itself, said apart; so is the run's
    assert "52 s modelled (set-up 40 s + path 12 s); path 0.5 s wall" in failures
    assert "1 min 22 s (set-up 40.0 s + paths 42.0 s)" in run
    assert "href='runs/20261202T010000-1/logs/photon-1.5.2-to-2.3.1-dfu.txt'>log</a>" in page
    # the overview: one small grid per platform × method, every cell's outcome readable as text
    assert [i for i in text.ids if "-" in i and not i.startswith(("run", "flaky"))] == [
        "boron-usb", "photon-dfu", "photon-ota", "photon-serial",
    ]  # fmt: skip
    assert "FAIL" in text.of("photon-dfu") and "ok" in text.of("photon-dfu") and "stopped" in text.of("boron-usb")
    assert page.count('data-outcome="') == 5 and "display:flex;flex-wrap:wrap" in page


def test_the_failures_list_names_the_step_a_path_failed_in() -> None:
    failed = result("photon-1.5.2-to-2.3.1-dfu", "fail", "errWRITE.", steps=NAMED)
    assert failing_step(failed) == "in: step 2/3 flash system-part1 via dfu"
    assert "in: step 2/3 flash system-part1 via dfu" in text_of(matrix_page([failed], META)).of("failures")


def test_the_failures_list_names_the_host_each_path_ran_on() -> None:
    """A record that names its host (every record `rig matrix` and `rig path run` make now) shows
    that host; an older record without one shows the run's host."""
    remote = result("photon-1.5.2-to-2.3.1-dfu", "fail", "errWRITE.", host="bench-host-2")
    older = result("photon-1.5.2-to-2.3.1-serial", "fail", "timeout.")
    rows = text_of(matrix_page([remote, older], META)).of("failures")
    assert "bench-host-2" in rows and rows.count("bench-host-7") == 1, rows


def test_a_run_without_failures_says_so() -> None:
    text = text_of(matrix_page([result("photon-2.3.1-to-1.5.2-dfu", "pass")], {"simulated": True}))
    assert "No path failed." in text.of("failures") and "flaky" not in text.ids
    assert "simulated lab" in text.of("run")


def test_the_history_line_holds_the_runs_real_wall_time_not_the_sum_of_path_times() -> None:
    entry = history_entry(night(), META)
    assert entry["run_wall_seconds"] == 18000.0 and entry["paths_wall_seconds"] == 0.9
    assert entry["selection"]["to"] == "2.3.1" and entry["fail"] == 1 and entry["flaky"] == 1
    assert entry["modelled_seconds"] == 42.0 and entry["setup_modelled_seconds"] == 40.0
    assert "1 min 22 s (set-up 40.0 s + paths 42.0 s)" in text_of(trend_page([entry])).of("trend")


def _run(report: Path, run_id: str, results: list[PathResult], wall: float) -> Path:
    folder = journal.create_run_folder(report, run_id)
    problems = write_run(report, folder, results, {**META, "run": run_id, "wall_seconds": wall})
    assert problems == []
    return folder


def test_the_trend_page_shows_each_run_newest_first_and_what_changed(tmp_path: Path) -> None:
    report = tmp_path / "report"
    report.mkdir()
    old_line = {"time": "2026-11-30T06:00:00", "paths": 3, "pass": 3, "modelled_seconds": 90.0, "wall_seconds": 2.5}
    (report / HISTORY).write_text(json.dumps(old_line) + "\n")  # written before runs had folders
    first = [result("photon-1.5.2-to-2.3.1-dfu", "pass"), result("photon-2.3.1-to-1.5.2-dfu", "fail", "errWRITE")]
    _run(report, "20261201T010000-1", first, 3600.0)
    second = [result("photon-1.5.2-to-2.3.1-dfu", "fail", "stuck in dfu"), result("photon-2.3.1-to-1.5.2-dfu", "pass"),
              result("photon-1.5.2-to-2.3.1-usb", "fail", "new path, failing")]  # fmt: skip
    folder = _run(report, "20261202T010000-2", second, 7260.0)
    page = (report / "trend.html").read_text()
    text = text_of(page)
    assert text.ids.index("changes") < text.ids.index("trend")
    assert "Since the previous run (20261201T010000-1)" in text.of("changes")
    failing, passing = text.of("newly-failing"), text.of("newly-passing")
    assert "photon-1.5.2-to-2.3.1-dfu: pass → fail" in failing
    assert "photon-1.5.2-to-2.3.1-usb: not in that run → fail" in failing
    assert "photon-2.3.1-to-1.5.2-dfu: fail → pass" in passing and "2.3.1-to-1.5.2" not in failing
    assert "href='runs/20261202T010000-2/logs/photon-1.5.2-to-2.3.1-dfu.txt'" in page
    rows = page.split("<tr class='run'>")[1:]
    assert len(rows) == 3
    assert "runs/20261202T010000-2/matrix.html" in rows[0] and "2 h 01 min" in rows[0] and "2 fail" in rows[0]
    assert "runs/20261201T010000-1/matrix.html" in rows[1] and "1 h 00 min" in rows[1]
    assert "not recorded" in rows[2] and "3 pass" in rows[2]  # the old line: no wall time of the run, no link
    assert "1 min 30 s (paths only; set-ups not recorded)" in rows[2]
    assert "(set-up 0.0 s + paths 0.0 s)" in rows[0]  # a run's modelled bench time: set-ups and paths
    assert "to 2.3.1" in rows[0]
    # the run folder's own copy links to its sibling folders
    assert "href='../20261201T010000-1/matrix.html'" in (folder / "trend.html").read_text()


def test_a_resumed_run_is_one_row_of_the_trend_with_its_final_counts(tmp_path: Path) -> None:
    report = tmp_path / "report"
    _run(report, "20261201T010000-1", [result("photon-1.5.2-to-2.3.1-dfu", "pass")], 60.0)
    run_id, paths = "20261202T010000-2", ["photon-1.5.2-to-2.3.1-dfu", "photon-2.3.1-to-1.5.2-dfu"]
    folder = _run(report, run_id, [result(paths[0], "pass"), result(paths[1], "not-run")], 600.0)  # stopped
    resumed = {**META, "run": run_id, "wall_seconds": 120.0, "started": "2026-12-02T08:00:00"}
    write_run(report, folder, [result(paths[0], "pass"), result(paths[1], "fail", "x")], resumed)  # the same folder
    for page in ((report / "trend.html").read_text(), (folder / "trend.html").read_text()):
        rows = page.split("<tr class='run'>")[1:]
        assert len(rows) == 2 and sum(run_id in row for row in rows) == 1, rows
        assert "1 pass" in rows[0] and "1 fail" in rows[0] and "not-run" not in rows[0]  # its final counts
        assert "12 min 00 s" in rows[0] and "2026-12-02T01:00:00" in rows[0]  # both sessions, from the first start
        assert "20261201T010000-1" in rows[1]


def test_a_missing_previous_run_folder_is_said_not_an_error(tmp_path: Path) -> None:
    report = tmp_path / "report"
    _run(report, "20261201T010000-1", [result("photon-1.5.2-to-2.3.1-dfu", "pass")], 10.0)
    journal.remove_tree(report / "runs" / "20261201T010000-1")
    _run(report, "20261202T010000-2", [result("photon-1.5.2-to-2.3.1-dfu", "fail", "x")], 10.0)
    changes = text_of((report / "trend.html").read_text()).of("changes")
    assert "Nothing to compare: the results of the previous run 20261201T010000-1 could not be read." in changes


def test_the_first_run_has_nothing_to_compare_with(tmp_path: Path) -> None:
    _run(tmp_path / "r", "20261201T010000-1", [result("photon-1.5.2-to-2.3.1-dfu", "pass")], 10.0)
    assert "Nothing to compare: no earlier run." in text_of((tmp_path / "r" / "trend.html").read_text()).of("changes")


def test_rig_matrix_ends_with_one_line_per_failure() -> None:
    assert failure_lines(night()) == [
        "Failed paths (2):",
        "boron-2.3.1-to-4.0.1-usb: the run was stopped while this path ran",
        "photon-1.5.2-to-2.3.1-dfu: The board failed to write 0x8020000: errWRITE.",
        "Flaky paths (1):",
        "photon-1.5.2-to-2.3.1-serial: passed on try 2 of 2 after failing (try 1 failed: timeout)",
    ]
    assert failure_lines([result("photon-2.3.1-to-1.5.2-dfu", "pass")]) == []


def test_a_refused_path_skipped_in_pytest_is_still_recorded_refused_and_does_not_fail_the_run(tmp_path: Path) -> None:
    from rig.cli.matrix import exit_code
    from rig.matrix import MatrixPath
    from rig.report.collect import RESULT_KEY, ResultCollector, path_property

    collector = ResultCollector(ControllerConfig(tmp_path))  # type: ignore[arg-type]
    collector.pytest_sessionstart(None)  # type: ignore[arg-type]
    refused = result("photon-2.3.1-to-1.5.2-ota", "refused", "OTA never downgrades Device OS")
    mark = path_property(MatrixPath.from_id(refused.id))  # type: ignore[arg-type]
    skip = ("f.py", 44, "Skipped: refused: OTA never downgrades Device OS")  # pytest.skip in the call phase
    collector.pytest_runtest_logreport(
        report_of("n0", "call", "skipped", [mark, (RESULT_KEY, json.dumps(refused.__dict__))], skip)
    )
    collector.pytest_sessionfinish(None, 0)  # type: ignore[arg-type]
    [recorded] = journal.journal(collector.run_folder)  # type: ignore[arg-type]
    assert (recorded.outcome, recorded.error) == ("refused", "OTA never downgrades Device OS")
    assert exit_code([recorded, result("photon-1.5.2-to-2.3.1-dfu", "pass")], 0) == 0
