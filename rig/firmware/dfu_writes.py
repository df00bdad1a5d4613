"""Where a module goes over DFU: the one owner of the DFU write rules (particle-protocols §5.6, §7.4).

- A module is written at its start address; a SoftDevice drops its 24-byte Particle prefix
  (`DROP_MODULE_INFO`), as Device OS's own DFU writes do.
- A bootloader cannot be written in place: it goes into the OTA region and the OTA flag in the DCT
  tells the running system to install it on the next boot.
- A Gen 3 user app built for Device OS 3.1.0 or later (it lives at the new, larger user part)
  invalidates the former 128 KB user part at 0xD4000 first, so the old app is not started.
- Device Restore marks setup done with one DCT byte (Gen 3 below 4.0.0, §6.10).
Both the planner (steps) and the DFU flashing paths (the writes themselves) ask here.
"""

from __future__ import annotations

from dataclasses import dataclass

from rig.errors import RigError
from rig.firmware.format import ModuleFunction as F
from rig.firmware.module import Module
from rig.firmware.parse import OTA_FLAG_BYTE
from rig.platforms import GEN3_USER_PART_MOVE, Platform

FORMER_USER_PART = 0xD4000  # DC `formerUserPart` (§2.3)
INVALIDATE_SIZE = 4096
BOOTLOADER_LABEL = "bootloader -> OTA region"
OTA_FLAG_LABEL = "ota-flag"
INVALIDATE_LABEL = "invalidate-128k-user-part"
SETUP_DONE_LABEL = "setup-done byte"


class DfuWriteRefused(RigError):
    """The module cannot be written over DFU."""


@dataclass(frozen=True)
class DfuWrite:
    """One DfuSe download: bytes at an address of an alt setting."""

    alt: int
    address: int
    data: bytes
    label: str = ""  # what the write is when it is not the module itself
    erase: bool = True  # DCT writes (the flags) do not erase
    of_module: bool = True  # the module's own bytes (not a flag or an invalidation)

    def describe(self) -> str:
        """e.g. 'alt 0 0x30000: 12345 bytes'."""
        return f"alt {self.alt} 0x{self.address:x}: {len(self.data)} bytes"


def _dct(plat: Platform, offset: int, data: bytes, label: str) -> DfuWrite:
    assert plat.dct_alt is not None
    return DfuWrite(plat.dct_alt, offset, data, label, erase=False, of_module=False)


def moves_user_part(plat: Platform, module: Module) -> bool:
    """A Gen 3 user app for Device OS >= 3.1.0 on a platform whose former user part it must invalidate."""
    image = module.image
    if image.function != F.USER_PART or plat.family != "nrf52840":
        return False
    if not any(s.start == FORMER_USER_PART and s.until for s in plat.slots_for(F.USER_PART, 1)):
        return False
    needs = max((d.version for d in image.real_dependencies if d.function == F.SYSTEM_PART), default=0)
    return needs >= GEN3_USER_PART_MOVE


def module_writes(plat: Platform, module: Module) -> list[DfuWrite]:
    """The DFU writes that install `module` on `plat` (raises DfuWriteRefused)."""
    image = module.image
    if module.inner is not None:
        raise DfuWriteRefused(f"{image.describe()} is compressed; only the board can inflate it (use usb or serial).")
    if image.function == F.NCP_FIRMWARE:
        raise DfuWriteRefused("NCP firmware cannot be written over DFU; use the usb or serial path (§6.9).")
    if image.function == F.BOOTLOADER:
        region = plat.ota_region
        if region is None or plat.dct_alt is None or plat.ota_flag_offset is None:
            raise DfuWriteRefused(f"The {plat.display_name}'s bootloader cannot be written in DFU mode.")
        return [
            DfuWrite(region.dfu_alt, region.dfu_address, module.data, BOOTLOADER_LABEL),
            _dct(plat, plat.ota_flag_offset, OTA_FLAG_BYTE, OTA_FLAG_LABEL),
        ]
    writes = []
    if moves_user_part(plat, module):
        writes.append(DfuWrite(0, FORMER_USER_PART, b"\xff" * INVALIDATE_SIZE, INVALIDATE_LABEL, of_module=False))
    writes.append(DfuWrite(0, image.start, image.flash_data))
    return writes


def setup_done_write(plat: Platform) -> DfuWrite | None:
    """The DCT byte that marks setup done, where the platform has one."""
    if plat.setup_done_offset is None or plat.dct_alt is None:
        return None
    return _dct(plat, plat.setup_done_offset, b"\x01", SETUP_DONE_LABEL)
