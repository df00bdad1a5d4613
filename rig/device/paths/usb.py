"""usb: control requests 250/251/253 (§4.4), validated by the board, which resets to install."""

from __future__ import annotations

from rig.board_mode import Mode
from rig.clock import wait_for
from rig.device.board import Device
from rig.device.modes import ensure_running
from rig.device.paths.base import ModuleFile
from rig.methods import Via

UPDATE_TIMEOUT = 240.0  # particle-cli allows 4 min for an update (§7.2)


class UsbPath:
    """Start, data chunks, finish; the board validates and resets."""

    via = Via.USB

    def send(self, dev: Device, file: ModuleFile) -> None:
        """The whole file in the chunk size the board asks for."""
        ensure_running(dev, Mode.NORMAL)
        ctl = dev.control(timeout=UPDATE_TIMEOUT)
        data = file.data
        chunk = ctl.start_firmware_update(len(data)).chunk_size or 1024
        for off in range(0, len(data), chunk):
            ctl.firmware_update_data(data[off : off + chunk])
        reset = dev.reset_seen()
        ctl.finish_firmware_update(validate_only=False)
        dev.note(f"control-request update of {file.name} accepted; the board resets")
        wait_for(reset, dev.clock, 10.0)


PATH = UsbPath()
