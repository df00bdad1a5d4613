"""How the simulated lab models one board: its settings and the faults devices.yaml's `sim:` can
inject. One definition of each field and each fault name, for the inventory (which validates
devices.yaml and adds `device_os` and `faults`) and for the simulator (which adds what only it sets).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from pydantic import BaseModel, ConfigDict

_SCHEDULE = {"schedule": True}  # a Faults field that schedules the others, not a fault of its own


class SimOptions(BaseModel):
    """The `sim:` settings of devices.yaml that the simulator takes as they are."""

    model_config = ConfigDict(extra="forbid")

    online: bool = False
    heal: bool = True  # the cloud's safe-mode healer
    setup_done: bool = True
    imei: str | None = None
    iccid: str | None = None
    ncp_version: int | None = None


class BoardSettings(SimOptions):
    """Per-board settings of the simulated lab: devices.yaml's `sim:` and the board's wiring."""

    serial_number: str | None = None
    swd_probe: str | None = None  # unique id of the debug probe wired to this board


@dataclass
class Faults:
    """Faults injected into one board (for the rig's reliability tests)."""

    disconnect_after_bytes: int | None = None  # vanish (power glitch) once this many bytes were received
    dfu_error_status: int | None = None  # next DFU download answers this bStatus
    ymodem_nak_packets: int = 0  # NAK this many YMODEM packets
    ymodem_silent: bool = False  # YMODEM receiver stops answering
    early_reboot_after_bytes: int | None = None  # reboot in the middle of a transfer
    stuck: bool = False  # never comes back after a reset
    port_keeps_power: bool = False  # the hub port does not really cut power
    serial_busy: bool = False  # another program holds the serial port with an exclusive lock
    later: dict[str, int | bool] = field(default_factory=dict, metadata=_SCHEDULE)  # these take effect ...
    later_after_bytes: int | None = field(default=None, metadata=_SCHEDULE)  # ... once this many bytes came


BOARD_FAULTS = tuple(f.name for f in fields(Faults) if not f.metadata.get("schedule"))
HUB_HANGS = "uhubctl_hangs"  # uhubctl never returns for the board's hub (N: the next N calls)
CLOUD_OFFLINE = "cloud_offline"  # the whole cloud does not answer
SIM_FAULTS = frozenset({*BOARD_FAULTS, HUB_HANGS, CLOUD_OFFLINE})  # devices.yaml `sim: faults:` keys
