"""The fault matrix (issue 8): every cell runs a real path (Photon 1.5.2 -> 2.3.1, some cells Boron
2.2.0 -> 4.0.1; real binaries)
on the simulated lab with one fault armed at one stage, then checks what a nightly run needs:
bounded simulated time, the named error (or a pass where the rig's ladder gets round the fault),
a reported board state that is the real one, the hub port powered, no lock left held, the serial
log and step timings up to the fault in the report; then, with the fault gone, the next claimant
gets the board through the recovery ladder (power cycle -> DFU -> restore) and it is healthy.
The matrix is printed at the end of the run and kept in docs/faults.md.
"""

from __future__ import annotations

import fcntl
import json
import subprocess
import sys
from pathlib import Path

import pytest

from rig.clock import SystemClock
from rig.device import Device
from rig.firmware.release import ReleaseStore
from rig.plan import plan
from rig.pool import Pool
from rig.report import journal
from rig.report import results as report
from rig.report.publish import write_run
from rig.runner import FAIL, PASS, Runner, RunResult, installed
from rig.runner.prepare import ensure_release, leave_usable, take_over
from rig.runner.recovery import Quarantine, health_check, recover
from rig.sim.board import Board, Faults, Mode
from rig.sim.lab import Lab
from testsupport.devices import board_and_device
from testsupport.fault_cells import CELLS, NEW, OLD, PLATFORM, RECOVERY, Cell
from testsupport.fault_table import expected_rows, matrix_table

BOUND = 30 * 60  # simulated seconds: far above any path, far below a hung night
STATE_OF = {  # what the report must say for the board's real (simulated) mode
    Mode.OFF: "off (not on USB)",
    Mode.BOOTING: "off (not on USB)",
    Mode.DEAD: "off (not on USB)",
    Mode.DFU: "dfu mode",
    Mode.NORMAL: "normal mode",
    Mode.SAFE: "safe mode",
    Mode.LISTENING: "listening mode",
    Mode.SAFE_LISTENING: "listening mode",
}


