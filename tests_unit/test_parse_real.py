"""Every real binary in ../shared/firmware parsed, with fields asserted against protocols §1.10."""

from __future__ import annotations

import hashlib
import zlib
from pathlib import Path

import pytest

from rig.firmware.format import ModuleFlag
from rig.firmware.format import ModuleFunction as F
from rig.firmware.module import ChecksumError, NotAModuleError
from rig.firmware.parse import parse_file, parse_module, problems, read_modules

NOT_MODULES = [
    "ota-flag-a5.bin",
    "cc3000-patch-programmer.bin",
    "cc3000-patch-programmer_1_14.bin",
    "deep_update_2014_06.bin",
]

# file: bytes, prefix offset, start, end, flags, function, index, platform, version, dep1, dep2,
# product (id, version) or None, suffix size. From particle-protocols.md §1.10 (BVR 3.1.3).
EXPECTED = {
    "photon-bootloader@2.3.1+lto.bin": (15124, 0x184, 0x8000000, 0x8003B10, 0, 2, 0, 6, 1006, (0, 0, 0), (0, 0, 0), (65535, 65535), 40),
    "photon-system-part1@2.3.1.bin": (241496, 0x184, 0x8020000, 0x805AF54, 0, 4, 1, 6, 2302, (4, 2, 207), (0, 0, 0), (65535, 65535), 40),
    "photon-system-part2@1.5.2.bin": (261448, 0x184, 0x8060000, 0x809FD44, 0, 4, 2, 6, 1512, (4, 1, 1512), (2, 0, 400), (65535, 65535), 40),
    "tinker-0.4.5-photon.bin": (5324, 0, 0x80A0000, 0x80A14C8, 0, 5, 1, 6, 3, (4, 2, 6), (0, 0, 0), (6, 2), 40),
    "photon_doctor.bin": (6888, 0, 0x80A0000, 0x80A1AE4, 0, 5, 1, 6, 4, (4, 2, 108), (0, 0, 0), (65535, 65535), 40),
    "p1-bootloader@1.5.0+lto.bin": (16008, 0x184, 0x8000000, 0x8003E84, 0, 2, 0, 8, 501, (0, 0, 0), (0, 0, 0), (65535, 65535), 40),
    "p1-system-part1@2.2.0.bin": (241496, 0x184, 0x8020000, 0x805AF54, 0, 4, 1, 8, 2202, (4, 2, 207), (0, 0, 0), (65535, 65535), 40),
    "p1-system-part2@2.3.1.bin": (261112, 0x184, 0x8060000, 0x809FBF4, 0, 4, 2, 8, 2302, (4, 1, 2302), (2, 0, 1003), (65535, 65535), 40),
    "tinker-0.4.5-p1.bin": (5324, 0, 0x80A0000, 0x80A14C8, 0, 5, 1, 8, 3, (4, 2, 6), (0, 0, 0), (8, 2), 40),
    "electron-bootloader@2.2.0+lto.bin": (15672, 0x184, 0x8000000, 0x8003D34, 0, 2, 0, 10, 1006, (0, 0, 0), (0, 0, 0), (65535, 65535), 40),
    "electron-system-part1@2.3.1.bin": (87468, 0, 0x8060000, 0x80755A8, 0, 4, 3, 10, 2302, (4, 2, 110), (0, 0, 0), (65535, 65535), 40),
    "electron-system-part2@1.5.0.bin": (115956, 0x184, 0x8020000, 0x803C4F0, 0, 4, 1, 10, 1502, (4, 3, 1502), (0, 0, 0), (65535, 65535), 40),
    "electron-system-part3@2.2.0.bin": (122364, 0x184, 0x8040000, 0x805DDF8, 0, 4, 2, 10, 2202, (4, 1, 2202), (2, 0, 1003), (65535, 65535), 40),
    "electron_tinker.bin": (5776, 0, 0x8080000, 0x808168C, 0, 5, 1, 10, 3, (4, 2, 10), (0, 0, 0), (10, 2), 40),
    "argon-bootloader@1.5.0.bin": (41948, 0x200, 0xF4000, 0xFE3D8, 0, 2, 0, 12, 501, (4, 1, 1102), (0, 0, 0), (65535, 65535), 40),
    "argon-softdevice@2.2.0.bin": (153048, 0, 0x1000, 0x265D4, 1, 8, 0, 12, 202, (2, 0, 501), (4, 1, 1321), None, 36),
    "argon-system-part1@4.0.1.bin": (474722, 0x200, 0x30000, 0xA3E5E, 0, 4, 1, 12, 4005, (8, 0, 202), (2, 0, 1101), (65535, 65535), 40),
    "tinker-0.8.0-rc.27-argon.bin": (11972, 0, 0xD4000, 0xD6EC0, 0, 5, 1, 12, 5, (4, 1, 326), (0, 0, 0), (12, 3), 40),
    "boron-bootloader@4.0.1.bin": (48212, 0x200, 0xF4000, 0xFFC50, 0, 2, 0, 13, 1101, (0, 0, 0), (0, 0, 0), (65535, 65535), 40),
    "boron-system-part1@2.2.0.bin": (499160, 0x200, 0x30000, 0xA9DD4, 0, 4, 1, 13, 2202, (2, 0, 1005), (8, 0, 202), (65535, 65535), 40),
    "boron-softdevice@1.5.0.bin": (153048, 0, 0x1000, 0x265D4, 1, 8, 0, 13, 202, (2, 0, 501), (4, 1, 1321), None, 36),
    "tinker-0.8.0-rc.27-boron.bin": (11412, 0, 0xD4000, 0xD6C90, 0, 5, 1, 13, 5, (4, 1, 326), (0, 0, 0), (13, 3), 40),
    "bsom-bootloader@2.2.0.bin": (47324, 0x200, 0xF4000, 0xFF8D8, 0, 2, 0, 23, 1006, (0, 0, 0), (0, 0, 0), (65535, 65535), 40),
    "bsom-system-part1@1.5.2.bin": (653460, 0x200, 0x30000, 0xCF890, 0, 4, 1, 23, 1512, (2, 0, 501), (8, 0, 202), (65535, 65535), 40),
    "bsom-softdevice@4.0.1.bin": (153048, 0, 0x1000, 0x265D4, 1, 8, 0, 23, 202, (2, 0, 501), (4, 1, 1321), None, 36),
    "tinker-1.1.0-rc.1-bsom.bin": (11644, 0, 0xD4000, 0xD6D78, 0, 5, 1, 23, 6, (4, 1, 1100), (0, 0, 0), (23, 3), 40),
    "tracker-bootloader@4.0.1.bin": (48500, 0x200, 0xF4000, 0xFFD70, 0, 2, 0, 26, 1101, (0, 0, 0), (0, 0, 0), (65535, 65535), 40),
    "tracker-system-part1@4.0.1.bin": (534090, 0x200, 0x30000, 0xB2646, 0, 4, 1, 26, 4005, (2, 0, 1101), (7, 0, 7), (65535, 65535), 40),
    "tracker-system-part1@2.2.0.bin": (501648, 0x200, 0x30000, 0xAA78C, 0, 4, 1, 26, 2202, (2, 0, 1006), (8, 0, 202), (65535, 65535), 40),
    "tracker-softdevice@4.0.1.bin": (153048, 0, 0x1000, 0x265D4, 1, 8, 0, 26, 202, (2, 0, 501), (4, 1, 1321), None, 36),
    "tracker-tinker@1.5.4-rc.1.bin": (11568, 0, 0xD4000, 0xD6D2C, 0, 5, 1, 26, 6, (4, 1, 1514), (0, 0, 0), (26, 3), 40),
    "core_tinker.bin": (98932, 0x10C, 0x8005000, 0x801D270, 0, 3, 0, 0, 207, (0, 0, 0), (0, 0, 0), (0, 3), 40),
    "voodoospark.bin": (87060, 0x10C, 0x8005000, 0x801A410, 0, 3, 0, 0, 0, (0, 0, 0), (0, 0, 0), (65535, 65535), 40),
}  # fmt: skip


