"""What every flashing path implements, and what they share (docs/DESIGN.md "Flashing paths")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from rig.device.board import Device
from rig.errors import EXIT_USER_ERROR
from rig.firmware.dfu_writes import DfuWrite
from rig.firmware.module import Module
from rig.methods import Via
from rig.transport.errors import TransportError


class FlashRefused(TransportError):
    """The module cannot go over this path to this board; nothing was written."""

    exit_code = EXIT_USER_ERROR


@dataclass(frozen=True)
class ModuleFile:
    """A module file as it is sent: its name, its bytes, and the module(s) parsed from them."""

    name: str
    data: bytes
    modules: tuple[Module, ...]


@runtime_checkable
class FlashPath(Protocol):
    """One way of getting a module file onto a board."""

    via: Via

    def send(self, dev: Device, file: ModuleFile) -> None:
        """Send `file`; returns once the board has taken it (it may still be rebooting)."""
        ...


@runtime_checkable
class DfuWriter(FlashPath, Protocol):
    """A path that can also make single raw DFU writes (the planner's DFU steps)."""

    leaves_with_last_write: bool  # ends DFU mode with the plan's last write (dfu-util's `:leave`)

    def write(self, dev: Device, write: DfuWrite, leave: bool) -> bool:
        """One raw write with the board in DFU mode; `leave` ends DFU mode after it (True: it left)."""
        ...
