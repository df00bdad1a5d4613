"""The DFU write rules as a path sees them: rig.firmware.dfu_writes, refused in the path's words."""

from __future__ import annotations

from collections.abc import Iterable

from rig.device.board import Device
from rig.device.paths.base import FlashRefused
from rig.firmware.dfu_writes import DfuWrite, DfuWriteRefused, module_writes
from rig.firmware.module import Module


def writes_for(dev: Device, modules: Iterable[Module]) -> list[DfuWrite]:
    """The DFU writes of `modules` on the device's platform (FlashRefused when one cannot go)."""
    try:
        return [w for m in modules for w in module_writes(dev.platform, m)]
    except DfuWriteRefused as exc:
        raise FlashRefused(str(exc)) from None
