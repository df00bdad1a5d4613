"""swd: an Intel HEX image of the module(s) programmed by pyocd through the board's debug probe."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from rig.clock import wait_for
from rig.device.board import Device
from rig.device.paths.base import FlashRefused, ModuleFile
from rig.firmware.hexfile import build_image, write_image
from rig.methods import Via
from rig.transport.tools import PyOcd

PYOCD_TARGETS = {"nrf52840": "nrf52840", "stm32f2": "stm32f205rg"}
PACK_ENV = "RIG_PYOCD_PACK"  # the Keil STM32F2xx_DFP pack pyocd needs for Gen 2 boards


class SwdPath:
    """pyocd flash of a HEX image; the board resets."""

    via = Via.SWD

    def send(self, dev: Device, file: ModuleFile) -> None:
        """Build the image of the file's modules and program it."""
        if not dev.swd_probe:
            raise FlashRefused(f"{dev.name} has no swd_probe in devices.yaml; the SWD path needs a debug probe.")
        target = PYOCD_TARGETS.get(dev.platform.family)
        if target is None:
            raise FlashRefused(f"The rig has no SWD target for the {dev.platform.display_name}.")
        image = build_image(dev.platform, [(file.name, m) for m in file.modules])
        with tempfile.TemporaryDirectory(prefix="rig-swd-") as tmp:
            path = Path(tmp) / "image.hex"
            write_image(image, path)
            reset = dev.reset_seen()
            PyOcd().flash(str(path), target, dev.swd_probe, os.environ.get(PACK_ENV))
        dev.note(f"pyocd programmed {len(image)} bytes through probe {dev.swd_probe}")
        wait_for(reset, dev.clock, 5.0)


PATH = SwdPath()
