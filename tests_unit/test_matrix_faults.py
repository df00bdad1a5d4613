"""`rig matrix` and the plugin when paths fail on the simulated lab: the board's state in the report,
retries (flaky / failed every try), the watchdog over tests and fixtures, quarantine."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

from testsupport.benches import FAULTY_BENCH

ROOT = Path(__file__).resolve().parent.parent
PYTEST = [sys.executable, "-m", "pytest", str(ROOT / "tests_hil"), "-p", "no:cacheprovider"]


def test_a_failed_path_reports_the_board_state_and_leaves_the_board_usable(tmp_path: Path) -> None:
    bench = tmp_path / "bench.yaml"
    bench.write_text(FAULTY_BENCH)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(ROOT / "tests_hil" / "test_matrix.py"),
            "--rig-sim",
            "--rig-devices",
            str(bench),
            "--rig-methods",
            "dfu",
            "--rig-from",
            "1.5.2",
            "--rig-to",
            "2.3.1",
            "-p",
            "no:cacheprovider",
            "-q",
            "-n",
            "0",
            "-rA",
            f"--junitxml={tmp_path / 'junit.xml'}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 1 and "1 failed" in done.stdout, done.stdout[-3000:]
    assert "errWRITE" in done.stdout and "board left in: dfu mode; hub 1-1 port 3 on" in done.stdout
    # the teardown brought the board back to the newest release, so the bench is usable the next morning
    assert "recovered photon-1 to Device OS 2.3.1: pass; normal mode, Device OS 2.3.1; hub 1-1 port 3\n" in done.stdout
    junit = (tmp_path / "junit.xml").read_text()
    assert '<property name="board_state" value="dfu mode; hub 1-1 port 3 on"' in junit


def test_a_path_that_fails_then_passes_on_a_retry_is_flaky_never_pass(tmp_path: Path) -> None:
    """The DFU error comes once: with --retries 1 the path passes on its second try and is reported
    flaky, with both tries' time and logs; `rig matrix` still exits 0 and counts it apart."""
    bench = tmp_path / "bench.yaml"
    bench.write_text(FAULTY_BENCH)
    done = subprocess.run(
        [str(Path(sys.executable).parent / "rig"), "matrix", "--sim", "--devices", str(bench), "--methods", "dfu",
         "--from", "1.5.2", "--to", "2.3.1", "-n", "0", "--retries", "1", "--report", str(tmp_path / "report")],
        capture_output=True, text=True, timeout=300, check=False, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    [result] = json.loads((tmp_path / "report" / "results.json").read_text())["results"]
    assert result["outcome"] == "flaky", result
    assert (
        result["error"].startswith("passed on try 2 of 2 after failing (try 1 failed: ")
        and "errWRITE" in result["error"]
    )
    assert "--- try 1 of 2: fail ---" in result["log"] and "--- try 2 of 2: pass ---" in result["log"]
    assert result["setup_modelled_seconds"] > 0  # the second try set the board up again first
    assert re.search(r"│ photon\s*│ dfu\s*│ 1\s*│ 0\s*│ 0\s*│ 1\s*│ 0", done.stdout), done.stdout  # the flaky column
    setup, path = round(result["setup_modelled_seconds"]), round(result["modelled_seconds"])
    assert f"│ {round(result['setup_modelled_seconds'] + result['modelled_seconds'])} ({setup} + {path})" in done.stdout
    page = (tmp_path / "report" / "matrix.html").read_text()
    assert 'data-outcome="flaky"' in page and "1 flaky" in page


def test_a_path_that_fails_every_try_keeps_every_try_and_a_failed_set_up_is_a_try(tmp_path: Path) -> None:
    """A board that never comes back: the first try fails in the path, the second in its set-up; the
    record is `fail`, names both tries' failures, and keeps both tries' logs."""
    bench = tmp_path / "bench.yaml"
    bench.write_text(FAULTY_BENCH.replace("dfu_error_status: 3", "stuck: true"))
    done = subprocess.run(
        [str(Path(sys.executable).parent / "rig"), "matrix", "--sim", "--devices", str(bench), "--methods", "dfu",
         "--from", "1.5.2", "--to", "2.3.1", "-n", "0", "--retries", "1", "--report", str(tmp_path / "report")],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-2000:]
    [result] = json.loads((tmp_path / "report" / "results.json").read_text())["results"]
    assert result["outcome"] == "fail" and result["error"].startswith("failed all 2 tries (try 1 failed: "), result
    assert "try 2 failed: photon-1 could not be brought to photon 1.5.2" in result["error"], result["error"]
    assert result["setup_modelled_seconds"] > 60  # the failed set-up's time is bench time too (its waits)
    assert "--- try 1 of 2: fail ---" in result["log"] and "--- try 2 of 2: fail ---" in result["log"]


HANGING_FIXTURES = """
import threading

import pytest

pytestmark = [pytest.mark.hil, pytest.mark.rig_platform("boron")]


@pytest.fixture
def hangs_in_setup(board):
    board.power.switch(False)  # the port is off when the fixture hangs
    threading.Event().wait(120)
    yield board


@pytest.fixture
def hangs_in_teardown(board):
    yield board
    board.power.switch(False)
    threading.Event().wait(120)


def test_setup_hangs(hangs_in_setup):
    pass


def test_teardown_hangs(hangs_in_teardown):
    pass


def test_the_board_is_free_and_on_after_both(board):
    assert board.present()
"""

ONE_BORON = """devices:
  - name: boron-1
    platform: boron
    device_id: e00fce68a1b2c3d4e5f60718
    hub: {location: "1-1", port: 2}
    sim: {device_os: 4.0.1}
"""


HANGING_PATH = """
import threading

import pytest

pytestmark = pytest.mark.hil


def test_path(rig_path, rig_try):
    threading.Event().wait(120)  # the try never ends: a bug in a test, or a wait without a timeout
"""


def test_the_watchdog_ends_a_hanging_try_names_the_board_it_held_and_leaves_it_usable(tmp_path: Path) -> None:
    (tmp_path / "bench.yaml").write_text(ONE_BORON)
    (tmp_path / "test_hang_path.py").write_text(HANGING_PATH)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(tmp_path / "test_hang_path.py"), "--rig-sim",
         "--rig-devices", str(tmp_path / "bench.yaml"), "--rig-path-timeout", "2", "--rig-methods", "dfu",
         "--rig-from", "2.3.1", "--rig-to", "4.0.1", "--rig-report", str(tmp_path / "report"),
         "-p", "no:cacheprovider", "-q", "-n", "0", "-rA"],
        capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1 and "Timeout (>2.0s) from pytest-timeout" in done.stdout, done.stdout[-3000:]
    assert "board left in normal mode, Device OS 4.0.1; hub 1-1 port 2 on" in done.stdout, done.stdout[-3000:]
    [result] = json.loads((tmp_path / "report" / "results.json").read_text())["results"]
    assert result["outcome"] == "fail" and "Timeout" in result["error"], result
    assert result["board"] == "boron-1" and result["host"] == socket.gethostname(), result  # where it hung


