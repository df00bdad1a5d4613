"""A night is never lost: each run in its own folder, every path journalled as it ends, a final
record for every selected path whatever ends the run (issue 16; layout in rig/report/journal.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rig.matrix import MatrixPath
from rig.report import collect, journal
from rig.report.collect import PATH_KEY, RESULT_KEY, ResultCollector, path_property
from rig.report.publish import write_run
from rig.report.results import PathResult
from rig.sim import host_programs
from testsupport.reports import ControllerConfig, report_of

RIG = Path(sys.executable).parent / "rig"
EXIT_INTERRUPTED = 3


# SIGINT as a terminal's Ctrl-C delivers it: a shell script's background job (as CI runs the tests)
# inherits it ignored, and Python then leaves it ignored (POSIX), which the rig respects; SIGHUP
# likewise for a run under nohup.
FROM_A_TERMINAL = [
    sys.executable,
    "-c",
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "signal.signal(signal.SIGHUP, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])",
]


def matrix(report: Path, temporary: Path, *extra: str) -> subprocess.Popen[str]:
    """`rig matrix --sim` for Boron over dfu, serial and usb (18 paths), in its own process group,
    with its temporary files in `temporary` (a killed run cannot remove its simulated lab's).
    """
    command = [str(RIG), "matrix", "--sim", "--platforms", "boron", "--methods", "dfu", "serial", "usb"]
    return subprocess.Popen(
        [*FROM_A_TERMINAL, *command, "--report", str(report), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        env={**os.environ, "TMPDIR": str(temporary), "PYTHONFAULTHANDLER": "1"},  # SIGABRT dumps every thread
    )


def ended(process: subprocess.Popen[str], within: float = 300) -> str:
    """The output of a run that was stopped, once it ended; a run still going after `within` s (a hang)
    is aborted and the test fails with every thread's stack of it (faulthandler).
    """
    try:
        return process.communicate(timeout=within)[0]
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGABRT)
        out = process.communicate(timeout=60)[0]
        raise AssertionError(f"the stopped run did not end within {within:g} s; its threads:\n{out[-12000:]}") from None


def wait_for_journal(report: Path, lines: int, process: subprocess.Popen[str], within: float = 600) -> Path:
    """The run folder once its journal holds `lines` paths (a generous bound: only a hang reaches it)."""
    end = time.monotonic() + within
    while time.monotonic() < end:
        for folder in (report / "runs").glob("*"):
            done = (folder / journal.JOURNAL).read_text().splitlines() if (folder / journal.JOURNAL).exists() else []
            if len(done) >= lines:
                return folder
        assert process.poll() is None, "the run ended before it was stopped"
        time.sleep(0.2)
    raise AssertionError(f"no {lines} journalled paths within {within:g} s")


@pytest.mark.parametrize(
    ("signum", "workers"), [(signal.SIGTERM, "2"), (signal.SIGHUP, "0"), (signal.SIGINT, "0"), (signal.SIGTERM, "0")]
)
def test_a_stopped_run_keeps_what_finished_and_names_the_rest(
    tmp_path: Path, short_tmp: Path, signum: signal.Signals, workers: str
) -> None:
    report = tmp_path / "report"
    process = matrix(report, short_tmp, "-n", workers)
    run = wait_for_journal(report, 2, process)
    before = {r.id: r.outcome for r in journal.journal(run)}
    os.killpg(process.pid, signum)
    out = ended(process)
    assert process.returncode == EXIT_INTERRUPTED, out[-3000:]
    results = json.loads((run / "results.json").read_text())["results"]
    seen = f"{out[-3000:]}\n{[(r['id'], r['outcome'], r['error']) for r in results]}"  # what a failure shows
    ids = [r["id"] for r in results]
    assert len(ids) == len(set(ids)) == 18, seen  # every selected path exactly once
    by_id = {r["id"]: r for r in results}
    assert all(by_id[i]["outcome"] == outcome for i, outcome in before.items()), (before, seen)  # nothing lost
    unfinished = [r for r in results if r["outcome"] in ("interrupted", "not-run")]
    assert unfinished and all("stopped" in r["error"] for r in unfinished), seen
    assert [r.id for r in journal.journal(run)].count(ids[0]) == 1, seen
    history = json.loads((report / "history.jsonl").read_text())
    assert (report / "latest").resolve() == run, seen
    assert history["interrupted"] + history["not-run"] == len(unfinished), (history, seen)
    assert host_programs.summary() in out, seen  # its programs as here: the real ones where this host has them
    left = [p.name for p in [*short_tmp.glob("rig-*"), *short_tmp.glob("umockdev.*")]]  # not pytest's basetemp
    assert not left, (left, seen)  # the simulated lab's folders (and its USB bus's) went with the run


def test_a_killed_run_keeps_its_journal(tmp_path: Path, short_tmp: Path) -> None:
    report = tmp_path / "report"
    process = matrix(report, short_tmp)
    run = wait_for_journal(report, 2, process)
    os.killpg(process.pid, signal.SIGKILL)
    process.communicate(timeout=60)
    kept = journal.journal(run)
    assert len(kept) >= 2 and all(r.outcome in ("pass", "fail", "refused") for r in kept)


def test_two_runs_never_touch_each_others_files(tmp_path: Path, short_tmp: Path) -> None:
    report = tmp_path / "report"
    first = matrix(
        report, short_tmp, "--from", "2.3.1", "--to", "4.0.1", "-n", "0"
    )  # no xdist: the folders are the point
    assert first.wait(600) == 0, first.communicate()[0][-2000:]
    run1 = (report / "latest").resolve()
    kept = (run1 / "results.json").read_bytes()
    second = matrix(report, short_tmp, "--from", "4.0.1", "--to", "2.3.1", "-n", "0")
    assert second.wait(600) == 0, second.communicate()[0][-2000:]
    run2 = (report / "latest").resolve()
    assert run1 != run2 and (run1 / "results.json").read_bytes() == kept
    assert (report / "results.json").read_bytes() == (run2 / "results.json").read_bytes()
    history = [json.loads(line) for line in (report / "history.jsonl").read_text().splitlines()]
    assert [h["run"] for h in history] == [run1.name, run2.name]


def test_a_second_run_id_is_refused(tmp_path: Path) -> None:
    journal.create_run_folder(tmp_path, "same")
    with pytest.raises(Exception, match="exists already"):
        journal.create_run_folder(tmp_path, "same")


def result(path_id: str, outcome: str = "pass") -> PathResult:
    path = MatrixPath.from_id(path_id)
    assert path is not None
    return PathResult(path.id, path.platform, path.from_version, path.to_version, path.method, outcome, log="log\n")


def test_one_file_that_cannot_be_written_does_not_lose_the_others(tmp_path: Path) -> None:
    run = journal.create_run_folder(tmp_path, "r1")
    (run / "results.json").mkdir()  # a full disk or a planted folder: this one write fails
    (tmp_path / "history.jsonl").write_text('{"time": "t0", "paths": 1}\n{"time": "t1", "pa\n')
    problems = write_run(tmp_path, run, [result("boron-2.3.1-to-4.0.1-dfu")], {"time": "t2", "run": "r1"})
    assert any("results.json" in p for p in problems) and any("line 2 is damaged" in p for p in problems)
    assert (run / "matrix.html").is_file() and (tmp_path / "results.json").is_file()
    assert (run / "logs" / "boron-2.3.1-to-4.0.1-dfu.txt").read_text() == "log\n"
    trend = (run / "trend.html").read_text()
    assert "t0" in trend and "t2" in trend  # the damaged line skipped, the others kept


def test_every_selected_path_gets_a_record_whatever_ended_it(tmp_path: Path) -> None:
    collector = ResultCollector(ControllerConfig(tmp_path))  # type: ignore[arg-type]
    collector.pytest_sessionstart(None)  # type: ignore[arg-type]
    ids = [f"boron-2.3.1-to-4.0.1-{m}" for m in ("dfu", "serial", "usb", "ota", "restore")]
    collector.pytest_xdist_node_collection_finished(None, [f"rig/hil/test_matrix.py::test_path[{i}]" for i in ids])
    marks = {i: path_property(MatrixPath.from_id(i)) for i in ids}  # type: ignore[arg-type]
    ok = json.dumps(result(ids[0]).__dict__)
    collector.pytest_runtest_logreport(report_of("n0", "call", "passed", [marks[ids[0]], (RESULT_KEY, ok)]))
    crash = ("f.py", 1, "rig.runner.prepare.PrepareError: the board never came back")
    collector.pytest_runtest_logreport(report_of("n1", "setup", "failed", [marks[ids[1]]], crash))
    collector.pytest_runtest_logreport(
        report_of("n2", "setup", "skipped", [marks[ids[2]]], ("f", 1, "Skipped: no board"))
    )
    collector.pytest_runtest_logstart(f"x::test_path[{ids[3]}]", ("f", 1, "t"))
    collector.pytest_sessionfinish(None, pytest.ExitCode.INTERRUPTED)  # type: ignore[arg-type]
    outcomes = {r.id: (r.outcome, r.error) for r in journal.journal(collector.run_folder)}  # type: ignore[arg-type]
    assert outcomes[ids[0]][0] == "pass"
    assert outcomes[ids[1]][0] == "fail" and "never came back" in str(outcomes[ids[1]][1])
    assert outcomes[ids[2]] == ("skipped", "no board")
    assert outcomes[ids[3]][0] == "interrupted" and outcomes[ids[4]][0] == "not-run"
    assert len(json.loads((tmp_path / "results.json").read_text())["results"]) == 5


def test_a_path_that_fails_while_the_run_stops_is_interrupted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A tool killed by the same signal fails the path; that failure is the stop's, not the board's."""
    monkeypatch.setattr(collect, "STOPPED_BY", ["SIGTERM"])
    collector = ResultCollector(ControllerConfig(tmp_path))  # type: ignore[arg-type]
    collector.pytest_sessionstart(None)  # type: ignore[arg-type]
    failed = result("boron-2.3.1-to-4.0.1-usb", "fail")
    failed.error = "uhubctl -l 1-1 -p 2 -a on failed: killed."
    collector.pytest_runtest_logreport(report_of("n", "call", "failed", [(RESULT_KEY, json.dumps(failed.__dict__))]))
    [kept] = journal.journal(collector.run_folder)  # type: ignore[arg-type]
    assert kept.outcome == "interrupted" and kept.error.startswith("the run was stopped (SIGTERM) while this path ran")


@pytest.mark.parametrize(
    "path",
    [
        MatrixPath("boron", "2.0.0-rc.1", "4.0.1-rc.2", "dfu-util"),
        MatrixPath("b5som", "4.0.1", "2.2.0", "particle-update@3.6.0"),
        MatrixPath("electron", "1.5.2", "2.3.1", "particle-cli"),
    ],
)
def test_a_path_id_reads_back_as_its_path(path: MatrixPath) -> None:
    assert MatrixPath.from_id(path.id) == path
    assert MatrixPath.from_id("test_other_thing") is None and MatrixPath.from_id("boron-1-to-2-jtag") is None
    assert path_property(path)[0] == PATH_KEY


def test_resume_completes_a_stopped_run_with_every_path_once(tmp_path: Path, short_tmp: Path) -> None:
    report = tmp_path / "report"
    process = matrix(report, short_tmp, "-n", "0")
    run = wait_for_journal(report, 3, process)
    os.killpg(process.pid, signal.SIGTERM)
    ended(process)
    finished = {r.id: r for r in journal.journal(run) if r.outcome in ("pass", "fail", "refused")}
    again = subprocess.run(
        [str(RIG), "matrix", "--resume", str(report)], capture_output=True, text=True, timeout=600, check=False
    )
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-2000:]
    results = json.loads((run / "results.json").read_text())["results"]
    assert sorted(r["id"] for r in results) == sorted({r["id"] for r in results}) and len(results) == 18
    assert all(r["outcome"] in ("pass", "refused") for r in results)
    by_id = {r["id"]: r for r in results}
    assert all(by_id[i]["wall_seconds"] == r.wall_seconds for i, r in finished.items())  # kept, not run again
    assert [p.name for p in (report / "runs").iterdir()] == [run.name]  # the same run, completed
    assert (report / "trend.html").read_text().count(f"runs/{run.name}/matrix.html") == 1  # one row, not two


