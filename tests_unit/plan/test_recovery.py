"""Recovery (power-cycle -> DFU -> restore -> health check) and quarantine."""

from __future__ import annotations

import pytest

from rig.firmware.release import ReleaseStore
from rig.runner import PASS
from rig.runner.recovery import Quarantine, QuarantinedError, health_check, recover
from rig.sim.board import Mode
from rig.sim.lab import Lab
from testsupport.devices import board_and_device


def test_broken_board_is_restored(real_store: ReleaseStore) -> None:
    known = real_store.get("boron", "2.2.0")
    with Lab(releases=real_store) as lab:
        board, dev = board_and_device(lab, "boron", "2.2.0")
        board.mem.internal.erase_range(0x30000, 0x10000)  # a half-written system part
        board.reset("test")
        lab.settle(5)
        assert board.mode == Mode.DFU and health_check(dev, known) is not None
        quarantine = Quarantine()
        result = recover(dev, known, quarantine)
        assert result.outcome == PASS and board.mode == Mode.NORMAL and board.system_version() == "2.2.0"
        assert health_check(dev, known) is None and not quarantine.failures


def test_a_board_that_keeps_failing_is_quarantined(real_store: ReleaseStore) -> None:
    known = real_store.get("photon", "2.3.1")
    with Lab(releases=real_store) as lab:
        board, dev = board_and_device(lab, "photon", "2.3.1")
        board.faults.stuck = True  # never comes back after a reset
        quarantine = Quarantine(limit=2)
        recover(dev, known, quarantine)
        assert quarantine.failures == {"dut": 1}
        with pytest.raises(QuarantinedError, match=r"dut failed 2 health checks .* and is quarantined"):
            recover(dev, known, quarantine)
        with pytest.raises(QuarantinedError, match=r"dut is quarantined after 2 failed health checks"):
            recover(dev, known, quarantine)
        assert lab.hubs.hub("1-1").is_on(1)
