"""The platform table against particle-protocols §2."""

from __future__ import annotations

import re

import pytest

from rig import platforms
from rig.firmware.format import ModuleFunction as F
from rig.platforms import UnknownPlatformError


def sectors(memory_map: str) -> list[tuple[int, int, str]]:
    """(start, size, type letter) of every sector of a DfuSe memory-map string."""
    m = re.match(r"^@[^/]+/0x([0-9a-fA-F]+)/(.+)$", memory_map)
    assert m, memory_map
    addr = int(m.group(1), 16)
    out = []
    for count, size, unit, kind in re.findall(r"(\d+)\*(\d+)([KM ])([a-g])", m.group(2)):
        sz = int(size) * {"K": 1024, "M": 1024 * 1024, " ": 1}[unit]
        for _ in range(int(count)):
            out.append((addr, sz, kind))
            addr += sz
    return out


def test_ids_names_and_usb_ids_are_unique() -> None:
    assert len({p.id for p in platforms.PLATFORMS}) == len(platforms.PLATFORMS)
    assert len({p.name for p in platforms.PLATFORMS}) == len(platforms.PLATFORMS)
    for p in platforms.PLATFORMS:
        if p.id:
            assert (p.usb_vid, p.usb_pid, p.dfu_pid) == (0x2B04, 0xC000 + p.id, 0xD000 + p.id)
            assert platforms.by_usb_id(0x2B04, p.dfu_pid) == (p, True)
            assert platforms.by_usb_id(0x2B04, p.usb_pid) == (p, False)


@pytest.mark.parametrize(
    ("name", "pid", "gen", "parts", "softdevice", "ncp"),
    [
        ("photon", 6, 2, 2, False, False),
        ("p1", 8, 2, 2, False, False),
        ("electron", 10, 2, 3, False, False),
        ("argon", 12, 3, 1, True, True),
        ("boron", 13, 3, 1, True, False),
        ("bsom", 23, 3, 1, True, False),
        ("b5som", 25, 3, 1, True, False),
        ("tracker", 26, 3, 1, True, True),
        ("p2", 32, 4, 1, False, False),
        ("msom", 35, 4, 1, False, False),
    ],
)
def test_identity(name: str, pid: int, gen: int, parts: int, softdevice: bool, ncp: bool) -> None:
    p = platforms.by_name(name)
    assert (p.id, p.generation, p.has_softdevice, p.has_ncp) == (pid, gen, softdevice, ncp)
    assert len({s.index for s in p.slots if s.function == F.SYSTEM_PART}) == parts == p.system_part_count
    assert platforms.by_id(pid) is p


def test_gen2_flash_maps() -> None:
    photon, electron = platforms.by_name("photon"), platforms.by_name("electron")
    assert photon.slot(F.SYSTEM_PART, 2).start == 0x08060000 and photon.slot(F.USER_PART, 1).start == 0x080A0000
    assert [(s.index, s.start, s.asset) for s in electron.slots if s.function == F.SYSTEM_PART] == [
        (1, 0x08020000, "system-part2"),
        (2, 0x08040000, "system-part3"),
        (3, 0x08060000, "system-part1"),
    ]
    assert electron.bootloader_embedded and not photon.bootloader_embedded
    assert photon.ota_region == platforms.Region(0x080C0000, 0x08100000, 0, 0x080C0000)
    assert electron.ota_region is not None and electron.ota_region.end == 0x080E0000
    assert [a.alt for a in platforms.by_name("p1").dfu_alts] == [0, 1, 2]


def test_gen3_user_part_moved_in_3_1_0() -> None:
    boron = platforms.by_name("boron")
    old, new = boron.user_slot(3005), boron.user_slot(3103)
    assert (old.index, old.start, old.end) == (1, 0xD4000, 0xF4000)
    assert (new.index, new.start, new.end) == (2, 0xB4000, 0xF4000)
    assert boron.slot(F.SYSTEM_PART, 1, 4005).end == 0xB4000
    assert boron.slot(F.SYSTEM_PART, 1, 2202).end == 0xD4000
    assert platforms.by_name("xenon").user_slot(9999).start == 0xD4000  # never got the 256 KB app


def test_gen3_ota_region_depends_on_external_flash_size() -> None:
    assert platforms.by_name("boron").ota_region.dfu_address == 0x80289000  # type: ignore[union-attr]
    assert platforms.by_name("tracker").ota_region.dfu_address == 0x80689000  # type: ignore[union-attr]
    assert platforms.by_name("b5som").ota_region.dfu_address == 0x80689000  # type: ignore[union-attr]
    assert platforms.by_name("tracker").dfu_alt(2).memory_map.endswith("2048*004Kg")


@pytest.mark.parametrize("name", ["photon", "electron", "boron", "tracker"])
def test_memory_maps_cover_flash_and_protect_the_right_sectors(name: str) -> None:
    p = platforms.by_name(name)
    internal = sectors(p.dfu_alt(0).memory_map)
    assert sum(size for _, size, _ in internal) == 1024 * 1024
    readonly = [(a, a + s) for a, s, kind in internal if kind == "a"]
    if p.generation == 2:
        assert readonly == [(0x08000000, 0x08004000), (0x08004000, 0x08008000), (0x08008000, 0x0800C000)]
    else:
        assert readonly[0] == (0, 0x1000) and readonly[-1] == (0xFF000, 0x100000) and len(readonly) == 9
        assert sectors(p.dfu_alt(1).memory_map) == [(0, 16384, "e")]
    for slot in p.slots:
        if slot.storage == "internal" and slot.function != F.BOOTLOADER:
            writable = [a for a, s, kind in internal if slot.start <= a < slot.end]
            assert writable and all(k == "g" for a, s, k in internal if slot.start <= a < slot.end)


def test_dct_offsets() -> None:
    assert platforms.by_name("argon").setup_done_offset == 8134
    assert platforms.by_name("photon").setup_done_offset is None
    assert {p.ota_flag_offset for p in platforms.PLATFORMS if p.generation in (2, 3) and p.family != "rtl872x"} == {
        1753
    }


def test_lookup_errors_are_sentences() -> None:
    with pytest.raises(UnknownPlatformError, match="Unknown platform 'photon3': use one of"):
        platforms.by_name("photon3")
    with pytest.raises(UnknownPlatformError, match="Platform id 99"):
        platforms.by_id(99)
    assert platforms.by_name(" B SoM ").id == 23 and platforms.by_name("E-Series").id == 10


def test_core_is_parsed_never_flashed() -> None:
    core = platforms.by_id(0)
    assert not core.flashable and not core.methods and core.slot(F.MONO_FIRMWARE, 0).prefix_offset == 0x10C
