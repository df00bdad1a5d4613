"""First cells of the fault matrix (issue 8): a fault injected mid-update ends the run in bounded
simulated time with a named error, the hub port powered, the log kept; recovery then restores the
board and it passes its health check."""

from __future__ import annotations

import pytest

from rig.firmware.release import ReleaseStore
from rig.plan import plan
from rig.runner import FAIL, PASS, Runner, installed
from rig.runner.recovery import Quarantine, health_check, recover
from rig.sim.board import Board
from rig.sim.lab import Lab
from tests_unit.plan.helpers import board_and_device


def _disconnect(board: Board) -> None:
    board.faults.disconnect_after_bytes = board.bytes_received + 30000


def _early_reboot(board: Board) -> None:
    board.faults.early_reboot_after_bytes = board.bytes_received + 30000


def _dfu_error(board: Board) -> None:
    board.faults.dfu_error_status = 0x03  # errWRITE


def _nak_storm(board: Board) -> None:
    board.faults.ymodem_nak_packets = 1000


def _silent(board: Board) -> None:
    board.faults.ymodem_silent = True


FAULTS = {
    "disconnect": _disconnect,
    "early-reboot": _early_reboot,
    "dfu-error": _dfu_error,
    "nak-storm": _nak_storm,
    "ymodem-silent": _silent,
}
EXPECTED = {  # (fault, method) -> the named error the run ends with
    **{(f, m): "BoardGoneError" for f in ("disconnect", "early-reboot") for m in ("dfu", "usb", "serial")},
    ("dfu-error", "dfu"): "DfuError",
    ("nak-storm", "serial"): "YmodemError",
    ("ymodem-silent", "serial"): "YmodemError",
}
BOUND = 30 * 60  # simulated seconds: far above any path, far below a hung night


@pytest.mark.parametrize(("fault", "method"), list(EXPECTED), ids=[f"{f}-{m}" for f, m in EXPECTED])
def test_fault_cell(real_store: ReleaseStore, fault: str, method: str) -> None:
    old, new = real_store.get("photon", "1.5.2"), real_store.get("photon", "2.3.1")
    with Lab(releases=real_store) as lab:
        board, dev = board_and_device(lab, "photon", old.version)
        steps = plan(installed(dev), new, method)
        FAULTS[fault](board)
        start = lab.clock.now()
        result = Runner(dev).run(steps, new)
        elapsed = lab.clock.now() - start
        print(f"| {fault} | {method} | {result.outcome} | {result.error_type} | {elapsed:.0f} s |")
        assert elapsed < BOUND
        assert (result.outcome, result.error_type) == (FAIL, EXPECTED[fault, method]), result.error
        assert result.error and result.log and result.steps[-1].step.startswith("failed:")
        if method == "serial":
            assert result.serial_log  # the console up to the fault is kept
        assert dev.hub is not None and lab.hubs.hub(dev.hub.location).is_on(dev.hub.port)
        board.faults = type(board.faults)()  # the fault is gone; the board must come back
        back = recover(dev, old, Quarantine())
        assert back.outcome == PASS, back.error
        assert health_check(dev, old) is None
