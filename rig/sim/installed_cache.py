"""What a simulated board knows about its flash: `installed_modules`, with each slot's parse kept
until a write or erase touches the slot (issue 19: re-parsing the whole flash on every
`Board.installed()` was 41 % of the simulated matrix's time).

The flash stays the only source of truth: an entry is the parse of a slot's bytes at a bank
generation (`Bank.generation`, bumped by every change to a page), and it is dropped as soon as
`Bank.changed_since` says a page it read may have changed. Nothing here adds modelled time.
"""

from __future__ import annotations

from dataclasses import dataclass

from rig import platforms
from rig.sim import installed as inst
from rig.sim.memory import Bank, FlashFault, Memory


@dataclass
class _Entry:
    """A slot's parse, valid while `bank` has not changed the slot's pages since `generation`."""

    bank: Bank
    generation: int
    found: inst.Installed | None


@dataclass
class _Result:
    """The last whole answer, valid while no bank has changed at all and the NCP version is the same."""

    banks: tuple[Bank | None, ...]
    generations: tuple[int, ...]
    ncp_version: int | None
    found: list[inst.Installed]


class InstalledCache:
    """`installed_modules` for one board, re-parsing only the slots written or erased since last asked."""

    def __init__(self) -> None:
        self._plat: platforms.Platform | None = None
        self._memory: Memory | None = None
        self._slots: dict[platforms.Slot, _Entry] = {}
        self._last: _Result | None = None

    def installed(self, plat: platforms.Platform, memory: Memory, ncp_version: int | None) -> list[inst.Installed]:
        """The same list `inst.installed_modules(plat, memory, ncp_version)` returns, parsed only where needed."""
        if plat is not self._plat or memory is not self._memory:
            self._plat, self._memory, self._slots, self._last = plat, memory, {}, None
        banks = (memory.internal, memory.external)
        generations = tuple(-1 if bank is None else bank.generation for bank in banks)
        last = self._last
        if (
            last is not None
            and last.ncp_version == ncp_version
            and last.generations == generations
            and all(a is b for a, b in zip(last.banks, banks, strict=True))
        ):
            return list(last.found)
        found = inst.installed_modules(plat, memory, ncp_version, lambda slot: self._slot(plat, memory, slot))
        self._last = _Result(banks, generations, ncp_version, found)
        return list(found)

    def _slot(self, plat: platforms.Platform, memory: Memory, slot: platforms.Slot) -> inst.Installed | None:
        address, length = inst.slot_span(slot)
        try:
            bank = memory.bank_for(address)
        except FlashFault:  # no flash there on this board: nothing to keep
            return inst.in_slot(plat, memory, slot)
        entry = self._slots.get(slot)
        if entry is None or entry.bank is not bank or bank.changed_since(entry.generation, address, length):
            entry = _Entry(bank, bank.generation, inst.in_slot(plat, memory, slot))
            self._slots[slot] = entry
        else:
            entry.generation = bank.generation  # nothing it read has changed up to now
        return entry.found
