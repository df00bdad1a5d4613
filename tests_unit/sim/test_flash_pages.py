"""Simulated flash is sparse and shared, yet reads and writes exactly as one flat NOR array would."""

from __future__ import annotations

import random

import pytest

from rig.firmware.format import ModuleFunction as F
from rig.sim.lab import Lab
from rig.sim.memory import PAGE, Bank, FlashFault

SECTORS = ((0x10000, 0x4000), (0x14000, 0x4000), (0x18000, 0x8000), (0x20000, 0x10000))
BASE, SIZE = 0x10000, 0x20000


def bank(nor: bool = True) -> Bank:
    """A small bank of mixed sector sizes (16, 16, 32, 64 KB)."""
    return Bank("test", BASE, SECTORS, {0x4000: 0.1, 0x8000: 0.2, 0x10000: 0.3}, 1e-6, nor=nor)


def test_a_fresh_bank_holds_no_page_and_reads_erased() -> None:
    b = bank()
    assert b.pages == {}
    assert b.read(BASE, SIZE) == b"\xff" * SIZE
    assert b.data == b"\xff" * SIZE


def test_a_write_allocates_only_the_pages_it_touches_and_an_erase_frees_them() -> None:
    b = bank()
    b.program(BASE + 3 * PAGE - 2, b"\x00\x01\x02\x03")  # straddles pages 2 and 3
    assert sorted(b.pages) == [2, 3]
    b.program(BASE + 9 * PAGE, b"\xff" * PAGE)  # erased bytes written over erased bytes
    assert sorted(b.pages) == [2, 3]
    b.erase_sector(BASE)  # pages 0-3
    assert b.pages == {} and b.read(BASE, 4 * PAGE) == b"\xff" * (4 * PAGE)


@pytest.mark.parametrize("nor", [True, False])
def test_reads_match_a_flat_nor_array_after_random_erases_and_writes(nor: bool) -> None:
    rng = random.Random(16 + nor)
    b, flat = bank(nor), bytearray(b"\xff" * SIZE)
    for _ in range(400):
        op = rng.choice(["program", "program", "raw", "erase"])
        if op == "erase":
            start, size = b.sector_at(BASE + rng.randrange(SIZE))
            b.erase_sector(start)
            flat[start - BASE : start - BASE + size] = b"\xff" * size
            continue
        length = rng.choice([1, 3, 100, PAGE - 1, PAGE, PAGE + 7, 3 * PAGE])
        off = rng.choice([rng.randrange(SIZE - length), rng.randrange(SIZE // PAGE - 3) * PAGE])
        data = rng.randbytes(length)
        if op == "program":
            b.program(BASE + off, data)
            if nor:
                data = bytes(x & y for x, y in zip(flat[off : off + length], data, strict=True))
        else:
            b.write_raw(BASE + off, data)
        flat[off : off + length] = data
        at = rng.randrange(SIZE - 2 * PAGE)
        assert b.read(BASE + at, 2 * PAGE) == flat[at : at + 2 * PAGE]
    assert b.data == flat
    assert all(page != b"\xff" * PAGE and len(page) == PAGE for page in b.pages.values())


def test_accesses_outside_the_bank_are_refused_and_change_nothing() -> None:
    b = bank()
    for address in (BASE - 1, BASE + SIZE - 1):
        with pytest.raises(FlashFault):
            b.read(address, 2)
        with pytest.raises(FlashFault):
            b.program(address, b"\x00\x00")
        with pytest.raises(FlashFault):
            b.write_raw(address, b"\x00\x00")
    with pytest.raises(FlashFault):
        b.write_raw(BASE + SIZE + 1, b"")
    assert b.pages == {}


def pages_of(ranges: list[tuple[int, int]]) -> set[int]:
    """Absolute page numbers covered by (address, length) ranges."""
    return {n for address, length in ranges for n in range(address // PAGE, (address + length - 1) // PAGE + 1)}


def test_a_fresh_board_holds_only_the_pages_of_its_modules(lab: Lab) -> None:
    board = lab.add_board("b", "tracker", "4.0.1")
    images = [m.image for m in lab.release_modules("tracker", "4.0.1") if m.image.function != F.NCP_FIRMWARE]
    held = {(bank.base // PAGE) + n for bank in (board.mem.internal, board.mem.external) if bank for n in bank.pages}
    assert held and held <= pages_of([(i.start, len(i.flash_data)) for i in images])
    assert len(held) * PAGE < 2 * 1024 * 1024  # of 9 MB of flash (1 MB internal, 8 MB external)


def test_boards_built_from_one_release_share_pages_until_one_writes(lab: Lab) -> None:
    one, two, three = (lab.add_board(n, "boron", "2.2.0") for n in ("one", "two", "three"))
    part1 = next(m.image for m in lab.release_modules("boron", "2.2.0") if m.image.function == F.SYSTEM_PART)
    first = part1.start // PAGE
    assert one.mem.internal.pages[first] is two.mem.internal.pages[first]  # shared, not copied
    before = bytes(two.mem.internal.data), bytes(two.mem.external.data if two.mem.external else b"")

    one.mem.internal.program(part1.start, b"\x00" * 16)  # into a shared page
    one.mem.internal.erase_range(part1.start + 0x10000, PAGE)  # a shared sector
    one.dct_write(0, b"\x12\x34")

    assert one.mem.read(part1.start, 16) == b"\x00" * 16
    assert two.mem.internal.data == before[0] and (two.mem.external.data if two.mem.external else b"") == before[1]
    assert two.mem.internal.pages[first] is three.mem.internal.pages[first]
    assert two.dct_read(0, 2) != b"\x12\x34"
