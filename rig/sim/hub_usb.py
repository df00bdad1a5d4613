"""A simulated hub as USB shows it: its descriptors and the hub class requests uhubctl sends.

USB 2.0 sections 11.23.2.1 (hub descriptor) and 11.24 (GetPortStatus, Set/ClearPortFeature); the bits
and the request shapes are the ones uhubctl 2.5 reads (`get_hub_info`, `get_port_status`,
USB_PORT_FEAT_POWER in uhubctl.c, v2.5.0). A devices.yaml hub switches power per port (LPSM 01,
so uhubctl lists it as `ppps`); the root hub is ganged, as many are, so uhubctl leaves it alone.
Switching a port goes through the lab's HubBank, so the board on it loses or gets power exactly as
with the fake uhubctl.
"""

from __future__ import annotations

import struct

from rig.sim.hub import Hub, HubBank

ROOT_PORTS = 8
PORT_CONNECTION, PORT_ENABLE, PORT_POWER = 0x0001, 0x0002, 0x0100
FEATURE_PORT_POWER = 8
GET_STATUS, CLEAR_FEATURE, SET_FEATURE, GET_DESCRIPTOR = 0, 1, 3, 6
HUB_DESCRIPTOR = 0x29


class HubStall(Exception):
    """The hub stalls the request."""


class HubHangs(Exception):
    """The hub switched the port but never completes the request (the fault `Hub.hang`)."""


def _ids(hub: Hub | None) -> tuple[int, int]:
    if hub is None:
        return 0x1D6B, 0x0002  # Linux Foundation 2.0 root hub
    vendor, _, product = hub.vid_pid.partition(":")
    return int(vendor, 16), int(product, 16)


def device_descriptor(hub: Hub | None) -> bytes:
    """A full-speed hub's device descriptor (class 9, product string 2 for a devices.yaml hub)."""
    vid, pid = _ids(hub)
    product = 0 if hub is None else 2  # bDeviceProtocol 0: a full-speed hub
    return struct.pack("<BBHBBBBHHHBBBB", 18, 1, 0x0200, 9, 0, 0, 64, vid, pid, 0x0100, 0, product, 0, 1)


def configuration_descriptor() -> bytes:
    """One configuration: the hub interface and its status-change interrupt endpoint."""
    interface = struct.pack("<BBBBBBBBB", 9, 4, 0, 0, 1, 9, 0, 0, 0)
    endpoint = struct.pack("<BBBBHB", 7, 5, 0x81, 3, 2, 12)
    return struct.pack("<BBHBBBBB", 9, 2, 25, 1, 1, 0, 0xE0, 0) + interface + endpoint


def hub_descriptor(hub: Hub | None) -> bytes:
    """bNbrPorts, per-port power switching and over-current protection (ganged for the root hub)."""
    ports = ROOT_PORTS if hub is None else hub.ports
    characteristics = 0x0000 if hub is None else 0x0009
    mask_bytes = (ports + 1 + 7) // 8
    body = struct.pack("<BBHBB", HUB_DESCRIPTOR, ports, characteristics, 50, 100)
    body += bytes(mask_bytes) + b"\xff" * mask_bytes  # DeviceRemovable, PortPwrCtrlMask
    return bytes([len(body) + 1]) + body


def port_status(bank: HubBank, hub: Hub | None, port: int) -> int:
    """wPortStatus: power, and connection/enable while a board is on USB behind the port."""
    if hub is None:
        return PORT_POWER
    if not 1 <= port <= hub.ports:
        raise HubStall()
    on = hub.is_on(port)
    board = bank.boards_on(hub.location, port)
    present = board is not None and board.usb_present
    return (PORT_POWER if on else 0) | (PORT_CONNECTION | PORT_ENABLE if on and present else 0)


def control(bank: HubBank, hub: Hub | None, rt: int, req: int, value: int, index: int) -> bytes:
    """One control transfer to a hub (call with the lab lock held); raises HubStall where it stalls,
    HubHangs where a port power switch is done but its request never completes.
    """
    if rt == 0x80 and req == GET_DESCRIPTOR:
        kind, number = value >> 8, value & 0xFF
        if kind == 1:
            return device_descriptor(hub)
        if kind == 2:
            return configuration_descriptor()
        if kind == 3 and number == 0:
            return bytes([4, 3, 0x09, 0x04])
        if kind == 3 and number == 2 and hub is not None:
            text = hub.product.encode("utf-16-le")
            return bytes([len(text) + 2, 3]) + text
        raise HubStall()
    if rt == 0xA0 and req == GET_DESCRIPTOR and value >> 8 == HUB_DESCRIPTOR:
        return hub_descriptor(hub)
    if rt == 0xA0 and req == GET_STATUS:
        return bytes(4)  # local power good, no over-current
    if rt == 0xA3 and req == GET_STATUS:
        return struct.pack("<HH", port_status(bank, hub, index), 0)
    if rt == 0x23 and req in (SET_FEATURE, CLEAR_FEATURE):
        if hub is None or not 1 <= index <= hub.ports:
            raise HubStall()
        if value == FEATURE_PORT_POWER:
            bank.set_power(hub, index, on=req == SET_FEATURE)
            if hub.hangs_now():
                raise HubHangs()
        return b""
    raise HubStall()
