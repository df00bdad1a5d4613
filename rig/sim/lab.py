"""The simulated lab: boards on hub ports, and the seams that connect the rig's real code to them.

    with Lab(time_scale=0) as lab:
        lab.add_board("boron-1", "boron", device_os="2.2.0")
        ...  # the rig's code now finds the board with pyusb, opens sim://<id> with pyserial, etc.

`install()` swaps only the seams of DESIGN.md: pyusb's backend (usb.backend.libusb1.get_backend),
pyserial's URL handlers (sim://), uhubctl on PATH, the cloud base URL; the clock is `lab.clock`.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import serial
import serial.tools.list_ports
import usb.backend.libusb1
from serial.tools.list_ports_common import ListPortInfo

from rig import platforms
from rig.board_settings import BoardSettings, Faults
from rig.firmware import synthetic, versions
from rig.firmware.format import ModuleFunction as F
from rig.firmware.module import Module
from rig.firmware.parse import read_modules
from rig.firmware.release import ReleaseStore
from rig.sim import host_programs, registry
from rig.sim import installed as inst
from rig.sim.board import Board, Mode
from rig.sim.clock import SimClock
from rig.sim.cloud import Cloud
from rig.sim.console import SerialPort
from rig.sim.host_programs import HostPrograms
from rig.sim.hub import HubBank
from rig.sim.memory import SharedImages
from rig.sim.usb_backend import SimBackend, SimUsbDevice

CLOUD_URL_ENV = "RIG_CLOUD_URL"  # the cloud base URL seam: the rig's cloud client reads it
CLOUD_TOKEN_ENV = "RIG_CLOUD_TOKEN"


class LabError(Exception):
    """The lab was asked for something it cannot model."""


@dataclass
class SimSlot:
    """A board plugged into a hub port."""

    name: str
    board: Board
    hub: str
    port: int
    usb: SimUsbDevice
    serial: SerialPort

    @property
    def location(self) -> str:
        """USB location as uhubctl and sysfs spell it, e.g. 1-1.3."""
        return f"{self.hub}.{self.port}" if "-" in self.hub else f"{self.hub}-{self.port}"


def device_id_for(name: str) -> str:
    """A stable 24-hex-digit device id derived from the board's name."""
    return "e00f" + hashlib.sha256(name.encode()).hexdigest()[:20]


