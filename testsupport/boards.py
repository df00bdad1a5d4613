"""What a simulated board holds: installed module versions, and a snapshot of everything a write changes."""

from __future__ import annotations

from rig.firmware.format import ModuleFunction as F
from rig.firmware.release import Release
from rig.sim.board import Board


def versions_on(board: Board) -> dict[tuple[F, int], int]:
    """Versions of the valid modules in the board's flash, by (function, index)."""
    return {(m.function, m.index): m.version for m in board.installed() if m.integrity_ok}


def on_board(board: Board) -> dict[tuple[int, int], int]:
    """Versions of the valid modules in the board's flash (NCP excluded)."""
    return {
        (int(m.function), m.index): m.version
        for m in board.installed()
        if m.integrity_ok and m.function != F.NCP_FIRMWARE
    }


def release_versions(release: Release) -> dict[tuple[int, int], int]:
    """Versions of the release's modules (NCP excluded), keyed like `on_board`."""
    return {
        (int(s.module.function), s.module.index): s.module.version
        for s in release.modules()
        if s.module.function != F.NCP_FIRMWARE
    }


def snapshot(board: Board) -> tuple[object, ...]:
    """Everything a write would change: flash banks, bytes received, pending updates, update state, NCP."""
    banks = [board.mem.internal, board.mem.dct, board.mem.external]
    return (
        [bytes(b.data) for b in banks if b is not None],
        board.bytes_received,
        list(board.pending),
        board.update,
        board.ncp_version,
    )
