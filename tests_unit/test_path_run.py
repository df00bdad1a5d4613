"""`rig path run` (issue 18 item 3, the exporter host's side) on the simulated lab: the record of one
path is the one `rig matrix` journals (plus the host), a failed path exits 1 with its sentence and
leaves the board recovered and powered, a refused OTA downgrade exits 0, a board another process
holds is one sentence after --claim-timeout, and bad arguments are one sentence and exit 2."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rig.cli import main
from rig.matrix import MatrixPath, write_synthetic_store
from rig.report.results import PathResult
from rig.runner.path import as_planned
from testsupport.benches import FAULTY_BENCH

CLEAN_BENCH = FAULTY_BENCH.replace(", faults: {dfu_error_status: 3}", "")  # the same Photon, on 1.5.2
RIG = [sys.executable, "-c", "import sys, rig.cli; sys.exit(rig.cli.main())"]


def _bench(tmp_path: Path, text: str) -> str:
    path = tmp_path / "devices.yaml"
    path.write_text(text)
    return str(path)


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["path", "run", *args])
    out, err = capsys.readouterr()
    return code, out, err


def _record(out: str) -> dict[str, Any]:
    assert out.count("\n") == 1, out  # exactly one JSON object, on one line
    record: dict[str, Any] = json.loads(out)
    return record


def _without_wall_times(record: dict[str, Any]) -> dict[str, Any]:
    """A record with what depends on the machine's speed taken out: wall times (also in the log)."""
    steps = [{k: v for k, v in s.items() if k != "wall"} for s in record["steps"]]
    log = re.sub(r"wall \d+\.\d+ s", "wall _ s", record["log"])
    return {**record, "wall_seconds": None, "steps": steps, "log": log}