def lock_is_free(pool: Pool, name: str) -> bool:
    """True when nobody holds the board's lock file (a fresh open file description can flock it)."""
    with open(pool.folder / f"board-{name}.lock", "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(handle, fcntl.LOCK_UN)
        return True


def break_board(lab: Lab, board: Board) -> None:
    """A half-written system part: the bootloader falls back to DFU mode (what recovery is for)."""
    with lab.clock.lock:
        board.mem.internal.erase_range(0x8020000, 0x20000)
        board.reset("test: half-written system part")
    lab.settle(5)


def run_cell(cell: Cell, lab: Lab, board: Board, dev: Device, store: ReleaseStore) -> RunResult:
    """The path (or the recovery ladder) with the cell's fault armed at its stage."""
    old, new = (store.get(cell.platform, v) for v in cell.versions)
    if cell.method == RECOVERY:
        break_board(lab, board)
        cell.arm(lab, board, None)
        return recover(dev, old, Quarantine())
    steps = plan(installed(dev), new, cell.method)
    at = cell.where.index(steps) if cell.where else -1

    def arm(i: int, step: object) -> None:
        if i == at:
            cell.arm(lab, board, steps.steps[i])

    return Runner(dev).run(steps, new, on_step=arm)


@pytest.mark.parametrize("cell", CELLS, ids=[c.id for c in CELLS])
def test_fault_cell(cell: Cell, real_store: ReleaseStore, tmp_path: Path, record_property) -> None:
    with Lab(releases=real_store) as lab:
        board, dev = board_and_device(lab, cell.platform, cell.versions[0], online=cell.online)
        normal_timeout = dev.uhubctl.timeout
        dev.uhubctl.timeout = cell.uhubctl_timeout or normal_timeout  # short only where every call hangs
        pool = Pool(["dut"], tmp_path / "locks")
        start = lab.clock.now()
        with pool.claim(["dut"], SystemClock(), timeout=1):
            result = run_cell(cell, lab, board, dev, real_store)
            elapsed = lab.clock.now() - start
            mode_after = board.mode
            # the board fixture's teardown after a failed test (the fault may still be there)
            teardown = leave_usable(dev, real_store) if result.outcome == FAIL else None
            teardown_took = lab.clock.now() - start - elapsed
        got = PASS if result.outcome == PASS else str(result.error_type)
        if cell.uhubctl_timeout is not None:
            assert lab.hubs.hung.is_set()  # a uhubctl call really hung (and was killed)
        record_property(
            "fault_cell",
            json.dumps(
                {
                    "stage": cell.stage,
                    "fault": cell.fault,
                    "method": cell.path,
                    "outcome": got,
                    "seconds": round(elapsed),
                    "state": result.board_state,
                }
            ),
        )
        print(f"| {cell.stage} | {cell.fault} | {cell.path} | {got} | {elapsed:.0f} s | {result.board_state} |")
        print("\n".join(result.log))
        assert elapsed < BOUND
        assert got == cell.expect, result.error
        # the known board state is reported, and it is the real one
        assert result.board_state.startswith(STATE_OF[mode_after]), (result.board_state, mode_after)
        where = f"hub {dev.hub.location} port {dev.hub.port}"  # type: ignore[union-attr]
        # a failed run asks uhubctl whether the port is powered; a passing one was just seen on USB
        assert result.board_state.endswith(f"{where} on" if result.outcome == FAIL else where)
        assert lab.hubs.hub("1-1").is_on(lab.slots["dut"].port)
        assert lock_is_free(pool, "dut")
        # the report keeps the timings of every step up to the fault, the error, the console
        path = report.from_run(cell.id, cell.platform, *cell.versions, cell.method, "dut", result)
        run = journal.create_run_folder(tmp_path / "report", cell.id)
        assert write_run(tmp_path / "report", run, [path], {"simulated": True}) == []
        _, (back,) = report.read(run)
        assert back.board_state == result.board_state and back.steps
        assert all(s["clock"] >= 0 and s["wall"] >= 0 for s in back.steps)
        if result.outcome == FAIL:
            assert back.error and back.steps[-1]["step"].startswith("failed:")
            assert f"board left in: {result.board_state}" in back.log
        if cell.method == "serial" and "YMODEM" in cell.stage:
            assert "--- console ---" in back.log and "Waiting for the binary file" in back.log
        if teardown is not None:  # bounded, one sentence, and the port stays powered
            newest = real_store.get(cell.platform, cell.versions[1]).version
            if cell.fault == "cloud offline":  # the OTA path failed with the board still running normally
                assert teardown.startswith("board left in normal mode"), teardown
            else:  # recovered, unless the fault (a board that never comes back) is still there
                verdict = "fail" if cell.fault == "never comes back" else "pass"
                assert teardown.startswith(f"recovered dut to Device OS {newest}: {verdict}; "), teardown
            assert "\n" not in teardown and teardown_took < BOUND
            assert lab.hubs.hub("1-1").is_on(lab.slots["dut"].port)
        # the fault is gone; the next test claims the board and brings it back
        board.faults = Faults()
        lab.hubs.hub("1-1").hang = False
        dev.uhubctl.timeout = normal_timeout
        lab.cloud.reachable = True
        with pool.claim(["dut"], SystemClock(), timeout=1):
            take_over(dev)
            ensure_release(dev, real_store.get(cell.platform, cell.versions[0]))
            assert health_check(dev, real_store.get(cell.platform, cell.versions[0])) is None
        assert lock_is_free(pool, "dut")


HOLDER = """
import sys
from pathlib import Path
from rig.clock import SystemClock
from rig.pool import Pool
from rig.transport.hub import Uhubctl
with Pool(["dut"], Path(sys.argv[1])).claim(["dut"], SystemClock(), timeout=5):
    Uhubctl().set_power("1-1", int(sys.argv[2]), on=False)  # killed in the middle of a power cycle
    print("holding", flush=True)
    sys.stdin.read()  # held until killed (or the test closes stdin)
"""


def test_worker_killed_while_holding_a_board(real_store: ReleaseStore, tmp_path: Path, record_property) -> None:
    """An xdist worker dies holding a board with its port off: the kernel frees the lock, the next
    claimant switches the port on and restores the board."""
    with Lab(releases=real_store) as lab:
        board, dev = board_and_device(lab, PLATFORM, NEW)
        pool = Pool(["dut"], tmp_path / "locks")
        port = lab.slots["dut"].port
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(pool.folder), str(port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
            assert not lock_is_free(pool, "dut") and not lab.hubs.hub("1-1").is_on(port)
        finally:
            holder.kill()  # SIGKILL: no finally block of the worker runs
            holder.wait(10)
        start = lab.clock.now()
        with pool.claim(["dut"], SystemClock(), timeout=5):
            take_over(dev)
            ensure_release(dev, real_store.get(PLATFORM, OLD))
            assert health_check(dev, real_store.get(PLATFORM, OLD)) is None
        elapsed = lab.clock.now() - start
        assert lock_is_free(pool, "dut") and lab.hubs.hub("1-1").is_on(port) and board.mode == Mode.NORMAL
        assert any("switching its hub port on" in line for line in dev.log)
        record_property(
            "fault_cell",
            json.dumps(
                {
                    "stage": "claiming a board",
                    "fault": "worker killed holding it",
                    "method": "any",
                    "outcome": PASS,
                    "seconds": round(elapsed),
                    "state": "normal mode",
                }
            ),
        )


def test_the_docs_keep_the_matrix() -> None:
    """docs/faults.md shows the outcome every cell is held to (and the cells hold to it above)."""
    docs = (Path(__file__).resolve().parents[2] / "docs" / "faults.md").read_text()
    assert matrix_table(expected_rows()) in docs, "regenerate the table in docs/faults.md from tests_unit/faults"
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert matrix_table(expected_rows()) in readme, "regenerate the table in README.md from tests_unit/faults"