def test_rerun_failed_runs_only_the_failed_paths_in_a_new_run(tmp_path: Path) -> None:
    report = tmp_path / "report"
    done = subprocess.run(
        [str(RIG), "matrix", "--sim", "--platforms", "boron", "--methods", "dfu", "--from", "2.3.1", "-n", "0",
         "--report", str(report)],  # no xdist (the rerun keeps the selection): which paths run again is the point
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:]
    first = (report / "latest").resolve()
    records = journal.journal(first)
    records[0].outcome, records[0].error = "fail", "a fault on the bench"
    (first / journal.JOURNAL).write_text("".join(json.dumps(r.__dict__) + "\n" for r in records))
    again = subprocess.run(
        [str(RIG), "matrix", "--rerun-failed", str(first), "--report", str(report)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-2000:]
    second = (report / "latest").resolve()
    assert second != first
    assert [(r.id, r.outcome) for r in journal.journal(second)] == [(records[0].id, "pass")]
    assert journal.latest(first)[records[0].id].outcome == "fail"  # the first run's record is left as it was
    other = subprocess.run(
        [str(RIG), "matrix", "--resume", str(first), "--methods", "serial", "--retries", "2"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert other.returncode == 2 and other.stderr == (
        f"rig: error: {first.name} runs again with its own selection: leave out --methods (it ran with ['dfu']), "
        "--retries (it ran with 0).\n"
    ), other.stderr


STUCK_PHOTON = """devices:
  - name: photon-1
    platform: photon
    device_id: 3a0027000547343233323032
    hub: {location: "1-1", port: 3}
    sim: {device_os: 1.5.2, faults: {stuck: true}}
"""


def test_a_stuck_board_shows_every_failed_path_in_results_matrix_and_history(tmp_path: Path) -> None:
    """The board never comes back after a reset: its first path fails, it is quarantined, and every
    later path fails at once; none of them is hidden, each with its sentence."""
    (tmp_path / "bench.yaml").write_text(STUCK_PHOTON)
    report = tmp_path / "report"
    done = subprocess.run(
        [str(RIG), "matrix", "--sim", "--devices", str(tmp_path / "bench.yaml"), "--methods", "dfu", "serial", "usb",
         "-n", "0", "--report", str(report)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-2000:]
    results = json.loads((report / "results.json").read_text())["results"]
    assert len(results) == 6 and {r["outcome"] for r in results} == {"fail"}
    errors = [r["error"] for r in results]
    assert sum("is quarantined (photon-1 could not be put in dfu mode" in e for e in errors) >= 3, errors
    assert not any(e.startswith(("Failed: ", "rig.")) for e in errors), errors  # the sentence, not the wrapping
    page = (report / "matrix.html").read_text()
    assert all(r["id"] in page for r in results) and "photon" in page
    history = json.loads((report / "history.jsonl").read_text().splitlines()[-1])
    assert (history["paths"], history["fail"], history["pass"]) == (6, 6, 0)


SWALLOWED = """
import os
import signal


class Finalized:
    def __del__(self):
        os.kill(os.getpid(), signal.SIGTERM)  # the handler runs inside this finalizer ...
        for _ in range(10_000):  # ... at the next bytecode, where Python ignores what it raises
            pass


def test_first():
    Finalized()


def test_second():
    pass
"""


def test_a_signal_whose_interrupt_a_finalizer_swallowed_still_stops_the_run(tmp_path: Path) -> None:
    """Seen in CI: SIGTERM landed in pyusb's __del__ during garbage collection, Python printed
    'Exception ignored' and the night went on to the end. The next test must not start."""
    (tmp_path / "test_swallowed.py").write_text(SWALLOWED)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0", "-rA", str(tmp_path)],
        capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert "Exception ignored in" in done.stdout + done.stderr, done.stdout[-2000:]  # it was swallowed ...
    assert done.returncode == int(pytest.ExitCode.INTERRUPTED), done.stdout[-2000:]  # ... and the run stopped
    assert "PASSED test_swallowed.py::test_first" in done.stdout and "test_second" not in done.stdout