def all_firmware(firmware_dir: Path) -> list[Path]:
    return sorted(firmware_dir.glob("*.bin"))


def test_every_file_is_parsed_or_rejected_with_a_sentence(firmware_dir: Path) -> None:
    files = all_firmware(firmware_dir)
    assert len(files) >= 95
    for path in files:
        if path.name in NOT_MODULES:
            with pytest.raises(NotAModuleError) as info:
                parse_file(path)
            text = str(info.value)
            assert path.name in text and text.endswith(".") and "\n" not in text
            continue
        modules = parse_file(path)
        assert len(modules) == 1, path.name
        m = modules[0]
        assert m.crc_ok and m.sha_ok and problems(m, path.name) == []
        assert m.size == path.stat().st_size == m.end - m.start + 4


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fields_match_protocols_table(firmware_dir: Path, name: str) -> None:
    size, poff, start, end, flags, func, idx, plat, ver, dep1, dep2, product, sfx = EXPECTED[name]
    data = (firmware_dir / name).read_bytes()
    m = parse_module(data, name)
    assert (m.size, m.prefix_offset, m.start, m.end, int(m.flags)) == (size, poff, start, end, flags)
    assert (int(m.function), m.index, m.platform_id, m.version) == (func, idx, plat, ver)
    assert [(int(d.function), d.index, d.version) for d in m.dependencies] == [dep1, dep2]
    assert ((m.product_id, m.product_version) if product else (None, None)) == (product or (None, None))
    assert m.suffix_size == sfx
    # checksums recomputed here independently of the parser (§1.6)
    assert zlib.crc32(data[:-4]).to_bytes(4, "big") == data[-4:]
    covered = data[24:-40] if flags & ModuleFlag.DROP_MODULE_INFO else data[:-38]
    assert hashlib.sha256(covered).digest() == m.sha256 == data[-38:-6]


