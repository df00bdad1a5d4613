"""The flashing paths and the methods built from them: the one list every layer uses.

A path carries one module file (or one raw write) to a board; its implementation is one module
in `rig/device/paths/` (registered in `rig.device.paths.PATHS`). A method is what the planner
plans with: every path by its own name, plus `restore` (the whole release through the rig's own
DfuSe writes, in Device Restore order) and `particle-update@CLI_VERSION`.
"""

from __future__ import annotations

from enum import StrEnum


class Via(StrEnum):
    """A flashing path (docs/DESIGN.md "Flashing paths")."""

    DFU = "dfu"
    SERIAL = "serial"
    USB = "usb"
    OTA = "ota"
    DFU_UTIL = "dfu-util"
    PARTICLE_CLI = "particle-cli"
    SWD = "swd"


RESTORE = "restore"
PARTICLE_UPDATE = "particle-update"
METHODS: tuple[str, ...] = (*Via, RESTORE)  # in the order help texts and errors list them
ALL_METHODS = frozenset({*METHODS, PARTICLE_UPDATE})
# paths that write bytes where they go (nothing inflates or combines): DFU writes and SWD
RAW = frozenset({Via.DFU, Via.DFU_UTIL, Via.PARTICLE_CLI, Via.SWD})


def via_or_none(name: str) -> Via | None:
    """The path of that name, or None."""
    try:
        return Via(name)
    except ValueError:
        return None