def test_a_path_gives_the_record_rig_matrix_journals_for_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    devices = _bench(tmp_path, CLEAN_BENCH)
    path = ["--from", "2.3.1", "--to", "1.5.2"]  # the board is set up at 2.3.1 first, then the path runs
    code, out, err = _run(capsys, "--sim", "--devices", devices, "--platform", "photon", *path, "--method", "dfu")
    assert code == 0, err
    record = _record(out)
    matrix = subprocess.run(
        [*RIG, "matrix", "--sim", "--devices", devices, "--platforms", "photon", "--methods", "dfu",
         "--from", "2.3.1", "--to", "1.5.2", "-n", "0", "--report", str(tmp_path / "report")],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert matrix.returncode == 0, matrix.stdout[-2000:] + matrix.stderr[-2000:]
    journalled = json.loads((tmp_path / "report" / "results.json").read_text())["results"]
    assert len(journalled) == 1 and journalled[0]["outcome"] == "pass"
    assert record["host"] == socket.gethostname() == journalled[0]["host"]
    assert record["setup_modelled_seconds"] > 0 and len(record["steps"]) > 3
    assert sorted(record) == sorted(journalled[0])  # key for key
    assert _without_wall_times(record) == _without_wall_times(journalled[0])


def test_a_failed_path_exits_1_with_its_sentence_and_the_board_recovered(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    devices = _bench(tmp_path, FAULTY_BENCH)  # the next DFU write fails (errWRITE)
    args = ["--sim", "--devices", devices, "--platform", "photon", "--from", "1.5.2", "--to", "2.3.1"]
    code, out, err = _run(capsys, *args, "--method", "dfu", "--json-out", str(tmp_path / "path.json"))
    assert code == 1, err
    record = _record(out)
    assert record["outcome"] == "fail" and "errWRITE" in record["error"]
    assert record["board_state"] == "dfu mode; hub 1-1 port 3 on"
    assert "board left in: dfu mode; hub 1-1 port 3 on" in record["log"]
    assert json.loads((tmp_path / "path.json").read_text()) == record
    # the board is handed back as the matrix's teardown does: recovered to the newest release, powered
    assert "recovered photon-1 to Device OS 2.3.1: pass; normal mode, Device OS 2.3.1; hub 1-1 port 3\n" in err
    assert f"photon-1.5.2-to-2.3.1-dfu: fail: {record['error']}" in err


def test_a_refused_ota_downgrade_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    devices = _bench(tmp_path, CLEAN_BENCH)
    args = ["--sim", "--devices", devices, "--platform", "photon", "--from", "2.3.1", "--to", "1.5.2"]
    code, out, err = _run(capsys, *args, "--method", "ota")
    assert code == 0, err
    record = _record(out)
    assert record["outcome"] == "refused" and "OTA never downgrades Device OS" in record["error"]
    assert record["steps"] == [] and record["board"] == "photon-1"


def test_a_board_another_process_holds_is_one_sentence_after_the_claim_timeout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real bench (no --sim): its boards are locked in the host's lock folder, which a person's
    command (here another process) holds; nothing touches the board, no record is printed."""
    locks = tmp_path / "locks"
    monkeypatch.setenv("RIG_LOCK_DIR", str(locks))
    write_synthetic_store(tmp_path / "releases", ["photon"])
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys; from pathlib import Path; from rig.clock import SystemClock; from rig.pool import Pool\n"
         f"with Pool(['photon-1'], Path({str(locks)!r})).claim(['photon-1'], SystemClock()):\n"
         "    print('held', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        args = ["--devices", _bench(tmp_path, CLEAN_BENCH), "--releases", str(tmp_path / "releases")]
        path = ["--platform", "photon", "--from", "1.5.2", "--to", "2.3.1", "--method", "dfu"]
        code, out, err = _run(capsys, *args, *path, "--claim-timeout", "0")
    finally:
        holder.communicate("", timeout=60)
    assert code == 1 and out == "", out + err
    assert err == (
        "rig: error: None of photon-1 became free within 0 s: another run or command holds it; wait for that to end.\n"
    )


BAD = {
    "--platform photon --from 1.5.2 --to 2.3.1 --method dfu": "Say which bench: --devices devices.yaml",
    "--sim --platform foo --from 1.5.2 --to 2.3.1 --method dfu": "Unknown platform 'foo': use one of",
    "--sim --platform photon --from 1.5.2 --to 2.3.1 --method bogus": "Unknown method 'bogus': use one of dfu",
    "--sim --platform photon --from 1.5.2 --to 9.9.9 --method dfu": "No release of Device OS 9.9.9 for photon",
    "--sim --platform photon --from 2.3.1 --to 2.3.1 --method dfu": "--from and --to are both 2.3.1: a path goes",
    "--sim --platform photon --from 1.5.2 --to 2.3.1 --method dfu --board nope": "No board named 'nope' in "
    "devices.yaml (boards: photon-1, photon-ota).",
    "--sim --platform photon --from 1.5.2 --to 2.3.1 --method dfu --claim-timeout -1": "--claim-timeout -1: give",
    "--sim --platform photon --from 1.5.2 --to 2.3.1 --method dfu --time-scale -1": "Time scale -1: use 0",
    "--sim --platform photon --from 1.5.2 --to 2.3.1 --method dfu --json-out /nonexistent-folder/p.json": "--json-out "
    "/nonexistent-folder/p.json cannot be written",
}


@pytest.mark.parametrize("args", list(BAD))
def test_bad_arguments_are_one_sentence_and_exit_2(args: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, *args.split())
    assert code == 2 and out == "", out + err
    assert err.startswith("rig: error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert BAD[args] in err


def test_a_board_of_another_platform_and_a_bench_without_releases_are_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    devices = _bench(tmp_path, CLEAN_BENCH)
    path = ["--platform", "boron", "--from", "2.3.1", "--to", "4.0.1", "--method", "dfu"]
    code, _, err = _run(capsys, "--sim", "--devices", devices, *path, "--board", "photon-1")
    assert code == 2 and "--board photon-1 is a photon, not a boron: pick a boron board." in err, err
    code, _, err = _run(capsys, "--sim", "--devices", devices, *path)
    assert code == 2 and "No boron board in devices.yaml: add one or pick another --platform." in err, err
    code, _, err = _run(capsys, "--devices", devices, *path)
    assert code == 2 and "Say which releases to run: --releases DIR" in err, err


def test_only_a_refusal_the_planner_always_makes_is_as_planned() -> None:
    """The matrix's test and `rig path run` judge a record alike: an OTA downgrade refused is as
    planned (exit 0, pytest skip), a refused upgrade is a failure (exit 1, the test fails)."""
    down, up = MatrixPath("photon", "2.3.1", "1.5.2", "ota"), MatrixPath("photon", "1.5.2", "2.3.1", "ota")

    def record(p: MatrixPath, outcome: str) -> PathResult:
        return PathResult(p.id, p.platform, p.from_version, p.to_version, p.method, outcome, "why.")

    assert as_planned(down, record(down, "refused")) and not as_planned(up, record(up, "refused"))
    assert as_planned(up, record(up, "flaky")) and as_planned(up, record(up, "completed-over-the-air"))
    assert not as_planned(up, record(up, "fail")) and not as_planned(up, record(up, "interrupted"))


def test_a_board_quarantined_on_the_host_exits_4_with_its_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client quarantines the place too when the host's command exits 4 (rig/labgrid/remote.py)."""
    from rig.runner.recovery import PROCESS_QUARANTINE

    monkeypatch.setitem(PROCESS_QUARANTINE.failures, "photon-1", PROCESS_QUARANTINE.limit)  # health checks failed
    monkeypatch.setitem(PROCESS_QUARANTINE.reasons, "photon-1", "no USB after a power cycle")
    devices = _bench(tmp_path, FAULTY_BENCH)  # the path fails, the hand-back quarantines the board
    args = ["--sim", "--devices", devices, "--platform", "photon", "--from", "1.5.2", "--to", "2.3.1"]
    code, out, err = _run(capsys, *args, "--method", "dfu")
    assert code == 4, err
    assert _record(out)["outcome"] == "fail"  # the record is still printed, for the client to journal
    assert err.rstrip().endswith("photon-1 is quarantined on this host: no USB after a power cycle")


def _over_ssh(tmp_path: Path, client_stays: bool, *extra: str) -> tuple[int, str, str]:
    """`rig path run --stop-on-eof` as a client's ssh runs it: stdin kept open while the client is
    there (`client_stays`), or at its end from the start (the client gone); exit code, stdout, stderr.
    """
    path = ["--platform", "photon", "--from", "2.3.1", "--to", "1.5.2", "--method", "dfu"]
    command = [*RIG, "path", "run", "--sim", "--devices", _bench(tmp_path, CLEAN_BENCH), *path, "--stop-on-eof", *extra]
    with (tmp_path / "out").open("w") as out, (tmp_path / "err").open("w") as err:
        stdin = subprocess.PIPE if client_stays else subprocess.DEVNULL
        process = subprocess.Popen(command, stdin=stdin, stdout=out, stderr=err)
        try:
            code = process.wait(timeout=300)
        finally:
            if process.stdin is not None:
                process.stdin.close()
    return code, (tmp_path / "out").read_text(), (tmp_path / "err").read_text()


def test_stop_on_eof_stops_the_command_when_its_client_is_gone(tmp_path: Path) -> None:
    """Over ssh the client's agent keeps stdin open; when it ends, stdin ends and the command stops."""
    code, out, err = _over_ssh(tmp_path, False, "--time-scale", "1")  # the path alone takes ~40 s at scale 1
    assert code == 3, out + err  # stopped as on SIGTERM
    assert "SIGTERM" in err


def test_stop_on_eof_lets_a_path_whose_client_stays_end_with_its_record(tmp_path: Path) -> None:
    """stdin open to the end (the client still there): the record and exit 0, no crash at the exit."""
    code, out, err = _over_ssh(tmp_path, True)
    assert code == 0, err
    assert _record(out)["outcome"] == "pass"
