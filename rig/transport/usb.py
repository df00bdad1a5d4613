"""Finding Particle boards on USB with pyusb (python-stack §1, python-stack §5).

Boards are found by device id (the USB serial number, compared case-insensitively) or by port
path, and found again after every reset: pyusb Device objects are never kept across a
re-enumeration.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import usb.core
import usb.util

from rig import platforms
from rig.transport.errors import BoardGoneError, TimeoutError_, TransportError, UsbAccessError

PARTICLE_VIDS = {p.usb_vid for p in platforms.PLATFORMS if p.flashable}
USB_TIMEOUT_MS = 5000  # every control transfer (particle-usb usb-device-node.js)
_GONE = (errno.ENODEV, errno.ENOENT, errno.EIO)


def control_transfer(
    device: Any,
    setup: tuple[int, int, int, int],
    data: Any,
    what: str,
    refused: Callable[[usb.core.USBError], TransportError],
) -> Any:
    """One control transfer (bmRequestType, bRequest, wValue, wIndex) with its timeout; USB errors
    become named errors: no answer, the board gone mid-`what`, or `refused(exc)`.
    """
    try:
        return device.ctrl_transfer(*setup, data, USB_TIMEOUT_MS)
    except usb.core.USBTimeoutError:
        raise TimeoutError_(f"The board did not answer a {what} within {USB_TIMEOUT_MS} ms.") from None
    except usb.core.USBError as exc:
        if exc.errno in _GONE:
            raise BoardGoneError(f"The board left USB in the middle of a {what}.") from None
        raise refused(exc) from None


@dataclass(frozen=True)
class UsbBoard:
    """A Particle board seen on USB now."""

    device: Any  # usb.core.Device
    device_id: str
    platform: platforms.Platform
    dfu: bool
    location: str  # e.g. "1-1.3", as uhubctl and sysfs spell it

    @property
    def hub_location(self) -> str:
        """The hub part of the location (uhubctl -l)."""
        return self.location.rsplit(".", 1)[0] if "." in self.location else self.location.split("-")[0]

    @property
    def hub_port(self) -> int:
        """The port number on that hub (uhubctl -p)."""
        return int(self.location.replace("-", ".").rsplit(".", 1)[1])


def _location(dev: Any) -> str:
    ports = getattr(dev, "port_numbers", None) or ()
    return f"{dev.bus}-{'.'.join(str(p) for p in ports)}" if ports else str(dev.bus)


def _serial(dev: Any) -> str:
    try:
        value = usb.util.get_string(dev, dev.iSerialNumber)
    except ValueError:  # pyusb hides why the LANGID read failed: read it again, for the errno
        try:
            langids = usb.util.get_langids(dev)
            if not langids:
                raise _gone(dev)
            value = usb.util.get_string(dev, dev.iSerialNumber, langids[0])
        except usb.core.USBError as exc:
            raise _unreadable(dev, exc) from None
    except usb.core.USBError as exc:
        raise _unreadable(dev, exc) from None
    return str(value or "").strip().lower()


def _gone(dev: Any, why: str = "") -> BoardGoneError:
    return BoardGoneError(f"The USB device at {_location(dev)} went away while being read{why}.")


def _unreadable(dev: Any, exc: usb.core.USBError) -> TransportError:
    """No permission (EACCES), or the device went away: anything else is a device that
    re-enumerated while being read, which the kernel reports before its node is gone.
    """
    if exc.errno == errno.EACCES:
        return UsbAccessError(
            f"No permission to use the USB device {dev.idVendor:04x}:{dev.idProduct:04x} at {_location(dev)}: "
            "install Particle's udev rules (or run as root)."
        )
    return _gone(dev, f" ({exc})")


def _particle_devices(location: str | None = None) -> list[Any]:
    """One enumeration of the bus: the pyusb Devices with a Particle vendor id (at `location` when given)."""
    try:
        return list(
            usb.core.find(
                find_all=True,
                custom_match=lambda d: d.idVendor in PARTICLE_VIDS and (location is None or _location(d) == location),
            )
        )
    except usb.core.NoBackendError:
        raise UsbAccessError("libusb is not installed: install it (apt-get install libusb-1.0-0).") from None


def _board(dev: Any) -> UsbBoard | None:
    """The board behind a pyusb Device (its serial number read), None for another product or one gone."""
    try:
        plat, dfu = platforms.by_usb_id(dev.idVendor, dev.idProduct)
    except platforms.UnknownPlatformError:
        return None
    try:
        device_id = _serial(dev)
    except BoardGoneError:
        return None
    return UsbBoard(dev, device_id, plat, dfu, _location(dev))


def scan(location: str | None = None) -> list[UsbBoard]:
    """Every Particle board on USB now (normal or DFU mode); only those at `location` when given
    (no string descriptors are read from the others).
    """
    boards = [board for dev in _particle_devices(location) if (board := _board(dev)) is not None]
    return sorted(boards, key=lambda b: b.location)


def find(
    device_id: str | None = None, location: str | None = None, expected_location: str | None = None
) -> UsbBoard | None:
    """The board with this device id and/or at this USB location, if it is on USB now.

    One enumeration of the bus; `expected_location` is a hint (where devices.yaml says the board
    is): the device there is read first, the others (in location order) only when it is not the board.
    """
    want = device_id.lower() if device_id else None
    devices = sorted(_particle_devices(location), key=lambda d: (_location(d) != expected_location, _location(d)))
    for dev in devices:
        board = _board(dev)
        if board is not None and (want is None or board.device_id == want):
            return board
    return None


def release(board: UsbBoard) -> None:
    """Let pyusb forget a Device (after a reset it is stale)."""
    usb.util.dispose_resources(board.device)
