"""particle-cli: `particle flash --usb FILE` with the board in DFU mode (CLI 2.x–3.x; it refuses bootloaders)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from rig.board_mode import Mode
from rig.device.board import Device
from rig.device.modes import enter, wait_left_dfu
from rig.device.paths.base import FlashRefused, ModuleFile
from rig.firmware.format import ModuleFunction as F
from rig.methods import Via
from rig.transport.tools import ParticleCli

CLI_SOURCE_ENV = "RIG_PARTICLE_CLI_SOURCE"  # a particle-cli source folder to run with `npm start`


class ParticleCliPath:
    """The Particle CLI writes the file over DFU and leaves."""

    via = Via.PARTICLE_CLI

    def send(self, dev: Device, file: ModuleFile) -> None:
        """`particle flash --usb` of the file as it is."""
        if any(m.image.function == F.BOOTLOADER for m in file.modules):
            raise FlashRefused("particle flash --usb refuses bootloaders; use the dfu or usb path.")
        enter(dev, Mode.DFU)
        with tempfile.TemporaryDirectory(prefix="rig-cli-") as tmp:
            path = Path(tmp) / file.name
            path.write_bytes(file.data)
            ParticleCli(source_dir=os.environ.get(CLI_SOURCE_ENV)).flash_usb(str(path))
        dev.note(f"particle flash --usb {file.name}")
        wait_left_dfu(dev)


PATH = ParticleCliPath()
