"""Test support for the tests that run the real uhubctl on a simulated lab's umockdev bus."""

from __future__ import annotations

import pytest

from rig.sim.lab import Lab
from rig.sim.usb_bridge import UsbBridge

AS_NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]  # util-linux: run as user nobody


def real_uhubctl_bus(lab: Lab) -> UsbBridge:
    """The lab's bus where the real uhubctl runs on it; else the test is skipped, with the reason."""
    programs = lab.programs
    assert programs is not None
    if programs.bus is None or "uhubctl" in programs.stand_ins.handlers:
        pytest.skip(f"the real uhubctl cannot run on a bus here: {programs.why or 'uhubctl is not installed'}")
    return programs.bus
