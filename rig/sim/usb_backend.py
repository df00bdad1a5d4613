"""A pure-Python pyusb backend serving the simulated boards (python-stack §1).

Descriptors and strings as a Particle board presents them (CDC 2b04:c0xx or DFU 2b04:d0xx, the
device id as serial number), vendor control requests and DfuSe routed to the board, and the
libusb error conventions: ENODEV for a board that re-enumerated or lost power, EPIPE for a
stall, EACCES (and no LANGID) when the lab denies USB permission.
"""

from __future__ import annotations

import errno
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import usb.backend
import usb.core

from rig import timing
from rig.sim import usb_descriptors as usbd
from rig.sim.board import Board, Mode
from rig.sim.clock import SimClock
from rig.sim.control import ControlChannel, Stall
from rig.sim.dfu import FUNCTIONAL_DESCRIPTOR, DfuSe, DfuStall

SPEED_FULL = 2  # usb.util.SPEED_FULL


class Desc:
    """An attribute bag for pyusb descriptors: the fields are plain attributes (pyusb copies them
    one by one into each Device it builds, at every enumeration).
    """

    def __init__(self, fields: dict[str, Any]) -> None:
        self.__dict__.update(fields)


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
        self,
        clock: SimClock,
        devices: Callable[[], Iterable[SimUsbDevice]],
        permitted: Callable[[], bool],
        settle: Callable[[], None] = lambda: None,
    ) -> None:
        self._clock = clock
        self._lock = clock.lock
        self._devices = devices
        self._permitted = permitted
        self._settle = settle  # the lab's other views of USB (its umockdev bus) catch up with a scan
        self._next_address = 2  # address 1 is the root hub

    # ---- enumeration and descriptors --------------------------------------------------

    def enumerate_devices(self) -> list[SimUsbDevice]:
        """Boards currently on the bus (once every program the rig starts would see them too)."""
        with self._lock:
            self._clock.run_due()
            found = [d for d in self._devices() if d.board.usb_present]
        if not self._clock.held_here():  # the lab's own threads, which the catching up needs, are free
            self._settle()
        return found

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
        fields: dict[str, Any] = dict(usbd.unpack(usbd.DEVICE, usbd.device_descriptor(dev.board)))
        fields.update(
            address=self._address(dev),
            bus=dev.bus,
            port_number=dev.port_numbers[-1],
            port_numbers=dev.port_numbers,
            speed=SPEED_FULL,
        )
        return Desc(fields)

    def _interfaces(self, dev: SimUsbDevice) -> list[list[usbd.ParsedInterface]]:
        """Interfaces as lists of alt settings, parsed from the raw configuration as libusb does:
        in DFU mode the functional descriptor follows the last alt only, so it is that alt's
        `extra` alone (§5.8).
        """
        return usbd.parse_configuration(usbd.configuration_descriptor(dev.board))[1]

    def get_configuration_descriptor(self, dev: SimUsbDevice, config: int) -> Desc:
        """The single configuration."""
        if config != 0:
            raise IndexError("configuration")
        header = usbd.parse_configuration(usbd.configuration_descriptor(dev.board))[0]
        return Desc({**header, "extra_descriptors": []})

    def get_interface_descriptor(self, dev: SimUsbDevice, intf: int, alt: int, config: int) -> Desc:
        """Interface `intf`, alt setting `alt`; IndexError past the last one (pyusb relies on it)."""
        interfaces = self._interfaces(dev)
        if config != 0 or intf >= len(interfaces) or alt >= len(interfaces[intf]):
            raise IndexError("interface")
        found = interfaces[intf][alt]
        return Desc({**found.fields, "extra_descriptors": list(found.extra)})

    def get_endpoint_descriptor(self, dev: SimUsbDevice, ep: int, intf: int, alt: int, config: int) -> Desc:
        """Endpoint `ep` of an interface (the CDC interrupt and bulk endpoints; none in DFU mode)."""
        interfaces = self._interfaces(dev)
        if config != 0 or intf >= len(interfaces) or alt >= len(interfaces[intf]):
            raise IndexError("endpoint")
        endpoints = interfaces[intf][alt].endpoints
        if ep >= len(endpoints):
            raise IndexError("endpoint")
        return Desc({**endpoints[ep], "extra_descriptors": []})

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
            out = not bm_request_type & 0x80
            if bm_request_type == 0x80 and b_request == 6 and w_value >> 8 == 3 and not self._permitted():
                raise _err("Access denied (insufficient permissions)", -3, errno.EACCES)  # no LANGID
            try:
                reply = wire_transfer(
                    handle.dev, handle.generation, bm_request_type, b_request, w_value, w_index, bytes(data), len(data)
                )
            except BoardGone:
                raise _gone() from None
            except (Stall, DfuStall):
                raise _stall() from None
            if out:
                return len(data)
            n = min(len(reply), len(data))
            data[:n] = array("B", reply[:n])
            return n


class BoardGone(Exception):
    """The board re-enumerated or lost power since the device was opened."""


def wire_transfer(
    dev: SimUsbDevice, generation: int, rt: int, req: int, value: int, index: int, data: bytes, length: int
) -> bytes:
    """One control transfer as it crosses the wire, for any host stack (pyusb's backend here, the
    umockdev bridge): takes its modelled time, counts OUT bytes, and raises BoardGone when the board
    re-enumerated since `generation`, Stall or DfuStall where it stalls. Call with the lab lock held.
    """
    board = dev.board
    board.clock.run_due()
    out = not rt & 0x80
    payload = data if out else b""
    if board.usb_present and board.usb_generation == generation:
        board.clock.busy(timing.usb_control(len(payload) if out else length))
        if payload:
            board.received(len(payload))
    if not board.usb_present or board.usb_generation != generation:
        raise BoardGone()
    return board_control(board, dev, rt, req, value, index, payload, length)


def board_control(
    board: Board, dev: SimUsbDevice, rt: int, req: int, value: int, index: int, payload: bytes, length: int
) -> bytes:
    """One control transfer as the board answers it, whatever the host stack: standard
    GET_DESCRIPTOR, DfuSe in DFU mode, Particle's vendor requests otherwise. Raises Stall or
    DfuStall where the board stalls.
    """
    if rt == 0x80 and req == 6:  # GET_DESCRIPTOR: device, configuration, string
        kind = value >> 8
        found = {1: usbd.device_descriptor, 2: usbd.configuration_descriptor}.get(kind)
        text = found(board) if found else usbd.string_descriptor(board, value & 0xFF) if kind == 3 else None
        if text is None:
            raise Stall()
        return text
    if board.mode == Mode.DFU:
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
