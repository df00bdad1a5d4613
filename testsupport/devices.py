"""A rig Device driving a simulated board, for device, planner and runner tests."""

from __future__ import annotations

from rig.device import Device, HubPort
from rig.sim.board import Board, BoardSettings
from rig.sim.lab import Lab
from rig.transport.cloud import CloudClient


def device(lab: Lab, board: Board, name: str) -> Device:
    """A Device for the lab's board `name` on its hub port (with the board's SWD probe, no cloud)."""
    slot = lab.slots[name]
    return Device(
        board.device_id,
        board.platform,
        lab.clock,
        HubPort(slot.hub, slot.port),
        name=name,
        swd_probe=board.settings.swd_probe,
    )


def board_and_device(lab: Lab, platform: str, version: str, online: bool = False) -> tuple[Board, Device]:
    """A board "dut" on `version` and a Device for it; online: on the cloud, with a cloud client."""
    board = lab.add_board("dut", platform, version, settings=BoardSettings(online=online))
    slot = lab.slots["dut"]
    dev = Device(
        board.device_id,
        board.platform,
        lab.clock,
        HubPort(slot.hub, slot.port),
        name="dut",
        cloud=CloudClient() if online else None,
    )
    if online:
        lab.settle(5)
    return board, dev
