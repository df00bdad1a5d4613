"""A simulated board and a Device driving it, for planner/runner tests."""

from __future__ import annotations

from rig.assemble import simulated_device
from rig.device import Device
from rig.firmware.format import ModuleFunction as F
from rig.firmware.release import Release
from rig.sim.board import Board, BoardSettings
from rig.sim.lab import Lab
from rig.transport.cloud import CloudClient


def board_and_device(lab: Lab, platform: str, version: str, online: bool = False) -> tuple[Board, Device]:
    board = lab.add_board("dut", platform, version, settings=BoardSettings(online=online))
    dev = simulated_device(lab, "dut", cloud=CloudClient() if online else None)
    if online:
        lab.settle(5)
    return board, dev


def on_board(board: Board) -> dict[tuple[int, int], int]:
    """Versions of the valid modules in the board's flash (NCP excluded)."""
    return {
        (int(m.function), m.index): m.version
        for m in board.installed()
        if m.integrity_ok and m.function != F.NCP_FIRMWARE
    }


def release_versions(release: Release) -> dict[tuple[int, int], int]:
    return {
        (int(s.module.function), s.module.index): s.module.version
        for s in release.modules()
        if s.module.function != F.NCP_FIRMWARE
    }
