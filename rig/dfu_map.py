"""DfuSe memory-map strings (the alt settings' iInterface strings, particle-protocols §2.5, §5.4)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Segment:
    """One run of sectors of a DfuSe memory map."""

    start: int
    sector_size: int
    count: int
    readable: bool
    erasable: bool
    writable: bool

    @property
    def end(self) -> int:
        """First address after the segment."""
        return self.start + self.sector_size * self.count


_MAP_ENTRY = re.compile(r"(\d+)\*(\d+)([ KM])([a-g])")


def parse_memory_map(text: str) -> tuple[str, list[Segment]]:
    """(name, segments) of a DfuSe memory-map string such as
    "@Internal Flash /0x08000000/03*016Ka,01*016Kg" (type letter - 'a' + 1: read 1, erase 2, write 4; §5.4).
    """
    name, segments = _parsed(text)
    return name, list(segments)


@lru_cache(maxsize=64)  # a board's few maps are asked for at every DFU request the simulator answers
def _parsed(text: str) -> tuple[str, tuple[Segment, ...]]:
    m = re.match(r"^@([^/]*)/0x([0-9A-Fa-f]+)/(.*)$", text.strip())
    if not m:
        raise ValueError(f"not a DfuSe memory map: {text!r}")
    address = int(m.group(2), 16)
    segments = []
    for count, size, unit, kind in _MAP_ENTRY.findall(m.group(3)):
        sector = int(size) * {" ": 1, "K": 1024, "M": 1024 * 1024}[unit]
        bits = ord(kind) - ord("a") + 1
        segments.append(Segment(address, sector, int(count), bool(bits & 1), bool(bits & 2), bool(bits & 4)))
        address += sector * int(count)
    return m.group(1).strip(), tuple(segments)
