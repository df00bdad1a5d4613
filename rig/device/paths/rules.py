"""The DFU write rules as a path sees them (rig.firmware.dfu_writes, refused in the path's words),
and what the paths that make DFU writes share.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rig.device.board import Device
from rig.device.paths.base import FlashRefused, ModuleFile
from rig.firmware.dfu_writes import DfuWrite, DfuWriteRefused, module_writes
from rig.firmware.module import Module


def writes_for(dev: Device, modules: Iterable[Module]) -> list[DfuWrite]:
    """The DFU writes of `modules` on the device's platform (FlashRefused when one cannot go)."""
    try:
        return [w for m in modules for w in module_writes(dev.platform, m)]
    except DfuWriteRefused as exc:
        raise FlashRefused(str(exc)) from None


def write_note(tool: str, write: DfuWrite) -> str:
    """A write as the log names it, e.g. 'DFU write alt 0 0x30000: 500068 bytes (ota-flag)'."""
    return f"{tool} write {write.describe()}" + (f" ({write.label})" if write.label else "")


class DfuDownloads:
    """`send` and `write` of a path that makes DFU writes, both through its `download`."""

    def send(self, dev: Device, file: ModuleFile) -> None:
        """Every write of every module of the file; the last one leaves DFU mode."""
        self.download(dev, writes_for(dev, file.modules), leave=True)

    def write(self, dev: Device, write: DfuWrite, leave: bool) -> bool:
        """One write placed by the planner; True when it also ended DFU mode."""
        return self.download(dev, [write], leave)

    def download(self, dev: Device, writes: Sequence[DfuWrite], leave: bool) -> bool:
        """Make the writes with the board in DFU mode; `leave` ends DFU mode after them (True: it left)."""
        raise NotImplementedError