@dataclass
class Lab:
    """Boards, hubs, the cloud and the clock of one simulated bench."""

    time_scale: float = 0.0
    usb_permission: bool = True
    releases: ReleaseStore | None = None
    clock: SimClock = field(init=False)
    slots: dict[str, SimSlot] = field(default_factory=dict)
    backend: SimBackend = field(init=False)
    hubs: HubBank = field(init=False)
    cloud: Cloud = field(init=False)
    cloud_url: str | None = None
    real_programs: bool = True  # the real uhubctl and dfu-util on a umockdev bus, where the host has them
    usb_ttys: bool = False  # on that bus, CDC ports as /dev/ttyACM<N> too (a served bench)
    programs: HostPrograms | None = None
    _saved: dict[str, Any] = field(default_factory=dict)
    _synthetic: dict[tuple[str, str], list[Module]] = field(default_factory=dict)
    _images: SharedImages = field(default_factory=SharedImages)  # boards share factory-image pages

    def __post_init__(self) -> None:
        self.clock = SimClock(self.time_scale)
        self.backend = SimBackend(
            self.clock, lambda: [s.usb for s in self.slots.values()], lambda: self.usb_permission, self._bus_settled
        )
        self.hubs = HubBank(self.clock, self._board_on_port)
        self.cloud = Cloud(self.clock, self._module_for)

    def _module_for(self, platform: str, function: int, index: int, min_version: int) -> Module | None:
        """The oldest released module (function, index) with version >= min_version, for the
        cloud healer: real releases first, else synthetic ones (never a downgrade).
        """
        found = []
        if self.releases is not None:
            for release in self.releases.releases.values():
                if release.platform.name == platform:
                    found += [
                        s.module
                        for s in release.modules()
                        if s.module.function == function and s.module.index == index and s.module.version >= min_version
                    ]
        if found:
            return min(found, key=lambda m: m.version)
        for row in sorted(versions.VERSIONS, key=lambda v: v.system):
            if row.system < 1500 or (function == F.BOOTLOADER and (row.bootloader or 0) < min_version):
                continue
            if function == F.SYSTEM_PART and row.system < min_version:
                continue
            for m in self.release_modules(platform, row.semver):
                if m.function == function and m.index == index and m.version >= min_version:
                    return m
        return None

    def _bus_settled(self) -> None:
        """The lab's umockdev bus (if any) shows what pyusb sees: a program the rig starts next finds it."""
        if self.programs is not None:
            self.programs.settle()

    def location_of(self, board: Board) -> str:
        """A board's USB location (1-1.2)."""
        return next(s.location for s in self.slots.values() if s.board is board)

    def probes(self) -> dict[str, Board]:
        """Boards by the id of the SWD probe wired to them."""
        return {s.board.settings.swd_probe: s.board for s in self.slots.values() if s.board.settings.swd_probe}

    def _board_on_port(self, hub: str, port: int) -> Board | None:
        for slot in self.slots.values():
            if slot.hub == hub and slot.port == port:
                return slot.board
        return None

    # ---- boards -----------------------------------------------------------------------

    def release_modules(self, platform: str, device_os: str) -> list[Module]:
        """Modules of a release: from the real store when it has it, else synthetic (§6.2 graphs)."""
        plat = platforms.by_name(platform)
        version = versions.normalize(device_os)
        if self.releases is not None and (plat.name, version) in self.releases.releases:
            return [s.module for s in self.releases.get(plat.name, version).modules()]
        key = (plat.name, version)
        if key not in self._synthetic:
            files = synthetic.release_files(plat.name, version)
            self._synthetic[key] = [read_modules(data, name)[0] for name, data in files.items()]
        return self._synthetic[key]

    def add_board(
        self,
        name: str,
        platform: str,
        device_os: str | None = "2.3.1",
        device_id: str | None = None,
        hub: str = "1-1",
        port: int | None = None,
        settings: BoardSettings | None = None,
        modules: list[Module] | None = None,
    ) -> Board:
        """Plug a board in, factory-programmed with a release (or `modules`), running."""
        with self.clock.lock:
            if name in self.slots:
                raise LabError(f"board {name} already exists")
            plat = platforms.by_name(platform)
            if not plat.flashable:
                raise LabError(f"the {plat.display_name} cannot be simulated")
            settings = settings or BoardSettings()
            if settings.ncp_version is None and plat.has_ncp:
                settings.ncp_version = 7 if plat.name == "tracker" else 5
            board = Board(self.clock, plat, device_id or device_id_for(name), settings)
            wanted = (
                modules if modules is not None else (self.release_modules(plat.name, device_os) if device_os else [])
            )
            provision(board, wanted, self._images)
            used = {(s.hub, s.port) for s in self.slots.values()}
            port = port or next(p for p in range(1, 100) if (hub, p) not in used)
            if (hub, port) in used:
                raise LabError(f"hub {hub} port {port} is taken")
            bus, _, path = hub.partition("-")
            ports = tuple(int(p) for p in path.split(".")) if path else ()
            usb_dev = SimUsbDevice(board, int(bus), (*ports, port))
            self.slots[name] = SimSlot(name, board, hub, port, usb_dev, SerialPort(board))
            hub_model = self.hubs.hub(hub)
            hub_model.ports = max(hub_model.ports, port)
            if self._saved:
                registry.register(board, self.slots[name].serial)
            board.powered = True
            board.boot(charge_time=False)
            self.cloud.attach(board, name)
        if self.programs is not None:
            self.programs.plug(name)
        return board

    @staticmethod
    def _parse(data: bytes) -> Module:
        """A module from bytes (for tests and provisioning)."""
        return read_modules(data, "module")[0]

    def board(self, name_or_id: str) -> Board:
        """A board by name or device id (case-insensitive)."""
        key = name_or_id.lower()
        for slot in self.slots.values():
            if slot.name == name_or_id or slot.board.device_id == key:
                return slot.board
        raise LabError(f"no simulated board {name_or_id}")

    def faults(self, name: str) -> Faults:
        """The fault settings of a board."""
        return self.board(name).faults

    def settle(self, seconds: float = 10.0) -> None:
        """Let modelled time pass (boots, resets) without the rig doing anything."""
        self.clock.sleep(seconds)

    # ---- seams --------------------------------------------------------------------------

    def install(self) -> Lab:
        """Connect the seams: pyusb's default backend, sim:// serial ports and port discovery."""
        try:
            return self._install()
        except BaseException:  # half installed: take down what is up (the tools folder included)
            self.uninstall()
            raise

    def _install(self) -> Lab:
        self._saved["get_backend"] = usb.backend.libusb1.get_backend
        self._saved["comports"] = serial.tools.list_ports.comports
        backend = self.backend

        def get_backend(find_library: Any = None) -> SimBackend:
            return backend

        usb.backend.libusb1.get_backend = get_backend
        serial.tools.list_ports.comports = self.comports  # type: ignore[assignment]
        if "rig.sim" not in serial.protocol_handler_packages:
            serial.protocol_handler_packages.append("rig.sim")
        for slot in self.slots.values():
            registry.register(slot.board, slot.serial)
        self.programs = host_programs.start(self, self.real_programs, self.usb_ttys)
        self.cloud_url = self.cloud.serve()
        env = {**self.programs.environment(), CLOUD_URL_ENV: self.cloud_url, CLOUD_TOKEN_ENV: self.cloud.token}
        self._saved["environ"] = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        return self

    def uninstall(self) -> None:
        """Put every seam back as it was."""
        if "get_backend" in self._saved:
            usb.backend.libusb1.get_backend = self._saved.pop("get_backend")
        if "comports" in self._saved:
            serial.tools.list_ports.comports = self._saved.pop("comports")
        for slot in self.slots.values():
            registry.unregister(slot.board)
        for key, value in self._saved.pop("environ", {}).items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self.hubs.release_hangs.set()
        if self.programs is not None:
            self.programs.stop()
            self.programs = None
        self.cloud.stop()
        self._saved.clear()

    def comports(self, include_links: bool = False) -> list[ListPortInfo]:
        """serial.tools.list_ports.comports() for the lab: one sim:// port per board with CDC."""
        out = []
        with self.clock.lock:
            self.clock.run_due()
            for slot in self.slots.values():
                b = slot.board
                if not b.cdc_present:
                    continue
                info = ListPortInfo(f"sim://{b.device_id}", skip_link_detection=True)
                info.vid, info.pid = b.platform.usb_vid, b.usb_product_id
                info.serial_number = b.usb_serial_number
                info.location = f"{slot.location}:1.0"
                info.manufacturer, info.product = "Particle", b.platform.display_name
                info.description = f"{b.platform.display_name} ({info.device})"
                info.hwid = info.usb_info()
                out.append(info)
        return out

    def __enter__(self) -> Lab:
        return self.install()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.uninstall()


def provision(board: Board, modules: list[Module], images: SharedImages | None = None) -> None:
    """Factory-program modules into flash (SWD-like raw writes, no timing, no validation); with
    `images`, boards programmed with the same module share its flash pages until they write.
    """
    images = images or SharedImages()
    for m in modules:
        if m.image.function == F.NCP_FIRMWARE:
            board.ncp_version = m.image.version
            continue
        address, data = inst.flash_image(m)
        board.mem.bank_for(address, len(data)).load(images.chunks(address, data), images)
    has_boot = any(m.image.function == F.BOOTLOADER for m in modules)
    if board.platform.bootloader_embedded and not has_boot:
        for m in modules:  # an Electron release without a bootloader file: use the embedded one
            for embedded in inst.embedded_bootloaders(m.data):
                address, data = inst.flash_image(embedded)
                board.mem.internal.load(images.chunks(address, data), images)
                return


def release_dir_or_none(path: str | None) -> ReleaseStore | None:
    """A release store for a directory, or None."""
    return ReleaseStore.scan(Path(path)) if path else None


__all__ = ["Board", "BoardSettings", "Faults", "Lab", "LabError", "Mode", "device_id_for", "provision"]
