"""Carrying out one plan step on a device: every step is one operation of rig.device."""

from __future__ import annotations

from rig.device import Device, Mode
from rig.device.flash import send_module
from rig.device.modes import enter, leave_dfu, mark_setup_done, wait_running
from rig.device.paths import DFU_WRITERS
from rig.plan.model import Step, StepKind

CLOUD_TIMEOUT = 300.0


def _flash(dev: Device, step: Step, rest: list[Step]) -> str:
    assert step.via is not None
    if step.write is not None:  # a raw DFU write the planner placed
        writer = DFU_WRITERS[step.via]
        leave = writer.leaves_with_last_write and bool(rest) and rest[0].kind == StepKind.RESET
        if writer.write(dev, step.write, leave):
            return "left DFU"
        return "still in DFU after the leave" if leave else ""
    assert step.target is not None
    # the plan decided the order (an app may go before its system parts): no single-file checks
    result = send_module(dev, step.via, step.target.name, step.target.module)
    return f"{result.final_mode} after {result.clock_seconds:.1f} s"


def execute(dev: Device, step: Step, rest: list[Step]) -> str:
    """Do one step; returns a short note for the report."""
    if step.kind == StepKind.ENTER_MODE:
        return ", ".join(enter(dev, step.mode or Mode.NORMAL))
    if step.kind == StepKind.FLASH:
        return _flash(dev, step, rest)
    if step.kind == StepKind.RESET:
        return "" if leave_dfu(dev) else "already left DFU"
    if step.kind == StepKind.WAIT_REBOOT:
        start = dev.clock.now()
        mode = wait_running(dev)
        dev.note(f"mode: {mode}, running {dev.clock.now() - start:.2f} s after the reset")
        return ""
    if step.kind == StepKind.WAIT_CLOUD:
        dev.wait_online(CLOUD_TIMEOUT)
        return ""
    if step.kind == StepKind.SETUP_DONE:
        mark_setup_done(dev)
        return ""
    raise ValueError(f"unknown step kind {step.kind}")
