"""One board: find it, know its mode, move it between modes, identify it, flash one module."""

from rig.device.board import Device, HubPort, Identity, Mode, ModuleRecord

__all__ = ["Device", "HubPort", "Identity", "Mode", "ModuleRecord"]
