"""One board: find it, know its mode, move it between modes, identify it, flash one module."""

from rig.board_mode import Mode
from rig.device.board import Device, HubPort, Identity, ModuleRecord

__all__ = ["Device", "HubPort", "Identity", "Mode", "ModuleRecord"]
