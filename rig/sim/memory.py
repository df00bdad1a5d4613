"""A simulated board's non-volatile memory: flash banks as bytes at their real addresses.

NOR-flash semantics: erased bytes are 0xFF, a write can only clear bits (new = old & data), so a
host that forgets to erase corrupts what it writes, as on real hardware. Layouts come from
rig.platforms (§2.2–§2.6); erase and write times from rig.timing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rig import platforms, timing


class FlashFault(Exception):
    """An access outside a bank or across a write-protected area."""


@dataclass
class Bank:
    """One flash device (or region) with its sector layout."""

    name: str
    base: int
    sectors: list[tuple[int, int]]  # (start address, size)
    erase_seconds: dict[int, float]  # sector size -> erase time
    write_seconds_per_byte: float
    data: bytearray = field(default_factory=bytearray)
    nor: bool = True  # False for the DCT, a record the system rewrites (erase included) on write

    def __post_init__(self) -> None:
        if not self.data:
            self.data = bytearray(b"\xff" * self.size)

    @property
    def size(self) -> int:
        """Bytes in the bank."""
        return sum(size for _, size in self.sectors)

    @property
    def end(self) -> int:
        """First address after the bank."""
        return self.base + self.size

    def contains(self, address: int, length: int = 1) -> bool:
        """True when [address, address+length) lies inside the bank."""
        return self.base <= address and address + length <= self.end

    def _offset(self, address: int, length: int) -> int:
        if not self.contains(address, length):
            raise FlashFault(f"{self.name}: 0x{address:x}+{length} is outside 0x{self.base:x}-0x{self.end:x}")
        return address - self.base

    def read(self, address: int, length: int) -> bytes:
        """Bytes at an address."""
        off = self._offset(address, length)
        return bytes(self.data[off : off + length])

    def sector_at(self, address: int) -> tuple[int, int]:
        """(start, size) of the sector holding `address`."""
        for start, size in self.sectors:
            if start <= address < start + size:
                return start, size
        raise FlashFault(f"{self.name}: no sector at 0x{address:x}")

    def erase_sector(self, address: int) -> float:
        """Erase the sector holding `address`; returns the modelled seconds it took."""
        start, size = self.sector_at(address)
        off = start - self.base
        self.data[off : off + size] = b"\xff" * size
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
        off = self._offset(address, len(data))
        if self.nor:
            old = int.from_bytes(self.data[off : off + len(data)], "little")
            data = (old & int.from_bytes(data, "little")).to_bytes(len(data), "little")
        self.data[off : off + len(data)] = data
        return len(data) * self.write_seconds_per_byte

    def write_raw(self, address: int, data: bytes) -> None:
        """Set bytes directly (factory programming / SWD), no timing."""
        off = self._offset(address, len(data))
        self.data[off : off + len(data)] = data


def _uniform(base: int, size: int, sector: int) -> list[tuple[int, int]]:
    return [(base + i, sector) for i in range(0, size, sector)]


def _stm32f2_sectors() -> list[tuple[int, int]]:
    # 4 x 16 KB, 1 x 64 KB, 7 x 128 KB (§2.5 memory map of alt 0)
    sizes = [16384] * 4 + [65536] + [131072] * 7
    out, addr = [], 0x08000000
    for size in sizes:
        out.append((addr, size))
        addr += size
    return out


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
    dct = Bank("dct", 0x0, [(0, DCT_SIZE)], {DCT_SIZE: t.erase_seconds.get(16384, 0.25)}, t.write_seconds_per_byte)
    return Memory(internal, dct, ext)
