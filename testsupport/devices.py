"""A rig Device driving a simulated board, for device, planner and runner tests."""

from __future__ import annotations

from rig.assemble import simulated_device
from rig.board_settings import BoardSettings
from rig.device import Device
from rig.sim.board import Board
from rig.sim.lab import Lab
from rig.transport.cloud import CloudClient


def device(lab: Lab, board: Board, name: str) -> Device:
    """A Device for the lab's board `name`, built as every bench builds it (rig.assemble)."""
    return simulated_device(lab, name)


def board_and_device(lab: Lab, platform: str, version: str, online: bool = False) -> tuple[Board, Device]:
    """A board "dut" on `version` and a Device for it; online: on the cloud, with a cloud client."""
    board = lab.add_board("dut", platform, version, settings=BoardSettings(online=online))
    dev = simulated_device(lab, "dut", cloud=CloudClient() if online else None)
    if online:
        lab.settle(5)
    return board, dev
