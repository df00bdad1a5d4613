"""Minimal protocol drivers for the simulator tests: plain pyusb calls, no rig transport code.

These exercise the simulated boards at the wire level (the rig's own transports are tested in
their own suites); they are deliberately small and literal.
"""

from __future__ import annotations

import struct
from typing import Any, Protocol

import usb.core
import usb.util

from rig.dfu_map import Segment, parse_memory_map
from rig.proto import control as pb


class Clock(Protocol):
    """What the drivers need of a clock: the lab's simulated one, so waits cost no wall time."""

    def sleep(self, seconds: float) -> None:
        """Wait `seconds`."""


def find(device_id: str, dfu: bool | None = None) -> usb.core.Device | None:
    """The Particle USB device with this id (dfu: only in DFU mode / only not), or None."""
    for dev in usb.core.find(find_all=True, idVendor=0x2B04):
        same = dev.serial_number.lower() == device_id.lower()
        if same and (dfu is None or ((dev.idProduct & 0xF000) == 0xD000) == dfu):
            return dev
    return None


def request(dev: usb.core.Device, req_type: int, payload: bytes = b"", clock: Clock | None = None) -> tuple[int, bytes]:
    """One control request through INIT/SEND/CHECK/RECV (§4.1); returns (result, reply)."""
    rep = bytes(dev.ctrl_transfer(0xC0, 1, len(payload), req_type, 64))
    flags, status = struct.unpack_from("<IH", rep)
    assert status in (0, 2), f"INIT status {status}"
    req_id = struct.unpack_from("<H", rep, 6)[0]
    while status == 2 and payload:
        rep = bytes(dev.ctrl_transfer(0xC0, 2, 0, req_id, 64))
        status = struct.unpack_from("<H", rep, 4)[0]
        if clock and status == 2:
            clock.sleep(0.05)
    for off in range(0, len(payload), 4096):
        dev.ctrl_transfer(0x40, 3, 0, req_id, payload[off : off + 4096])
    for delay in [0.05, 0.05, 0.1, 0.1, 0.25, 0.25] + [0.5] * 200:
        rep = bytes(dev.ctrl_transfer(0xC0, 2, 0, req_id, 64))
        flags, status = struct.unpack_from("<IH", rep)
        if status != 2:
            break
        if clock:
            clock.sleep(delay)
    assert status == 0, f"CHECK status {status}"
    pos = 6
    size = result = 0
    if flags & 0x04:
        size = struct.unpack_from("<I", rep, pos)[0]
        pos += 4
    if flags & 0x08:
        result = struct.unpack_from("<i", rep, pos)[0]
    data = b""
    while len(data) < size:
        data += bytes(dev.ctrl_transfer(0xC0, 4, 0, req_id, min(4096, size - len(data))))
    return result, data


def dfu_status(dev: usb.core.Device) -> tuple[int, int]:
    """DFU GETSTATUS: (bStatus, bState)."""
    st = bytes(dev.ctrl_transfer(0xA1, 3, 0, 0, 6))
    return st[0], st[4]


def dfu_cmd(dev: usb.core.Device, data: bytes) -> tuple[int, int]:
    """A DfuSe command (block 0 DNLOAD), polled until it is no longer busy; the last status."""
    dev.ctrl_transfer(0x21, 1, 0, 0, data)
    status = dfu_status(dev)
    while status[1] == 4:  # dfuDNBUSY
        status = dfu_status(dev)
    return status


def segments(dev: usb.core.Device, alt: int) -> list[Segment]:
    """The memory-map segments of DFU alt setting `alt`."""
    intf = dev.get_active_configuration()[(0, alt)]
    return parse_memory_map(usb.util.get_string(dev, intf.iInterface))[1]


def dfu_write(dev: usb.core.Device, alt: int, address: int, data: bytes, erase: bool = True) -> tuple[int, int]:
    """Erase every sector the write touches (per the alt's memory map) and write (§5.4)."""
    dev.set_interface_altsetting(0, alt)
    if erase:
        for seg in segments(dev, alt):
            for i in range(seg.count):
                start = seg.start + i * seg.sector_size
                if start < address + len(data) and address < start + seg.sector_size and seg.erasable:
                    st = dfu_cmd(dev, b"\x41" + struct.pack("<I", start))
                    if st[0] != 0:
                        return st
    for off in range(0, len(data), 4096):
        st = dfu_cmd(dev, b"\x21" + struct.pack("<I", address + off))
        dev.ctrl_transfer(0x21, 1, 2, 0, data[off : off + 4096])
        st = dfu_status(dev)
        while st[1] == 4:
            st = dfu_status(dev)
        if st[0] != 0:
            return st
    return (0, 5)


def dfu_leave(dev: usb.core.Device) -> tuple[int, int]:
    """Leave DFU mode (a zero-length DNLOAD); the status after it."""
    dev.ctrl_transfer(0x21, 1, 0, 0, b"")
    return dfu_status(dev)


def module_info(dev: usb.core.Device, clock: Clock | None = None) -> list[Any]:
    """The modules of GET_MODULE_INFO (control request 90)."""
    result, data = request(dev, pb.GET_MODULE_INFO, clock=clock)
    assert result == 0
    return list(pb.decode("GetModuleInfoReply", data).modules)


def update(dev: usb.core.Device, data: bytes, clock: Clock | None = None) -> int:
    """Firmware update over control requests 250/253/251 (§4.4); returns the result code."""
    result, reply = request(
        dev, pb.START_FIRMWARE_UPDATE, pb.encode("StartFirmwareUpdateRequest", size=len(data)), clock
    )
    if result:
        return result
    chunk = pb.decode("StartFirmwareUpdateReply", reply).chunk_size
    for off in range(0, len(data), chunk):
        result, _ = request(
            dev, pb.FIRMWARE_UPDATE_DATA, pb.encode("FirmwareUpdateDataRequest", data=data[off : off + chunk]), clock
        )
        if result:
            return result
    return request(dev, pb.FINISH_FIRMWARE_UPDATE, b"", clock)[0]
