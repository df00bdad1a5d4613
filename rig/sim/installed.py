"""What is installed on a simulated board, learned by parsing its flash (never kept as a list),
and Device OS's dependency rules over it (particle-protocols §6.1).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from rig import platforms
from rig.firmware.format import PREFIX_SIZE, SD_INFO_OFFSET, SD_MAGIC, ModuleFlag, ValidationFlag
from rig.firmware.format import ModuleFunction as F
from rig.firmware.module import Dependency, Module, ModuleError
from rig.firmware.parse import problems, read_modules
from rig.sim.memory import Memory

# Device OS result codes (§4.5)
OK = 0
INTEGRITY_CHECK_FAILED = -1330
DEPENDENCY_CHECK_FAILED = -1340
INVALID_ADDRESS = -1350
INVALID_SIZE = -1351
INVALID_PLATFORM = -1360
INVALID_FORMAT = -1370


@dataclass(frozen=True)
class Installed:
    """A module found in flash: its slot, parsed header and validity."""

    slot: platforms.Slot
    function: F
    index: int
    version: int
    size: int
    dependencies: tuple[Dependency, ...]
    integrity_ok: bool
    module: Module | None  # None for the SoftDevice, known from its info struct only
    address: int

    def satisfies(self, dep: Dependency) -> bool:
        """True when this module meets `dep` (same function and index, version >=)."""
        return self.function == dep.function and self.index == dep.index and self.version >= dep.version


def _read_module_at(memory: Memory, address: int, limit: int, prefix_offsets: tuple[int, ...]) -> Module | None:
    for off in prefix_offsets:
        try:
            head = memory.read(address + off, PREFIX_SIZE)
        except Exception:
            return None
        start, end = struct.unpack_from("<II", head)
        if start != address or not (start < end <= limit):
            continue
        try:
            found = read_modules(memory.read(address, end - start + 4))
        except (ModuleError, Exception):
            continue
        if found and found[0].prefix_offset == off:
            return found[0]
    return None


def _softdevice(memory: Memory, slot: platforms.Slot) -> Installed | None:
    info = memory.read(slot.start + SD_INFO_OFFSET, 16)
    magic, _size, fwid = struct.unpack_from("<4xIIH", info)
    if magic != SD_MAGIC:
        return None
    return Installed(slot, F.RADIO_STACK, 0, fwid, 0, (), True, None, slot.start)


def installed_modules(
    plat: platforms.Platform,
    memory: Memory,
    ncp_version: int | None,
    read_slot: Callable[[platforms.Slot], Installed | None] | None = None,
) -> list[Installed]:
    """Every module present in flash, in slot order (NCP reported from the co-processor); `read_slot`
    answers `in_slot` for a slot (the board's cache, rig.sim.installed_cache).
    """
    out: list[Installed] = []
    for slot in plat.slots:
        if slot.storage == "ncp":
            if ncp_version is not None:
                out.append(Installed(slot, F.NCP_FIRMWARE, 0, ncp_version, 0, (), True, None, 0))
            continue
        found = read_slot(slot) if read_slot is not None else in_slot(plat, memory, slot)
        if found is not None:
            out.append(found)
    return _known_to_running_system(_dedupe(out))


def in_slot(plat: platforms.Platform, memory: Memory, slot: platforms.Slot) -> Installed | None:
    """The module a flash slot holds, parsed from the bytes of `slot_span(slot)` only, or None."""
    if slot.function == F.RADIO_STACK:
        return _softdevice(memory, slot)
    m = _find_in_slot(memory, slot)
    if m is None or m.function != slot.function or m.index != slot.index:
        return None
    ok = m.crc_ok and m.platform_id == plat.id and not problems(m)
    return Installed(slot, m.function, m.index, m.version, m.size, m.real_dependencies, ok, m, m.start)


def slot_span(slot: platforms.Slot) -> tuple[int, int]:
    """(address, length) of the flash `in_slot` reads: the slot and the CRC a module ending at its end has past it."""
    return slot.start, slot.end - slot.start + 4


def _known_to_running_system(found: list[Installed]) -> list[Installed]:
    """The running Device OS only knows its own module slots: a Gen 3 256 KB app (index 2) left at
    0xB4000 is invisible to Device OS < 3.1.0 (§2.3).
    """
    part1 = next((m.version for m in found if m.function == F.SYSTEM_PART and m.index == 1 and m.integrity_ok), None)
    if part1 is None:
        return found
    return [m for m in found if m.function != F.USER_PART or m.index == 1 or m.slot.used_with(part1)]


def _find_in_slot(memory: Memory, slot: platforms.Slot) -> Module | None:
    offsets = tuple(dict.fromkeys((slot.prefix_offset, 0)))
    if not slot.grows_left:
        return _read_module_at(memory, slot.start, slot.end, offsets)
    for address in range(slot.end - 4096, slot.start - 1, -4096):  # RTL872x apps end at slot end
        m = _read_module_at(memory, address, slot.end, offsets)
        if m is not None:
            return m
    return None


def _dedupe(found: list[Installed]) -> list[Installed]:
    """A slot that moved (Gen 3 system part) is listed once."""
    seen: set[tuple[F, int, int]] = set()
    out = []
    for m in found:
        key = (m.function, m.index, m.address)
        if key not in seen:
            seen.add(key)
            out.append(m)
    return out


def find(installed: list[Installed], function: F, index: int) -> Installed | None:
    """The first valid installed module of (function, index)."""
    for m in installed:
        if m.function == function and m.index == index and m.integrity_ok:
            return m
    return None


def dependency_met(installed: list[Installed], dep: Dependency) -> bool:
    """True when some valid installed module satisfies `dep` (§6.1: installed version >=)."""
    return any(m.integrity_ok and m.satisfies(dep) for m in installed)


def deps_ok(installed: list[Installed], deps: tuple[Dependency, ...]) -> bool:
    """True when every dependency is met."""
    return all(dependency_met(installed, d) for d in deps)


def validity(installed: list[Installed], m: Installed) -> tuple[int, int]:
    """(checked, passed) validation flags as a describe reports them (vc, vv; §1.2)."""
    checked = ValidationFlag.INTEGRITY | ValidationFlag.DEPENDENCIES | ValidationFlag.RANGE | ValidationFlag.PLATFORM
    passed = ValidationFlag.RANGE | ValidationFlag.PLATFORM
    if m.integrity_ok:
        passed |= ValidationFlag.INTEGRITY
    if deps_ok(installed, m.dependencies):
        passed |= ValidationFlag.DEPENDENCIES
    return int(checked), int(passed)


def update_error(plat: platforms.Platform, installed: list[Installed], module: Module, ncp_id: int | None) -> int:
    """Update-time validation (OTA, YMODEM, control requests; §6.1): 0 or a Device OS error code.

    INTEGRITY + DEPENDENCIES_FULL with user-part dependencies optional; a bootloader
    dependency in the second slot is skipped.
    """
    image = module.image
    if not (module.crc_ok and image.crc_ok):
        return INTEGRITY_CHECK_FAILED
    if module.platform_id != plat.id:
        return INVALID_PLATFORM
    if image.function == F.NCP_FIRMWARE:
        return OK if ncp_id is not None and image.mcu_target == ncp_id else INVALID_PLATFORM
    if module.inner is not None and image.function not in (F.SYSTEM_PART, F.USER_PART):
        return INVALID_FORMAT
    if module.flags & (ModuleFlag.COMPRESSED | ModuleFlag.DROP_MODULE_INFO) and module.prefix_offset != 0:
        return INVALID_FORMAT
    slots = plat.slots_for(image.function, image.index)
    if image.function == F.USER_PART:  # the running Device OS knows only its own user slots (§2.3)
        part1 = find(installed, F.SYSTEM_PART, 1)
        sysver = part1.version if part1 else 0
        slots = tuple(s for s in slots if s.index == 1 or s.used_with(sysver))
    if not any(s.contains(image.start, image.end) for s in slots):
        return INVALID_ADDRESS
    if image.function != F.USER_PART:
        for slot_number, dep in enumerate(image.dependencies):
            if dep.empty or (slot_number == 1 and dep.function == F.BOOTLOADER):
                continue
            if not dependency_met(installed, dep):
                return DEPENDENCY_CHECK_FAILED
    if image.function == F.SYSTEM_PART:  # DEPENDENCIES_FULL: who depends on the part we replace?
        for other in installed:  # other *system parts* only: user-part dependencies are optional
            if other.function != F.SYSTEM_PART or other.index == image.index:
                continue
            for dep in other.dependencies:
                if dep.function == F.SYSTEM_PART and dep.index == image.index and dep.version > image.version:
                    return DEPENDENCY_CHECK_FAILED
    return OK


# An Electron bootloader prefix (start 0x08000000, platform 10, function 2) inside a system part
_EMBEDDED_BOOT = re.compile(rb"\x00\x00\x00\x08..\x00\x08....\x0a\x00\x02\x00", re.DOTALL)


def embedded_bootloaders(data: bytes) -> Iterator[Module]:
    """Bootloader modules embedded in a system part's bytes (Electron, §6.7; found at 0x184 before
    a matching prefix, as in the real electron-system-part1@2.x files).
    """
    for hit in _EMBEDDED_BOOT.finditer(data):
        begin = hit.start() - 0x184
        start, end = struct.unpack_from("<II", data, hit.start())
        if begin < 0:
            continue
        try:
            found = read_modules(data[begin : begin + end - start + 4], "embedded bootloader")
        except ModuleError:
            continue
        if found[0].function == F.BOOTLOADER and found[0].crc_ok:
            yield found[0]


def flash_image(module: Module) -> tuple[int, bytes]:
    """(address, bytes) a module occupies once installed: DROP_MODULE_INFO strips the prefix (§1.7)."""
    return module.image.start, module.image.flash_data
