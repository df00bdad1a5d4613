"""A pure-Python pyusb backend serving the simulated boards (python-stack §1).

Descriptors and strings as a Particle board presents them (CDC 2b04:c0xx or DFU 2b04:d0xx, the
device id as serial number), vendor control requests and DfuSe routed to the board, and the
libusb error conventions: ENODEV for a board that re-enumerated or lost power, EPIPE for a
stall, EACCES (and no LANGID) when the lab denies USB permission.
"""

from __future__ import annotations

import errno
import struct
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import usb.backend
import usb.core

from rig import timing
from rig.sim.board import Board, Mode
from rig.sim.clock import SimClock
from rig.sim.control import ControlChannel, Stall
from rig.sim.dfu import FUNCTIONAL_DESCRIPTOR, DfuSe, DfuStall, memory_map

SPEED_FULL = 2  # usb.util.SPEED_FULL
DFU_ALT_STRING = 6  # string index of alt 0's memory map; 4 and 5 name the interface (§5.8)


def _dfu_config_header(board: Board) -> dict[str, Any]:
    """Configuration descriptor fields of the bootloaders (Gen 2 usbd_dfu_core.c, Gen 3 usbd_dfu.h)."""
    alts = len(board.platform.dfu_alts)
    return {
        "bLength": 9,
        "bDescriptorType": 2,
        "wTotalLength": 9 + 9 * alts + len(FUNCTIONAL_DESCRIPTOR),
        "bNumInterfaces": 1,
        "bConfigurationValue": 1,
        "iConfiguration": 2 if board.platform.generation == 2 else 4,
        "bmAttributes": 0xC0,
        "bMaxPower": 0x32,
        "extra_descriptors": [],
    }


@dataclass
class Desc:
    """An attribute bag for pyusb descriptors."""

    fields: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["fields"][name]
        except KeyError:
            raise AttributeError(name) from None


@dataclass
class SimUsbDevice:
    """One board's presence on the bus: hub location and the protocol endpoints."""

    board: Board
    bus: int
    port_numbers: tuple[int, ...]
    control: ControlChannel = field(init=False)
    dfu: DfuSe = field(init=False)
    address: int = 0
    seen_generation: int = -1

    def __post_init__(self) -> None:
        self.control = ControlChannel(self.board)
        self.dfu = DfuSe(self.board)
        self.board.listeners.append(self._on_change)

    def _on_change(self, board: Board) -> None:
        """A reset or re-enumeration forgets requests in flight and the DFU state."""
        if board.mode in (Mode.BOOTING, Mode.OFF):
            self.control = ControlChannel(board)
            self.dfu = DfuSe(board)


@dataclass
class Handle:
    """An open device: stale once the board re-enumerates."""

    dev: SimUsbDevice
    generation: int


def _err(text: str, code: int, num: int) -> usb.core.USBError:
    return usb.core.USBError(text, code, num)


def _gone() -> usb.core.USBError:
    return _err("No such device (it may have been disconnected)", -4, errno.ENODEV)


def _stall() -> usb.core.USBError:
    return _err("Pipe error", -9, errno.EPIPE)


