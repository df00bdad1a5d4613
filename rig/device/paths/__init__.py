"""The flashing paths, one module each; adding a path is a module here plus one line below."""

from __future__ import annotations

from rig.device.paths import dfu, dfu_util, ota, particle_cli, serial, swd, usb
from rig.device.paths.base import DfuWriter, FlashPath, FlashRefused, ModuleFile
from rig.methods import Via

PATHS: dict[Via, FlashPath] = {
    p.via: p for p in (dfu.PATH, usb.PATH, serial.PATH, ota.PATH, dfu_util.PATH, particle_cli.PATH, swd.PATH)
}
DFU_WRITERS: dict[Via, DfuWriter] = {p.via: p for p in (dfu.PATH, dfu_util.PATH)}

__all__ = ["DFU_WRITERS", "PATHS", "DfuWriter", "FlashPath", "FlashRefused", "ModuleFile"]
