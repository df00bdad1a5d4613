"""dfu-util: the same DFU writes through the dfu-util program, as particle-cli 2.x does (§5.5):
one call per write, `-S` with the device id, `:leave` on the last.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from rig.board_mode import Mode
from rig.device.board import Device
from rig.device.modes import enter, wait_left_dfu
from rig.device.paths.rules import DfuDownloads, write_note
from rig.device.story import timed
from rig.firmware.dfu_writes import DfuWrite
from rig.methods import Via
from rig.transport.tools import DfuUtil


class DfuUtilPath(DfuDownloads):
    """One dfu-util download per write."""

    via = Via.DFU_UTIL
    leaves_with_last_write = True  # `-s ADDR:leave`, as particle-cli 2.x (§5.5)

    def download(self, dev: Device, writes: Sequence[DfuWrite], leave: bool) -> bool:
        """`dfu-util -d VID:PID -S ID -a ALT -s ADDR[:leave] -D FILE`, one call per write."""
        enter(dev, Mode.DFU)
        vid_pid = f"{dev.platform.usb_vid:04x}:{dev.platform.dfu_pid:04x}"
        tool = DfuUtil()
        with tempfile.TemporaryDirectory(prefix="rig-dfu-") as tmp:
            for i, write in enumerate(writes):
                path = Path(tmp) / f"write{i}.bin"
                path.write_bytes(write.data)
                last = leave and i == len(writes) - 1
                with timed(dev, write_note("dfu-util", write) + (" with :leave" if last else "")):
                    tool.download(vid_pid, write.alt, write.address, str(path), leave=last, serial=dev.device_id)
        if leave:
            return wait_left_dfu(dev)
        return False


PATH = DfuUtilPath()
