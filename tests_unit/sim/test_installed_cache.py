"""A board re-parses a flash slot only after a write or erase touched it, and never answers from a
stale parse: every write, erase, DCT/OTA-flag change and NCP update is seen by `installed()`.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterator

import pytest

from rig import platforms
from rig.firmware import synthetic
from rig.firmware.build import build
from rig.firmware.format import ModuleFunction as F
from rig.firmware.module import Module
from rig.firmware.parse import read_modules
from rig.sim import installed as inst
from rig.sim.board import Board
from rig.sim.lab import Lab
from rig.sim.memory import PAGE, Bank, Memory, memory_for
from rig.sim.ota import OTA_FLAG_SET


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[int]]:
    """Slot start address -> how many times `installed` parsed that slot from flash."""
    counts: Counter[int] = Counter()
    real = inst._read_module_at

    def counting(memory: Memory, address: int, limit: int, offsets: tuple[int, ...]) -> Module | None:
        counts[limit] += 1  # keyed by the slot's end: one slot, one key
        return real(memory, address, limit, offsets)

    monkeypatch.setattr(inst, "_read_module_at", counting)
    yield counts


def module(data: bytes) -> Module:
    """The first module of a built image."""
    return read_modules(data, "test")[0]


def app(version: int, needs: int = 2200) -> Module:
    """A Boron user app of `version`."""
    return module(build(synthetic.user_app("boron", needs, version=version)))


def user_versions(board: Board) -> list[int]:
    """Versions of the valid user parts `installed()` reports."""
    return [m.version for m in board.installed() if m.function == F.USER_PART and m.integrity_ok]


def same_as_a_fresh_parse(board: Board) -> bool:
    """True when the board's answer equals parsing its whole flash now."""
    return board.installed() == inst.installed_modules(board.platform, board.mem, board.ncp_version)


def test_asking_again_parses_nothing(lab: Lab, parses: Counter[int]) -> None:
    board = lab.add_board("b", "boron", "2.2.0")
    first = board.installed()
    assert parses
    parses.clear()
    for _ in range(5):
        assert board.installed() == first
        board.system_module_version(), board.bootloader_version()
    assert not parses


def test_a_write_into_a_slot_is_seen_and_reparses_only_the_slots_it_touched(lab: Lab, parses: Counter[int]) -> None:
    board = lab.add_board("b", "boron", "2.2.0")
    before = user_versions(board)
    new = app(before[0] + 1)
    parses.clear()
    board.install(new)
    assert user_versions(board) == [new.version]
    touched = {s.end for s in board.platform.slots if s.storage != "ncp" and s.start <= new.start < s.end + 4}
    assert set(parses) == touched  # the system parts, bootloader and SoftDevice were not parsed again
    assert same_as_a_fresh_parse(board)


def test_a_write_outside_every_slot_or_into_the_dct_parses_nothing(lab: Lab, parses: Counter[int]) -> None:
    board = lab.add_board("b", "boron", "2.2.0")
    region = board.platform.ota_region
    assert region is not None
    board.installed()
    parses.clear()
    bank = board.mem.bank_for(region.dfu_address)
    bank.erase_range(region.dfu_address, PAGE)
    bank.program(region.dfu_address, b"\x00" * 64)
    board.dct_write(0, b"\x12\x34")
    board.installed()
    assert not parses
    assert same_as_a_fresh_parse(board)


def test_an_erase_is_seen(lab: Lab) -> None:
    board = lab.add_board("b", "boron", "2.2.0")
    [user] = [m for m in board.installed() if m.function == F.USER_PART]
    board.mem.internal.erase_range(user.address, PAGE)
    assert user_versions(board) == []
    assert same_as_a_fresh_parse(board)


def test_a_bit_cleared_in_a_module_makes_it_invalid_at_once(lab: Lab) -> None:
    board = lab.add_board("b", "boron", "2.2.0")
    [part] = [m for m in board.installed() if m.function == F.SYSTEM_PART]
    assert part.integrity_ok and board.system_module_version() == part.version
    board.mem.internal.program(part.address + 0x1000, b"\x00")  # NOR: no erase, corrupts one byte
    assert [m.integrity_ok for m in board.installed() if m.function == F.SYSTEM_PART] == [False]
    assert board.system_module_version() is None


