"""Boards of the labs installed in this process, found by device id (for the sim:// handler)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rig.sim.board import Board
    from rig.sim.console import SerialPort


@dataclass(frozen=True)
class Entry:
    """A board and its serial port."""

    board: Board
    port: SerialPort


_BOARDS: dict[str, Entry] = {}


def register(board: Board, port: SerialPort) -> None:
    """Make a board reachable as sim://<device id>."""
    _BOARDS[board.device_id] = Entry(board, port)


def unregister(board: Board) -> None:
    """Forget a board."""
    _BOARDS.pop(board.device_id, None)


def lookup(device_id: str) -> Entry | None:
    """The board with this device id (case-insensitive), if a lab has it."""
    return _BOARDS.get(device_id.strip().lower())