def test_platforms_and_kinds_are_all_covered() -> None:
    kinds = {(v[7], v[5]) for v in EXPECTED.values()}
    for plat in (6, 8, 10):
        assert {(plat, 2), (plat, 4), (plat, 5)} <= kinds
    for plat in (12, 13, 23, 26):
        assert {(plat, 2), (plat, 4), (plat, 8), (plat, 5)} <= kinds


def test_electron_file_names_lie(firmware_dir: Path) -> None:
    indices = {n: parse_file(firmware_dir / f"electron-system-part{n}@2.3.1.bin")[0].index for n in (1, 2, 3)}
    assert indices == {1: 3, 2: 1, 3: 2}


def test_softdevice_identical_across_versions_but_platform(firmware_dir: Path) -> None:
    payloads = {p.name: p.read_bytes() for p in firmware_dir.glob("*-softdevice@*.bin")}
    by_platform: dict[str, set[bytes]] = {}
    for name, data in payloads.items():
        by_platform.setdefault(name.split("-")[0], set()).add(data)
    assert all(len(v) == 1 for v in by_platform.values())
    argon, boron = next(iter(by_platform["argon"])), next(iter(by_platform["boron"]))
    diff = [i for i in range(len(argon)) if argon[i] != boron[i]]
    assert diff and all(i in (12, 13) or i >= len(argon) - 38 for i in diff)  # platform id, SHA, CRC


def test_core_modules_parse_but_the_platform_is_not_flashable(firmware_dir: Path) -> None:
    m = parse_file(firmware_dir / "core_doctor.bin")[0]
    assert m.platform_id == 0 and m.function == F.MONO_FIRMWARE and m.prefix_offset == 0x10C
    assert not m.platform.flashable and m.platform.methods == frozenset()


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("ota-flag-a5.bin", "one-byte OTA flag"),
        ("cc3000-patch-programmer.bin", "no Particle module header"),
        ("deep_update_2014_06.bin", "no Particle module header"),
    ],
)
def test_non_modules_say_what_they_are(firmware_dir: Path, name: str, needle: str) -> None:
    with pytest.raises(NotAModuleError, match=needle):
        read_modules((firmware_dir / name).read_bytes(), name)


def test_wrong_crc_is_named(firmware_dir: Path) -> None:
    data = bytearray((firmware_dir / "photon-system-part1@2.3.1.bin").read_bytes())
    data[1000] ^= 0xFF
    m = read_modules(bytes(data), "x.bin")[0]
    assert not m.crc_ok
    with pytest.raises(ChecksumError, match=r"^x\.bin: CRC-32 mismatch \(stored [0-9a-f]{8}, computed [0-9a-f]{8}\)"):
        parse_module(bytes(data), "x.bin")
