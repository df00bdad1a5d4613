"""rig.device.power: the one owner of "a power-off is always followed by a power-on"."""

from __future__ import annotations

import dataclasses

import pytest

from rig.board_mode import Mode
from rig.board_settings import BoardSettings
from rig.device.power import PortNotCutError, power_cut, power_off
from rig.plan.model import Step, StepKind
from rig.runner.steps import execute
from rig.sim.clock import SimClock
from rig.sim.lab import Lab
from rig.transport.errors import TimeoutError_, TransportError
from testsupport.devices import device


class RecordingPort:
    """A PowerPort that records what it was asked, and fails where told."""

    def __init__(self, fail_off: bool = False, fail_on: bool = False) -> None:
        self.calls: list[bool] = []
        self.fail_off, self.fail_on = fail_off, fail_on

    @property
    def where(self) -> str:
        return "hub 1-1 port 4"

    def switch(self, on: bool) -> None:
        self.calls.append(on)
        if (on and self.fail_on) or (not on and self.fail_off):
            raise TimeoutError_("uhubctl did not finish within 1 s.")

    def is_on(self) -> bool:
        return self.calls[-1] if self.calls else True


@pytest.mark.parametrize("error", [RuntimeError("bug"), KeyboardInterrupt(), TransportError("lost")])
def test_the_port_is_switched_on_however_the_block_ends(error: BaseException) -> None:
    port = RecordingPort()
    with pytest.raises(type(error)), power_cut(port):
        raise error
    assert port.calls == [False, True]


def test_a_failed_switch_off_is_followed_by_a_switch_on() -> None:
    port = RecordingPort(fail_off=True)
    with pytest.raises(TimeoutError_), power_cut(port):
        pytest.fail("the block must not run")
    assert port.calls == [False, True]


def test_the_first_error_is_kept_when_switching_on_fails_too() -> None:
    port = RecordingPort(fail_on=True)
    with pytest.raises(RuntimeError, match="the real failure"), power_cut(port):
        raise RuntimeError("the real failure")
    assert port.calls == [False, True]


def test_keep_off_only_when_the_block_succeeds() -> None:
    port = RecordingPort()
    with power_cut(port) as cut:
        cut.keep_off()
    assert port.calls == [False]
    with pytest.raises(ValueError), power_cut(port) as cut:
        cut.keep_off()
        raise ValueError("after keep_off")
    assert port.calls == [False, False, True]


def test_power_off_that_does_not_cut_switches_on_again() -> None:
    port = RecordingPort()
    with pytest.raises(PortNotCutError, match=r"^Hub 1-1 port 4 did not cut power"):
        power_off(port, present=lambda: True, clock=SimClock(0), timeout=5)
    assert port.calls == [False, True]
    power_off(port, present=lambda: False, clock=SimClock(0), timeout=5)
    assert port.calls[-1] is False


def test_setup_done_waits_for_a_rebooting_board_without_touching_power(lab: Lab) -> None:
    """The runner's setup-done step after a write: the board is still rebooting (off USB) and the
    bench has no hub port for it; the step waits for the board instead of trying to power it."""
    board = lab.add_board("b", "boron", "2.3.1", settings=BoardSettings(setup_done=False))
    dev = dataclasses.replace(device(lab, board, "b"), hub=None)
    board.reset("a write ended", delay=0.0)
    lab.clock.sleep(0.2)
    assert dev.mode() == Mode.OFF
    assert execute(dev, Step(StepKind.SETUP_DONE), []) == ""
    assert board.dct_read(board.platform.setup_done_offset or 0, 1) == b"\x01" and dev.mode() == Mode.NORMAL
    assert not any("hub" in line for line in dev.log)
