"""One board: find it on USB (again after every reset), know its mode, identify it.

The mode comes from the USB ids (DFU or not) and control request 72; safe mode from the module
validity the board reports. Identity and modules come over control requests when the firmware
runs, over the listening console for old firmware, and from flash reads in DFU mode.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

import serial.tools.list_ports

from rig import platforms
from rig.board_mode import Mode
from rig.clock import Clock, wait_for
from rig.device.power import PowerPort
from rig.device.story import Mark, Note
from rig.firmware import versions
from rig.firmware.format import PREFIX_SIZE, ModuleFunction
from rig.firmware.module import ModuleError
from rig.firmware.parse import problems, read_modules
from rig.proto import control as pb
from rig.transport import usb as tusb
from rig.transport.cloud import CloudClient, EventStream
from rig.transport.control import ControlChannel
from rig.transport.dfuse import DfuSe
from rig.transport.errors import BoardNotFoundError, TimeoutError_, TransportError
from rig.transport.hub import Uhubctl, UhubctlPort

RUNNING = frozenset({Mode.NORMAL, Mode.SAFE, Mode.LISTENING})  # the firmware runs and answers control requests


@dataclass(frozen=True)
class ModuleRecord:
    """An installed module as the board reports it."""

    function: int
    index: int
    version: int
    size: int
    valid: bool
    dependencies: tuple[tuple[int, int, int], ...] = ()
    sha256: str | None = None  # known for user parts (describe `u`) and for modules read from flash

    @property
    def label(self) -> str:
        """e.g. 'system part 1 v2302'."""
        return f"{ModuleFunction(self.function).label} {self.index} v{self.version}"


@dataclass
class Identity:
    """What identify() learns."""

    device_id: str
    platform: str
    device_os: str
    mode: Mode
    imei: str | None = None
    iccid: str | None = None
    modules: list[ModuleRecord] = field(default_factory=list)


@dataclass(frozen=True)
class HubPort:
    """Where the board is plugged in (uhubctl -l/-p)."""

    location: str
    port: int


@dataclass
class Device:
    """A board of the bench, driven through the real protocols."""

    device_id: str
    platform: platforms.Platform
    clock: Clock
    hub: HubPort | None = None
    serial_url: str | None = None
    uhubctl: Uhubctl = field(default_factory=Uhubctl)
    cloud: CloudClient | None = None
    name: str = ""
    swd_probe: str | None = None
    power_port: PowerPort | None = None  # a supply other than the hub port's uhubctl (a remote bench)
    log: list[str] = field(default_factory=list)
    serial_log: bytearray = field(default_factory=bytearray)  # what the board printed on its console
    notes: list[Note] = field(default_factory=list)  # the log's lines, timed (rig.device.story)
    path_start: Mark | None = None  # set by a path's set-up (ensure_release): the next run's log starts there

    def __post_init__(self) -> None:
        self.device_id = self.device_id.lower()
        self.name = self.name or self.device_id

    @property
    def power(self) -> PowerPort | None:
        """The board's switchable supply (its hub port through uhubctl), None without one."""
        if self.power_port is not None:
            return self.power_port
        return UhubctlPort(self.uhubctl, self.hub.location, self.hub.port) if self.hub is not None else None

    def note(self, text: str) -> None:
        """Record a step (kept for reports): in `log` on the bench clock, in `notes` timed."""
        now = self.clock.now()
        self.notes.append(Note(now, time.perf_counter(), text))
        self.log.append(f"{now:9.2f}s {text}")

    def mark(self) -> Mark:
        """Where a story (a path, a run) begins: now, and the next note."""
        return Mark(self.clock.now(), time.perf_counter(), len(self.notes))

    # ---- finding ---------------------------------------------------------------------

    def usb(self) -> tusb.UsbBoard | None:
        """The board on USB now (a fresh pyusb Device every time), or None."""
        return tusb.find(self.device_id, expected_location=self.location)

    @property
    def location(self) -> str | None:
        """Where the board should be on USB, from its hub port (uhubctl's and sysfs's spelling)."""
        if self.hub is None:
            return None
        joiner = "." if "-" in self.hub.location else "-"
        return f"{self.hub.location}{joiner}{self.hub.port}"

    def present(self) -> bool:
        """True when the board is on USB."""
        return self.usb() is not None

    def usb_address(self) -> int | None:
        """The board's USB address now (new at every enumeration), None when it is not on USB."""
        board = self.usb()
        return int(board.device.address) if board is not None else None

    def reset_seen(self) -> Callable[[], bool]:
        """A check that the board left USB or came back at a new address since now: a reset that
        is over before the next poll still counts.
        """
        before = self.usb_address()

        def seen() -> bool:
            now = self.usb_address()
            return now is None or now != before

        return seen

    def wait_usb(self, dfu: bool | None = None, timeout: float = 30.0) -> tusb.UsbBoard:
        """Wait until the board enumerates (in DFU mode or not, when given)."""
        found: list[tusb.UsbBoard] = []

        def ready() -> bool:
            board = self.usb()
            if board is not None and (dfu is None or board.dfu == dfu):
                found.append(board)
                return True
            return False

        if not wait_for(ready, self.clock, timeout, interval=0.5):
            want = {True: " in DFU mode", False: " in normal mode", None: ""}[dfu]
            raise TimeoutError_(f"{self.name} did not appear on USB{want} within {timeout:g} s.")
        return found[-1]

    def require_usb(self) -> tusb.UsbBoard:
        """The board on USB, or a one-sentence error."""
        board = self.usb()
        if board is None:
            where = f" (hub {self.hub.location} port {self.hub.port})" if self.hub else ""
            raise BoardNotFoundError(
                f"{self.name} ({self.device_id}) is not on USB{where}: check the cable and "
                "hub power (rig power NAME on)."
            )
        return board

    def port_url(self) -> str:
        """The board's serial port: from devices.yaml, else found by its USB serial number."""
        if self.serial_url:
            return self.serial_url
        for info in serial.tools.list_ports.comports():
            if (info.serial_number or "").lower() == self.device_id:
                return str(info.device)
        raise BoardNotFoundError(f"{self.name} has no serial port (is it in DFU mode or off?).")

    def control(self, timeout: float = 60.0, board: tusb.UsbBoard | None = None) -> ControlChannel:
        """Control requests to the running firmware (of `board`, found just now, else found on USB);
        like particle-usb's open, it first cancels any request an earlier host left active (RESET 0,
        §4.4), so a board a killed run left busy recovers.
        """
        board = board or self.require_usb()
        if board.dfu:
            raise TransportError(f"{self.name} is in DFU mode: control requests need the firmware running.")
        channel = ControlChannel(board.device, self.clock, timeout)
        channel.reset_all()
        return channel

    # ---- state -----------------------------------------------------------------------

    def mode(self) -> Mode:
        """Off / normal / listening / DFU / safe mode (§4.3 request 72; safe from module validity)."""
        return self._mode(tell_safe=True)

    def in_mode(self, accept: Collection[Mode]) -> bool:
        """True when the board is in one of `accept` modes; the module list (request 90) is asked
        only when it decides, that is when `accept` holds one of normal and safe mode, not both.
        """
        return self._mode(tell_safe=(Mode.NORMAL in accept) != (Mode.SAFE in accept)) in accept

    def _mode(self, tell_safe: bool) -> Mode:
        """The mode; without `tell_safe`, safe mode reads as normal (request 72 does not tell them
        apart, only the module validity of request 90 does).
        """
        board = self.usb()
        if board is None:
            return Mode.OFF
        if board.dfu:
            return Mode.DFU
        ctl = ControlChannel(board.device, self.clock, timeout=10)
        if ctl.get_device_mode().mode == 1:
            return Mode.LISTENING
        if not tell_safe:
            return Mode.NORMAL
        return Mode.SAFE if any(not m.valid for m in self.modules_usb(ctl)) else Mode.NORMAL

    def modules(self) -> list[ModuleRecord]:
        """What is installed, in any mode: control request 90 when the firmware runs, the module
        headers read back from flash over DfuSe in DFU mode (the firmware is not running to ask).
        """
        board = self.require_usb()
        return _modules_from_flash(self, board) if board.dfu else self.modules_usb(self.control(board=board))

    def modules_usb(self, ctl: ControlChannel | None = None) -> list[ModuleRecord]:
        """Installed modules from control request 90."""
        ctl = ctl or self.control()
        reply = ctl.get_module_info(timeout=10)
        out = []
        for m in reply.modules:
            deps = tuple((pb.FUNCTION_OF_MODULE_TYPE.get(d.type, 0), d.index, d.version) for d in m.dependencies)
            out.append(
                ModuleRecord(
                    pb.FUNCTION_OF_MODULE_TYPE.get(m.type, 0), m.index, m.version, m.size, m.validity == 0, deps
                )
            )
        return out

    # ---- the cloud ---------------------------------------------------------------------

    def cloud_events(self) -> EventStream | None:
        """The board's cloud events from now on (None without a cloud)."""
        return self.cloud.events(self.device_id) if self.cloud is not None else None

    def online(self) -> bool:
        """True when the cloud says the board is connected (False without a cloud, or when it cannot say)."""
        try:
            return self.cloud is not None and bool(self.cloud.device(self.device_id).get("online"))
        except TransportError:
            return False

    def wait_online(self, timeout: float) -> None:
        """Wait until the cloud sees the board connected (nothing to wait for without a cloud)."""
        if self.cloud is not None:
            self.cloud.wait_online(self.device_id, self.clock, timeout)

    def device_os(self, modules: list[ModuleRecord]) -> str:
        """Device OS version from system part 1's module version."""
        part1 = next((m for m in modules if m.function == 4 and m.index == 1), None)
        if part1 is None:
            return "unknown"
        return versions.device_os_or_none(part1.version) or f"module version {part1.version}"


def _modules_from_flash(dev: Device, board: tusb.UsbBoard) -> list[ModuleRecord]:
    """Modules found by reading each slot's header back over DfuSe (board in DFU mode)."""
    dfu = DfuSe(board.device, dev.clock)
    plat = dev.platform
    out: list[ModuleRecord] = []
    seen: set[int] = set()
    for slot in plat.slots:
        if slot.storage != "internal" or slot.start in seen or slot.grows_left:
            continue
        seen.add(slot.start)
        if slot.function == ModuleFunction.RADIO_STACK:
            continue  # the SoftDevice carries no Particle header in flash
        try:
            head = dfu.read(0, slot.start + slot.prefix_offset, PREFIX_SIZE)
        except TransportError:
            continue
        start, end = struct.unpack_from("<II", head)
        if start != slot.start or not slot.start < end <= slot.end:
            continue
        try:
            module = read_modules(dfu.read(0, slot.start, end - start + 4), "flash")[0]
        except (ModuleError, TransportError):
            continue
        deps = tuple((int(d.function), d.index, d.version) for d in module.real_dependencies)
        out.append(
            ModuleRecord(
                int(module.function),
                module.index,
                module.version,
                module.size,
                module.crc_ok and not problems(module),
                deps,
            )
        )
    return out