class SimBackend(usb.backend.IBackend):  # type: ignore[misc]
    """The simulated lab as a libusb replacement."""

    def __init__(
        self, clock: SimClock, devices: Callable[[], Iterable[SimUsbDevice]], permitted: Callable[[], bool]
    ) -> None:
        self._clock = clock
        self._lock = clock.lock
        self._devices = devices
        self._permitted = permitted
        self._next_address = 2  # address 1 is the root hub

    # ---- enumeration and descriptors --------------------------------------------------

    def enumerate_devices(self) -> list[SimUsbDevice]:
        """Boards currently on the bus."""
        with self._lock:
            self._clock.run_due()
            return [d for d in self._devices() if d.board.usb_present]

    def _address(self, dev: SimUsbDevice) -> int:
        """A bus address unique among enumerated devices, new at every enumeration (USB 2.0 §9.1.2)."""
        if dev.seen_generation != dev.board.usb_generation:
            taken = {d.address for d in self._devices() if d is not dev and d.board.usb_present}
            candidate = self._next_address
            while candidate in taken:
                candidate = candidate % 127 + 1
            dev.address, dev.seen_generation = candidate, dev.board.usb_generation
            self._next_address = candidate % 127 + 1
        return dev.address

    def get_device_descriptor(self, dev: SimUsbDevice) -> Desc:
        """Device descriptor, with the bus/address/port fields pyusb copies."""
        b = dev.board
        dfu = b.mode == Mode.DFU
        return Desc(
            {
                "bLength": 18,
                "bDescriptorType": 1,
                "bcdUSB": 0x0200,
                "bDeviceClass": 0x00 if dfu else 0xEF,
                "bDeviceSubClass": 0x00 if dfu else 0x02,
                "bDeviceProtocol": 0x00 if dfu else 0x01,
                "bMaxPacketSize0": 64,
                "idVendor": b.platform.usb_vid,
                "idProduct": b.usb_product_id,
                "bcdDevice": 0x0251,
                "iManufacturer": 1,
                "iProduct": 2,
                "iSerialNumber": 3,
                "bNumConfigurations": 1,
                "address": self._address(dev),
                "bus": dev.bus,
                "port_number": dev.port_numbers[-1],
                "port_numbers": dev.port_numbers,
                "speed": SPEED_FULL,
            }
        )

    def _interfaces(self, dev: SimUsbDevice) -> list[list[Desc]]:
        """Interfaces as lists of alt settings. In DFU mode the functional descriptor follows the
        last alt only, so libusb hands it out as that alt's `extra` alone (§5.8).
        """
        b = dev.board
        if b.mode == Mode.DFU:
            last = len(b.platform.dfu_alts) - 1
            alts = [
                Desc(
                    {
                        "bLength": 9,
                        "bDescriptorType": 4,
                        "bInterfaceNumber": 0,
                        "bAlternateSetting": a.alt,
                        "bNumEndpoints": 0,
                        "bInterfaceClass": 0xFE,
                        "bInterfaceSubClass": 1,
                        "bInterfaceProtocol": 2,
                        "iInterface": DFU_ALT_STRING + a.alt,
                        "extra_descriptors": list(FUNCTIONAL_DESCRIPTOR) if i == last else [],
                    }
                )
                for i, a in enumerate(b.platform.dfu_alts)
            ]
            return [alts]
        cdc = Desc(
            {
                "bLength": 9,
                "bDescriptorType": 4,
                "bInterfaceNumber": 0,
                "bAlternateSetting": 0,
                "bNumEndpoints": 0,
                "bInterfaceClass": 0x02,
                "bInterfaceSubClass": 0x02,
                "bInterfaceProtocol": 0x01,
                "iInterface": 0,
                "extra_descriptors": [],
            }
        )
        data = Desc(
            {
                "bLength": 9,
                "bDescriptorType": 4,
                "bInterfaceNumber": 1,
                "bAlternateSetting": 0,
                "bNumEndpoints": 0,
                "bInterfaceClass": 0x0A,
                "bInterfaceSubClass": 0,
                "bInterfaceProtocol": 0,
                "iInterface": 0,
                "extra_descriptors": [],
            }
        )
        return [[cdc], [data]]

    def get_configuration_descriptor(self, dev: SimUsbDevice, config: int) -> Desc:
        """The single configuration."""
        if config != 0:
            raise IndexError("configuration")
        if dev.board.mode == Mode.DFU:
            return Desc(_dfu_config_header(dev.board))
        interfaces = self._interfaces(dev)
        return Desc(
            {
                "bLength": 9,
                "bDescriptorType": 2,
                "wTotalLength": 9 + 9 * len(interfaces),
                "bNumInterfaces": len(interfaces),
                "bConfigurationValue": 1,
                "iConfiguration": 0,
                "bmAttributes": 0x80,
                "bMaxPower": 250,
                "extra_descriptors": [],
            }
        )

    def _dfu_configuration(self, dev: SimUsbDevice) -> bytes:
        """The DFU-mode configuration descriptor as the bootloader sends it: header, one interface
        descriptor per alt, the functional descriptor once at the end.
        """
        header = _dfu_config_header(dev.board)
        out = struct.pack(
            "<BBHBBBBB",
            9,
            2,
            header["wTotalLength"],
            1,
            1,
            header["iConfiguration"],
            header["bmAttributes"],
            header["bMaxPower"],
        )
        for alt in self._interfaces(dev)[0]:
            out += struct.pack("<BBBBBBBBB", 9, 4, 0, alt.bAlternateSetting, 0, 0xFE, 1, 2, alt.iInterface)
        return out + FUNCTIONAL_DESCRIPTOR

    def get_interface_descriptor(self, dev: SimUsbDevice, intf: int, alt: int, config: int) -> Desc:
        """Interface `intf`, alt setting `alt`; IndexError past the last one (pyusb relies on it)."""
        interfaces = self._interfaces(dev)
        if config != 0 or intf >= len(interfaces) or alt >= len(interfaces[intf]):
            raise IndexError("interface")
        return interfaces[intf][alt]

    def get_endpoint_descriptor(self, dev: SimUsbDevice, ep: int, intf: int, alt: int, config: int) -> Desc:
        """No endpoints besides EP0 are modelled."""
        raise IndexError("endpoint")

    # ---- handles --------------------------------------------------------------------

    def open_device(self, dev: SimUsbDevice) -> Handle:
        """Open the board; EACCES without USB permission, ENODEV when it is gone."""
        with self._lock:
            if not dev.board.usb_present:
                raise _gone()
            if not self._permitted():
                raise _err("Access denied (insufficient permissions)", -3, errno.EACCES)
            return Handle(dev, dev.board.usb_generation)

    def close_device(self, handle: Handle) -> None:
        """Close (stale handles are fine)."""

    def _check(self, handle: Handle) -> Board:
        board = handle.dev.board
        board.clock.run_due()
        if not board.usb_present or board.usb_generation != handle.generation:
            raise _gone()
        return board

    def set_configuration(self, handle: Handle, value: int) -> None:
        """Only configuration 1 exists."""
        with self._lock:
            self._check(handle)

    def get_configuration(self, handle: Handle) -> int:
        """Configuration 1."""
        with self._lock:
            self._check(handle)
            return 1

    def claim_interface(self, handle: Handle, intf: int) -> None:
        """Claiming always succeeds."""
        with self._lock:
            self._check(handle)

    def release_interface(self, handle: Handle, intf: int) -> None:
        """Release (no-op)."""

    def set_interface_altsetting(self, handle: Handle, intf: int, alt: int) -> None:
        """Select a DFU alt setting."""
        with self._lock:
            board = self._check(handle)
            if board.mode != Mode.DFU:
                if alt != 0:
                    raise _stall()
                return
            try:
                handle.dev.dfu.select_alt(alt)
            except Exception:
                raise _stall() from None

    # ---- transfers -------------------------------------------------------------------

    def _string(self, board: Board, index: int) -> bytes:
        if index == 0:
            return bytes([4, 3, 0x09, 0x04])
        dfu = board.mode == Mode.DFU
        serial = board.usb_serial_number
        texts = {1: "Particle", 2: f"{board.platform.display_name}{' DFU Mode' if dfu else ''}", 3: serial}
        if dfu:
            interface = "DFU" if board.platform.generation == 2 else f"{board.platform.display_name} DFU Mode"
            texts[4] = texts[5] = interface
            for a in board.platform.dfu_alts:
                texts[DFU_ALT_STRING + a.alt] = memory_map(board, a.alt)
        if index not in texts:
            raise _stall()
        raw = texts[index].encode("utf-16-le")
        return bytes([len(raw) + 2, 3]) + raw

    def ctrl_transfer(
        self,
        handle: Handle,
        bm_request_type: int,
        b_request: int,
        w_value: int,
        w_index: int,
        data: array[int],
        timeout: int,
    ) -> int:
        """Route one control transfer to the board; IN data is written into `data`."""
        with self._lock:
            board = self._check(handle)
            dev = handle.dev
            out = not bm_request_type & 0x80
            payload = bytes(data) if out else b""
            board.clock.busy(timing.usb_control(len(data)))
            if out and payload:
                board.received(len(payload))
            if not board.usb_present or board.usb_generation != handle.generation:
                raise _gone()
            try:
                reply = self._dispatch(board, dev, bm_request_type, b_request, w_value, w_index, payload, len(data))
            except (Stall, DfuStall):
                raise _stall() from None
            if out:
                return len(payload)
            n = min(len(reply), len(data))
            data[:n] = array("B", reply[:n])
            return n

    def _dispatch(
        self, board: Board, dev: SimUsbDevice, rt: int, req: int, value: int, index: int, payload: bytes, length: int
    ) -> bytes:
        if rt == 0x80 and req == 6 and value >> 8 == 3:  # GET_DESCRIPTOR(string)
            if not self._permitted():
                raise _err("Access denied (insufficient permissions)", -3, errno.EACCES)
            return self._string(board, value & 0xFF)
        if board.mode == Mode.DFU:
            if rt == 0x80 and req == 6 and value >> 8 == 2:  # GET_DESCRIPTOR(configuration)
                return self._dfu_configuration(dev)
            if rt == 0x81 and req == 6 and value >> 8 == 0x21:  # GET_DESCRIPTOR(DFU functional)
                return FUNCTIONAL_DESCRIPTOR
            if rt == 0x81 and req == 10:  # GET_INTERFACE
                return bytes([dev.dfu.alt])
            if rt == 0x21:
                dev.dfu.control_out(req, value, payload)
                return b""
            if rt == 0xA1:
                return dev.dfu.control_in(req, value, length)
            raise Stall()
        if rt == 0xC0:
            return dev.control.vendor_in(req, value, index, length)
        if rt == 0x40:
            dev.control.vendor_out(req, value, index, payload)
            return b""
        raise Stall()
