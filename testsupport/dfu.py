"""A simulated board into DFU mode, and a whole release written over raw DfuSe (wire-level, no rig transport)."""

from __future__ import annotations

from collections.abc import Set

import usb.core

from rig.firmware.format import ModuleFunction as F
from rig.firmware.release import Release
from rig.proto import control as pb
from rig.sim import installed as inst
from rig.sim.board import Board, Mode
from rig.sim.lab import Lab
from testsupport import usbtools as u


def to_dfu(lab: Lab, board: Board) -> usb.core.Device:
    """Put the board in DFU mode with control request 50 and return its DFU-mode USB device."""
    dev = u.find(board.device_id, dfu=False)
    assert dev is not None, f"{board.device_id} is not on USB"
    assert u.request(dev, pb.DFU_MODE, clock=lab.clock) == (0, b"")
    lab.settle(3)
    assert board.mode == Mode.DFU
    found = u.find(board.device_id, dfu=True)
    assert found is not None
    return found


def dfu_release(lab: Lab, board: Board, release: Release, skip: Set[F] = frozenset()) -> float:
    """Write a whole release as Device Restore does: bootloader via OTA region + flag (§5.6); modelled seconds."""
    dev = to_dfu(lab, board)
    start = lab.clock.now()
    plat = board.platform
    for stored in release.modules():
        m = stored.module
        if m.function in skip:
            continue
        if m.function == F.BOOTLOADER:
            assert plat.ota_region is not None
            assert u.dfu_write(dev, plat.ota_region.dfu_alt, plat.ota_region.dfu_address, m.data) == (0, 5)
        else:
            address, data = inst.flash_image(m)
            assert u.dfu_write(dev, 0, address, data) == (0, 5), stored.name
    if F.BOOTLOADER not in skip:
        assert u.dfu_write(dev, 1, 1753, b"\xa5", erase=False) == (0, 5)
    elapsed = lab.clock.now() - start
    u.dfu_leave(dev)
    lab.settle(10)
    return elapsed
