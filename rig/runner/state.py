"""The board's state in one phrase, for reports: what a person finds on the bench after a path,
e.g. 'safe mode, Device OS 1.5.2; hub 1-1 port 2 on' or 'off (not on USB); hub 1-1 port 2 on'.
"""

from __future__ import annotations

import contextlib

from rig.device import Device, Mode
from rig.device.board import RUNNING
from rig.errors import RigError


def port_power(dev: Device) -> str:
    """'on', 'off', or 'unknown (why)' for the board's supply (its hub port, from uhubctl's status)."""
    if dev.power is None:
        return "unknown (no hub port in devices.yaml)"
    try:
        return "on" if dev.power.is_on() else "off"
    except RigError as exc:
        return f"unknown ({exc})"


def board_state(dev: Device, with_power: bool = True) -> str:
    """Mode (and Device OS when the firmware runs), then the hub port and (with_power: one uhubctl
    status call) whether it is powered.
    """
    try:
        mode = dev.mode()
    except RigError as exc:
        text = f"not answering ({exc})"
    else:
        text = "off (not on USB)" if mode == Mode.OFF else f"{mode} mode"
        if mode in RUNNING:
            with contextlib.suppress(RigError):
                text += f", Device OS {dev.device_os(dev.modules())}"
    if dev.power is not None:
        text += f"; {dev.power.where}" + (f" {port_power(dev)}" if with_power else "")
    return text


def left_in(dev: Device, failed: bool) -> str:
    """The state a path left the board in; after a failure also the port's power, noted in the log."""
    state = board_state(dev, with_power=failed)  # a uhubctl call only when something went wrong
    if failed:
        dev.note(f"board left in: {state}")
    return state
