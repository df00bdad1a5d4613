"""dfu: the rig's own DfuSe writes at the module's address (rig.firmware.dfu_writes); the next boot decides."""

from __future__ import annotations

from collections.abc import Sequence

from rig.board_mode import Mode
from rig.device.board import Device
from rig.device.modes import enter, wait_left_dfu
from rig.device.paths.rules import DfuDownloads, write_note
from rig.device.story import timed
from rig.firmware.dfu_writes import DfuWrite
from rig.methods import Via
from rig.transport.dfuse import DfuSe


class DfuPath(DfuDownloads):
    """DfuSe downloads through pyusb, then a DFU leave."""

    via = Via.DFU
    leaves_with_last_write = False  # the plan's DFU-leave step ends DFU mode

    def download(self, dev: Device, writes: Sequence[DfuWrite], leave: bool) -> bool:
        """DfuSe downloads through pyusb (a DCT write does not erase), then the leave."""
        enter(dev, Mode.DFU)
        dfu = DfuSe(dev.require_usb().device, dev.clock)
        for write in writes:
            with timed(dev, write_note("DFU", write)):
                dfu.write(write.alt, write.address, write.data, erase=write.erase)
        if leave:
            with timed(dev, "DFU leave"):
                dfu.leave()
                return wait_left_dfu(dev)
        return False


PATH = DfuPath()
