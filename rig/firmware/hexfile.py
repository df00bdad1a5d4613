"""Intel HEX restore images for the SWD/JTAG path (python-stack.md §7, particle-protocols §6.8).

All modules of a release at their flash addresses, the user firmware in place of the default
app, the SoftDevice as a raw image (its 24-byte Particle prefix stripped, §1.7), with range and
overlap checks. intelhex does the encoding.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from intelhex import AddressOverlapError, IntelHex

from rig import platforms
from rig.errors import RigError
from rig.firmware.format import ModuleFunction as F
from rig.firmware.module import Module
from rig.firmware.release import Release


class HexImageError(RigError):
    """A restore image cannot be built from the given modules."""


@dataclass(frozen=True)
class Placement:
    """Bytes of one module placed at a flash address."""

    name: str
    address: int
    data: bytes


def placement(module: Module, name: str) -> Placement:
    """Where and what one module contributes to a flash image."""
    if module.inner is not None:
        raise HexImageError(f"{name} is compressed; only the device inflates it, so SWD cannot write it.")
    if module.function == F.NCP_FIRMWARE:
        raise HexImageError(f"{name} is NCP firmware, which lives on the ESP32 and cannot be written over SWD (§6.9).")
    return Placement(name, module.start, module.flash_data)


def _check_range(plat: platforms.Platform, p: Placement, module: Module) -> None:
    slots = plat.slots_for(module.function, module.index)
    end = p.address + len(p.data)
    if not any(s.start <= p.address and end <= s.end for s in slots):
        raise HexImageError(
            f"{p.name} would occupy 0x{p.address:x}-0x{end:x}, outside the {plat.display_name}'s "
            f"{module.function.label} slot."
        )


def build_image(plat: platforms.Platform, modules: list[tuple[str, Module]]) -> IntelHex:
    """One IntelHex holding every module; overlaps and foreign modules are errors."""
    image = IntelHex()
    for name, module in modules:
        if module.platform_id != plat.id:
            raise HexImageError(f"{name} is built for the {module.platform.display_name}, not the {plat.display_name}.")
        p = placement(module, name)
        _check_range(plat, p, module)
        part = IntelHex()
        part.frombytes(p.data, offset=p.address)
        try:
            image.merge(part, overlap="error")
        except AddressOverlapError as exc:
            raise HexImageError(f"{name} overlaps another module of the image ({exc}).") from None
    return image


def release_image(release: Release, user: Module | None = None, user_name: str = "user app") -> IntelHex:
    """A restore image of `release`, with `user` replacing the default app when given."""
    plat = release.platform
    if not plat.flashable or "swd" not in plat.methods:
        raise HexImageError(f"The {plat.display_name} has no SWD restore path in the rig.")
    release.require_complete()
    chosen = [
        (s.name, s.module) for s in release.modules(include_user=user is None) if s.module.function != F.NCP_FIRMWARE
    ]
    if user is not None:
        if user.function != F.USER_PART:
            raise HexImageError(f"{user_name} is a {user.function.label}, not a user app; pass a user firmware binary.")
        chosen.append((user_name, user))
    return build_image(plat, chosen)


def write_image(image: IntelHex, out: Path) -> None:
    """Write the image as Intel HEX, with a one-sentence error when the path is not writable."""
    try:
        image.write_hex_file(str(out))
    except OSError as exc:
        raise HexImageError(f"Cannot write {out} ({exc.strerror}); choose a writable path with -o.") from None