def _on_one_boron(tmp_path: Path, name: str, tests: str, path_timeout: str) -> subprocess.CompletedProcess[str]:
    """Run the test file `tests` (as `name`) in pytest of its own on a simulated bench of one Boron."""
    (tmp_path / name).write_text(tests)
    (tmp_path / "bench.yaml").write_text(ONE_BORON)
    return subprocess.run(
        [sys.executable, "-m", "pytest", str(tmp_path / name), "--rig-sim",
         "--rig-devices", str(tmp_path / "bench.yaml"), "--rig-path-timeout", path_timeout,
         "-p", "no:cacheprovider", "-q", "-n", "0", "-rA"],
        capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path,
    )  # fmt: skip


def test_the_watchdog_also_ends_a_fixture_that_hangs_in_set_up_or_teardown(tmp_path: Path) -> None:
    # 4 s: the watchdog must cut the fixtures' 120 s hangs, not the claim and the uhubctl call before
    # them on a loaded machine (the test is about the fixtures)
    done = _on_one_boron(tmp_path, "test_fixtures_hang.py", HANGING_FIXTURES, path_timeout="4")
    out = done.stdout
    # one traceback per hung fixture (the summary lines below may or may not repeat the reason: terminal width)
    tracebacks = [line for line in out.splitlines() if line.startswith("E ") and "Timeout (>4.0s)" in line]
    assert done.returncode == 1 and len(tracebacks) == 2, out[-3000:]
    assert "ERROR test_fixtures_hang.py::test_setup_hangs" in out
    assert "ERROR test_fixtures_hang.py::test_teardown_hangs" in out
    # the one board was released with its port on both times: the last test claims it and finds it on USB
    assert "PASSED test_fixtures_hang.py::test_the_board_is_free_and_on_after_both" in out, out[-3000:]


