"""Carrying out one plan step on a device (the transports and rig.device do the work)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from rig.device import Device, Mode
from rig.device.flash import flash
from rig.device.modes import enter
from rig.plan.model import Step
from rig.proto import control as pb
from rig.transport.dfuse import DfuSe
from rig.transport.errors import TimeoutError_
from rig.transport.hub import wait_for
from rig.transport.tools import DfuUtil

REBOOT_TIMEOUT = 120.0
CLOUD_TIMEOUT = 300.0


def _running(dev: Device) -> bool:
    try:
        return dev.mode() in (Mode.NORMAL, Mode.SAFE, Mode.LISTENING)
    except Exception:
        return False


def wait_running(dev: Device, timeout: float = REBOOT_TIMEOUT) -> None:
    """Wait until the firmware runs again (normal, safe or listening mode)."""
    if not wait_for(lambda: _running(dev), dev.clock, timeout, interval=0.5):
        raise TimeoutError_(f"{dev.name} did not come back within {timeout:g} s.")


def _raw_dfu_write(dev: Device, step: Step, leave: bool) -> None:
    assert step.address is not None
    data = step.data if step.data is not None else _payload(step)
    alt = step.alt or 0
    if step.via == "dfu-util":
        vid_pid = f"{dev.platform.usb_vid:04x}:{dev.platform.dfu_pid:04x}"
        with tempfile.TemporaryDirectory(prefix="rig-dfu-") as tmp:
            path = Path(tmp) / (step.target.name if step.target else "data.bin")
            path.write_bytes(data)
            DfuUtil().download(vid_pid, alt, step.address, str(path), leave=leave, serial=dev.device_id)
        return
    dfu = DfuSe(dev.require_usb().device, dev.clock)
    dfu.write(alt, step.address, data, erase=alt != dev.platform.dct_alt)


def _payload(step: Step) -> bytes:
    assert step.target is not None
    image = step.target.image
    if step.label == "bootloader -> OTA region":
        return step.target.module.data
    return image.data[24:] if image.flags & 0x01 else image.data


def execute(dev: Device, step: Step, rest: list[Step]) -> str:
    """Do one step; returns a short note for the report."""
    if step.kind == "enter-mode":
        tried = enter(dev, Mode(step.mode or "normal"))
        return ", ".join(tried)
    if step.kind == "flash":
        if step.mode == "dfu" and step.via in ("dfu", "restore", "dfu-util"):
            if dev.mode() != Mode.DFU:
                enter(dev, Mode.DFU)
            leave = step.via == "dfu-util" and bool(rest) and rest[0].kind == "reset"
            _raw_dfu_write(dev, step, leave)
            return "left DFU" if leave else ""
        assert step.target is not None and step.via is not None
        # the plan decided the order (an app may go before its system parts): no single-file checks
        result = flash(dev, step.target.module.data, step.via, step.target.name, force=True)
        return f"{result.final_mode} after {result.clock_seconds:.1f} s"
    if step.kind == "reset":
        board = dev.usb()
        if board is not None and board.dfu:
            DfuSe(board.device, dev.clock).leave()
        elif board is not None:
            dev.control().call(pb.RESET, None, None)
        return ""
    if step.kind == "wait-reboot":
        wait_running(dev)
        return ""
    if step.kind == "wait-cloud":
        if dev.cloud is not None:
            dev.cloud.wait_online(dev.device_id, dev.clock, CLOUD_TIMEOUT)
        return ""
    if step.kind == "setup-done":
        if dev.mode() not in (Mode.NORMAL, Mode.LISTENING, Mode.SAFE):
            wait_running(dev)
        ctl = dev.control()
        ctl.call(pb.SET_DEVICE_SETUP_DONE, "SetDeviceSetupDoneRequest", None, done=True)
        ctl.call(pb.STOP_LISTENING, None, None)
        wait_for(lambda: dev.mode() == Mode.NORMAL, dev.clock, 10.0)
        return ""
    raise ValueError(f"unknown step kind {step.kind}")