def test_an_ota_flag_set_in_the_dct_installs_the_region_at_boot_and_installed_sees_it(lab: Lab) -> None:
    board = lab.add_board("b", "boron", "2.2.0")
    region, flag = board.platform.ota_region, board.platform.ota_flag_offset
    assert region is not None and flag is not None
    boot = next(m for m in lab.release_modules("boron", "4.0.1") if m.image.function == F.BOOTLOADER)
    assert boot.version > board.bootloader_version()
    bank = board.mem.bank_for(region.dfu_address)
    bank.erase_range(region.dfu_address, len(boot.data))
    bank.program(region.dfu_address, boot.data)
    board.boot()  # flag not set: the region is ignored
    assert board.bootloader_version() != boot.version
    board.dct_write(flag, bytes([OTA_FLAG_SET]))
    board.boot()
    assert board.bootloader_version() == boot.version
    assert board.dct_read(flag, 1) == b"\xff"
    assert same_as_a_fresh_parse(board)


def test_an_ncp_update_is_seen_without_parsing_flash(lab: Lab, parses: Counter[int]) -> None:
    board = lab.add_board("b", "argon", "2.2.0")
    old = [m.version for m in board.installed() if m.function == F.NCP_FIRMWARE]
    parses.clear()
    board.ncp_version = (old[0] if old else 0) + 1
    assert [m.version for m in board.installed() if m.function == F.NCP_FIRMWARE] == [board.ncp_version]
    assert not parses


def test_boards_sharing_pages_keep_their_own_answers(lab: Lab, parses: Counter[int]) -> None:
    one, two = lab.add_board("one", "boron", "2.2.0"), lab.add_board("two", "boron", "2.2.0")
    [user] = [m for m in two.installed() if m.function == F.USER_PART]
    assert one.mem.internal.pages[user.address // PAGE] is two.mem.internal.pages[user.address // PAGE]
    assert one.installed() == two.installed()
    new = app(user.version + 1)
    one.install(new)
    parses.clear()
    assert user_versions(two) == [user.version] and not parses  # two's flash did not change
    assert user_versions(one) == [new.version]
    two.mem.internal.erase_range(user.address, PAGE)
    assert user_versions(two) == [] and user_versions(one) == [new.version]


def test_new_memory_is_parsed_afresh(lab: Lab) -> None:
    board = lab.add_board("b", "boron", "2.2.0")
    assert board.installed()
    board.memory = memory_for(board.platform)
    assert [m for m in board.installed() if m.function != F.NCP_FIRMWARE] == []


def test_random_writes_and_erases_never_leave_a_stale_answer(lab: Lab) -> None:
    rng = random.Random(19)
    board = lab.add_board("b", "boron", "2.2.0")
    modules = [m for m in lab.release_modules("boron", "4.0.1") if m.image.function != F.NCP_FIRMWARE]
    modules += [app(v) for v in (3, 9)]
    spans = [inst.slot_span(s) for s in board.platform.slots if s.storage != "ncp"]
    for step in range(120):
        op = rng.choice(["install", "erase", "program", "raw", "ncp"])
        address, length = rng.choice(spans)
        at = address + rng.choice([0, rng.randrange(length), length - 4])
        bank = board.mem.bank_for(address)
        if op == "install":
            board.install(rng.choice(modules))
        elif op == "erase" and bank.contains(at):
            bank.erase_range(at, 1)
        elif op in ("program", "raw") and bank.contains(at, 8):
            write = bank.program if op == "program" else bank.write_raw
            write(at, rng.randbytes(8))
        elif op == "ncp":
            board.ncp_version = rng.choice([None, 5, 7])
        assert same_as_a_fresh_parse(board), (step, op, hex(at))


def test_every_change_to_a_bank_moves_its_generation_and_marks_only_its_pages() -> None:
    bank = memory_for(platforms.by_name("boron")).internal
    base, seen = bank.base, bank.generation
    steps: list[Callable[[], object]] = [
        lambda: bank.program(base + 5 * PAGE, b"\x00"),
        lambda: bank.write_raw(base + 5 * PAGE + 1, b"\x01"),
        lambda: bank.load(((base + 5 * PAGE + 2, b"\x02"),)),
        lambda: bank.erase_sector(base + 5 * PAGE),
        lambda: bank.erase_range(base + 5 * PAGE, 1),
    ]
    for step in steps:
        step()
        assert bank.generation > seen
        assert bank.changed_since(seen, base + 5 * PAGE, 1)
        assert not bank.changed_since(seen, base, 5 * PAGE) and not bank.changed_since(seen, base + 6 * PAGE, PAGE)
        seen = bank.generation
    bank.read(base, 8 * PAGE)
    assert bank.generation == seen and not bank.changed_since(seen, base, bank.size)


def test_a_bank_built_with_pages_starts_at_generation_zero() -> None:
    bank = Bank("b", 0, ((0, PAGE),), {PAGE: 0.1}, 1e-6, pages={0: b"\x00" * PAGE})
    assert bank.generation == 0 and not bank.changed_since(0, 0, PAGE)
