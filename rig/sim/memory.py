"""A simulated board's non-volatile memory: flash banks as bytes at their real addresses.

NOR-flash semantics: erased bytes are 0xFF, a write can only clear bits (new = old & data), so a
host that forgets to erase corrupts what it writes, as on real hardware. Layouts come from
rig.platforms (§2.2–§2.6); erase and write times from rig.timing.

A bank is sparse: it keeps only the 4 KB pages that hold something other than 0xFF, each as an
immutable `bytes` (a page that is absent reads as erased). A write replaces the pages it touches,
never changes one in place, so boards factory-programmed from the same image (`SharedImages`)
share those pages until they write into them (copy-on-write). A board then costs the pages its
own writes made, not its flash size (figures: docs/fidelity.md, bench/sim_memory.py).

Every change to a page goes through `_put` or `erase_sector`, which bump the bank's `generation`
and note it per page, so a reader can tell whether a region changed since it last looked
(`changed_since`; the board's parse cache, rig.sim.installed_cache). Never change `pages` directly.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from functools import cache

from rig import platforms, timing

PAGE = 4096
ERASED_PAGE = b"\xff" * PAGE

Chunks = tuple[tuple[int, bytes], ...]  # (absolute address, bytes) pieces that never cross a page boundary


class FlashFault(Exception):
    """An access outside a bank or across a write-protected area."""


def split(address: int, data: bytes) -> Chunks:
    """`data` at `address` cut at every page boundary; whole pages are kept as they are stored."""
    out = []
    pos = 0
    while pos < len(data):
        take = min(PAGE - (address + pos) % PAGE, len(data) - pos)
        out.append((address + pos, bytes(data[pos : pos + take])))
        pos += take
    return tuple(out)


@dataclass
class Bank:
    """One flash device (or region) with its sector layout, stored as sparse immutable pages."""

    name: str
    base: int
    sectors: tuple[tuple[int, int], ...]  # (start address, size), ascending; shared by boards of a platform
    erase_seconds: dict[int, float]  # sector size -> erase time
    write_seconds_per_byte: float
    nor: bool = True  # False for the DCT, a record the system rewrites (erase included) on write
    pages: dict[int, bytes] = field(default_factory=dict)  # page number (offset // PAGE) -> its bytes
    size: int = field(init=False)  # bytes in the bank
    generation: int = field(default=0, init=False, compare=False)  # how many page changes so far
    # the page each change touched, in order: touched[g - 1] is the page of generation g
    touched: list[int] = field(default_factory=list, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.size = _checked_size(self.base, self.sectors)

    @property
    def end(self) -> int:
        """First address after the bank."""
        return self.base + self.size

    @property
    def data(self) -> bytes:
        """The whole bank's bytes (a copy: for snapshots and tests)."""
        return self.read(self.base, self.size)

    def contains(self, address: int, length: int = 1) -> bool:
        """True when [address, address+length) lies inside the bank."""
        return self.base <= address and address + length <= self.end

    def _offset(self, address: int, length: int) -> int:
        if not self.contains(address, length):
            raise FlashFault(f"{self.name}: 0x{address:x}+{length} is outside 0x{self.base:x}-0x{self.end:x}")
        return address - self.base

    def changed_since(self, generation: int, address: int, length: int) -> bool:
        """True when a write or erase touched a page of [address, address+length) after `generation`."""
        if generation >= self.generation:
            return False
        first = max(address - self.base, 0) // PAGE
        last = (min(address + length, self.end) - 1 - self.base) // PAGE
        return any(first <= n <= last for n in self.touched[generation:])  # a cache asks often: few changes since

    def _touch(self, number: int) -> None:
        self.generation += 1
        self.touched.append(number)

    def read(self, address: int, length: int) -> bytes:
        """Bytes at an address."""
        off = self._offset(address, length)
        out = bytearray()
        pos = off
        while pos < off + length:
            number, at = divmod(pos, PAGE)
            take = min(PAGE - at, off + length - pos)
            out += self.pages.get(number, ERASED_PAGE)[at : at + take]
            pos += take
        return bytes(out)

    def _put(self, address: int, chunk: bytes, nor: bool, images: SharedImages | None = None) -> None:
        """Store one chunk (inside one page): a new page object, never an in-place change."""
        number, at = divmod(address - self.base, PAGE)
        old = self.pages.get(number)
        if nor and old is not None:
            mine = old[at : at + len(chunk)]
            chunk = (int.from_bytes(mine, "little") & int.from_bytes(chunk, "little")).to_bytes(len(chunk), "little")
        if len(chunk) == PAGE:
            page = chunk  # stored as given: a shared image page stays shared
        else:
            base = old if old is not None else ERASED_PAGE
            page = base[:at] + chunk + base[at + len(chunk) :]
            page = images.page(page) if images is not None else page
        if page == ERASED_PAGE:
            self.pages.pop(number, None)
        else:
            self.pages[number] = page
        self._touch(number)

    def sector_at(self, address: int) -> tuple[int, int]:
        """(start, size) of the sector holding `address`."""
        i = bisect_right(self.sectors, address, key=lambda sector: sector[0]) - 1
        if i >= 0:
            start, size = self.sectors[i]
            if start <= address < start + size:
                return start, size
        raise FlashFault(f"{self.name}: no sector at 0x{address:x}")

    def erase_sector(self, address: int) -> float:
        """Erase the sector holding `address`; returns the modelled seconds it took."""
        start, size = self.sector_at(address)
        first = (start - self.base) // PAGE
        for number in range(first, first + size // PAGE):
            self.pages.pop(number, None)
            self._touch(number)
        return self.erase_seconds[size]

    def erase_range(self, address: int, length: int) -> float:
        """Erase every sector overlapping [address, address+length); returns seconds."""
        seconds = 0.0
        for start, size in self.sectors:
            if start < address + length and address < start + size:
                seconds += self.erase_sector(start)
        return seconds

    def program(self, address: int, data: bytes) -> float:
        """NOR write (bits can only go 1 -> 0); returns the modelled seconds it took."""
        self._offset(address, len(data))
        for at, chunk in split(address, data):
            self._put(at, chunk, self.nor)
        return len(data) * self.write_seconds_per_byte

    def write_raw(self, address: int, data: bytes) -> None:
        """Set bytes directly (factory programming / SWD), no timing."""
        self._offset(address, len(data))
        self.load(split(address, data))

    def load(self, chunks: Chunks, images: SharedImages | None = None) -> None:
        """Set pieces from `split` directly (no timing); whole pages are stored as the same objects,
        and with `images` a partly written page is the same object as every equal one it made.
        """
        if chunks:
            last_at, last = chunks[-1]
            self._offset(chunks[0][0], last_at + len(last) - chunks[0][0])
        for at, chunk in chunks:
            self._put(at, chunk, False, images)


class SharedImages:
    """Factory images cut into pages once, so boards programmed with the same image share its pages."""

    def __init__(self) -> None:
        self._chunks: dict[tuple[int, bytes], Chunks] = {}
        self._pages: dict[bytes, bytes] = {}

    def chunks(self, address: int, data: bytes) -> Chunks:
        """`split(address, data)`, the same objects for every equal image."""
        key = (address, bytes(data))
        if key not in self._chunks:
            self._chunks[key] = split(address, data)
        return self._chunks[key]

    def page(self, page: bytes) -> bytes:
        """The one stored page equal to `page` (kept for the lab's life, like the images)."""
        return self._pages.setdefault(page, page)


@cache
def _checked_size(base: int, sectors: tuple[tuple[int, int], ...]) -> int:
    """Bytes in a bank of contiguous, ascending, page-aligned sectors starting at `base`."""
    address = base
    for start, size in sectors:
        if start != address or size % PAGE or start % PAGE:
            raise ValueError(f"sectors from 0x{base:x} must be contiguous whole {PAGE}-byte pages")
        address += size
    return address - base


@cache
def _uniform(base: int, size: int, sector: int) -> tuple[tuple[int, int], ...]:
    return tuple((base + i, sector) for i in range(0, size, sector))


@cache
def _stm32f2_sectors() -> tuple[tuple[int, int], ...]:
    # 4 x 16 KB, 1 x 64 KB, 7 x 128 KB (§2.5 memory map of alt 0)
    sizes = [16384] * 4 + [65536] + [131072] * 7
    out, addr = [], 0x08000000
    for size in sizes:
        out.append((addr, size))
        addr += size
    return tuple(out)


DCT_SIZE = 16384


@dataclass
class Memory:
    """All banks of one board: internal flash, external flash (if any) and the DCT record."""

    internal: Bank
    dct: Bank
    external: Bank | None = None

    def bank_for(self, address: int, length: int = 1) -> Bank:
        """The flash bank holding an absolute (non-DCT) address."""
        for bank in (self.internal, self.external):
            if bank is not None and bank.contains(address, length):
                return bank
        raise FlashFault(f"no flash at 0x{address:x}")

    def read(self, address: int, length: int) -> bytes:
        """Bytes at an absolute address (internal or external flash)."""
        return self.bank_for(address, length).read(address, length)


def memory_for(plat: platforms.Platform) -> Memory:
    """Blank (erased) memory laid out for a platform."""
    t = timing.FLASH[plat.family]
    if plat.family == "stm32f2":
        internal = Bank("internal", 0x08000000, _stm32f2_sectors(), t.erase_seconds, t.write_seconds_per_byte)
    elif plat.family == "rtl872x":
        internal = Bank(
            "internal", 0x08000000, _uniform(0x08000000, 0x600000, 4096), t.erase_seconds, t.write_seconds_per_byte
        )
    else:
        internal = Bank("internal", 0x0, _uniform(0x0, 0x100000, 4096), t.erase_seconds, t.write_seconds_per_byte)
    ext = None
    if plat.external_flash_size:
        e = timing.FLASH["external"]
        # Gen 3 external flash sits at 0x80000000 as DFU alt 2 shows it (§2.3); the P1's serial
        # flash is only reached through alt 2 at offset 0 (§2.5).
        base = 0 if plat.family == "stm32f2" else platforms.EXTERNAL_DFU_BASE
        ext = Bank(
            "external", base, _uniform(base, plat.external_flash_size, 4096), e.erase_seconds, e.write_seconds_per_byte
        )
    dct = Bank("dct", 0x0, ((0, DCT_SIZE),), {DCT_SIZE: t.erase_seconds.get(16384, 0.25)}, t.write_seconds_per_byte)
    return Memory(internal, dct, ext)
