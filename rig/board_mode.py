"""What a board is doing, as the rig tells it from USB (a fact shared by the planner and the device layer)."""

from __future__ import annotations

from enum import StrEnum


class Mode(StrEnum):
    """What the board is doing."""

    OFF = "off"
    NORMAL = "normal"
    LISTENING = "listening"
    DFU = "dfu"
    SAFE = "safe"