def test_a_dead_board_is_quarantined_and_later_paths_fail_fast(tmp_path: Path) -> None:
    bench = tmp_path / "bench.yaml"
    bench.write_text(FAULTY_BENCH.replace("dfu_error_status: 3", "stuck: true"))  # never comes back after a reset
    done = subprocess.run(
        [*PYTEST, "--rig-sim", "--rig-devices", str(bench), "--rig-methods", "dfu,serial,usb",
         "--rig-lock-dir", str(tmp_path / "locks"), "-q", "-n", "0", "-rA", "-k", "test_path"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    out = done.stdout
    assert done.returncode == 1 and "2 failed" in out and "4 errors" in out, out[-3000:]
    assert "failed 3 health checks" in out and "and is quarantined" in out
    assert out.count("ERROR tests_hil/test_matrix.py::test_path") == 4  # no more time spent on the dead board
    assert "photon-1 is quarantined (photon-1 could not be put in dfu mode" in out
    marker = re.search(r"fix the board, then delete (\S+/board-photon-1\.quarantined)\.", out)
    assert marker is not None and "did not come back on USB" in out
    # a simulated bench keeps its locks in a private folder, removed at the end: nothing in the shared one
    assert "rig-sim-locks-" in marker.group(1) and not Path(marker.group(1)).parent.exists()
    assert not list((tmp_path / "locks").glob("**/board-*"))


TRIES = """
import threading

import pytest

pytestmark = [pytest.mark.hil, pytest.mark.rig_platform("boron")]


def test_three_slow_tries(board, rig_new_try):
    threading.Event().wait(2.0)  # a try well inside its watchdog of 4 s ...
    for _ in range(2):
        rig_new_try()
        threading.Event().wait(2.0)  # ... and so is each further one, though the three take 6 s
"""


def test_each_try_has_the_whole_watchdog_of_its_own(tmp_path: Path) -> None:
    done = _on_one_boron(tmp_path, "test_tries.py", TRIES, path_timeout="4")
    assert done.returncode == 0 and "PASSED test_tries.py::test_three_slow_tries" in done.stdout, done.stdout[-3000:]


TIMERS = """
import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_timeout_set_timer(item, settings):
    with open("timers.txt", "a") as out:
        out.write(f"{item.nodeid} {settings.timeout}\\n")
"""  # counts the watchdog's timers, and leaves setting them to pytest-timeout


def test_the_matrix_starts_the_watchdog_over_for_every_retry(tmp_path: Path) -> None:
    """The DFU error comes once: the path's second try starts the watchdog over, so four timers
    are set (set-up, the call, the second try, teardown) where one try has three."""
    bench = tmp_path / "bench.yaml"
    bench.write_text(FAULTY_BENCH)
    (tmp_path / "timers.py").write_text(TIMERS)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(ROOT / "tests_hil" / "test_matrix.py"), "--rig-sim", "--rig-devices",
         str(bench), "--rig-methods", "dfu", "--rig-from", "1.5.2", "--rig-retries", "1", "--rig-path-timeout", "600",
         "--rig-report", str(tmp_path / "report"), "-p", "timers", "-p", "no:cacheprovider", "-q", "-n", "0"],
        capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])},
    )  # fmt: skip
    assert done.returncode == 0 and "1 passed" in done.stdout, done.stdout[-3000:]
    [result] = json.loads((tmp_path / "report" / "results.json").read_text())["results"]
    assert result["outcome"] == "flaky", result  # it took two tries
    timers = (tmp_path / "timers.txt").read_text().splitlines()
    assert timers == ["tests_hil/test_matrix.py::test_path[photon-1.5.2-to-2.3.1-dfu] 600.0"] * 4, timers
