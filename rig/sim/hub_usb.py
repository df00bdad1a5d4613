"""A simulated hub as USB shows it: its descriptors and the hub class requests uhubctl sends.

USB 2.0 sections 11.23.2.1 (hub descriptor) and 11.24 (GetPortStatus, Set/ClearPortFeature); the bits
and the request shapes are the ones uhubctl 2.5 reads (`get_hub_info`, `get_port_status`,
USB_PORT_FEAT_POWER in uhubctl.c, v2.5.0). A devices.yaml hub switches power per port (LPSM 01,
so uhubctl lists it as `ppps`); the root hub is ganged, as many are, so uhubctl leaves it alone.
Switching a port goes through the lab's HubBank, so the board on it loses or gets power exactly as
with the fake uhubctl.

A hub with a USB 3 twin is two hubs on two buses, as Linux shows one: its USB 2.0 half (bcdUSB 2.10)
where the boards are, and its SuperSpeed half (bcdUSB 3.00, hub descriptor 0x2A, USB 3.0 section
10.15.2.1; port status with the power bit 0x0200 and the link state, 10.16.2.6). Both halves carry
the same Container ID in their BOS descriptor (USB 3.0 section 9.6.2.3), which is how uhubctl pairs
them (`get_hub_info` and the USB2/3 duality check in uhubctl.c, v2.5.0). The halves share one power
state per port, as the stand-in's.
"""

from __future__ import annotations

import struct
import uuid

from rig.sim.hub import Hub, HubBank

ROOT_PORTS = 8
PORT_CONNECTION, PORT_ENABLE, PORT_POWER = 0x0001, 0x0002, 0x0100
SS_PORT_POWER, SS_LINK_RX_DETECT = 0x0200, 0x00A0
FEATURE_PORT_POWER = 8
GET_STATUS, CLEAR_FEATURE, SET_FEATURE, GET_DESCRIPTOR = 0, 1, 3, 6
HUB_DESCRIPTOR, SS_HUB_DESCRIPTOR, BOS, DEVICE_CAPABILITY, CONTAINER_ID = 0x29, 0x2A, 0x0F, 0x10, 0x04


class HubStall(Exception):
    """The hub stalls the request."""


class HubHangs(Exception):
    """The hub switched the port but never completes the request (the fault `Hub.hang`)."""


def _ids(hub: Hub | None, usb3: bool) -> tuple[int, int]:
    if hub is None:
        return 0x1D6B, 0x0003 if usb3 else 0x0002  # Linux Foundation 3.0 / 2.0 root hub
    vendor, _, product = hub.vid_pid.partition(":")
    return int(vendor, 16), int(product, 16)


def device_descriptor(hub: Hub | None, usb3: bool = False) -> bytes:
    """A hub's device descriptor (class 9, product string 2 for a devices.yaml hub): full speed, or
    SuperSpeed for the USB 3 half (None with `usb3`: the SuperSpeed root hub or a hub in between).
    """
    vid, pid = _ids(hub, usb3)
    product = 0 if hub is None else 2
    bcd = 0x0300 if usb3 else 0x0210 if hub is not None and hub.usb3_twin else 0x0200  # 2.10: it has a BOS
    protocol, packet = (3, 9) if usb3 else (0, 64)  # SuperSpeed hub, 512-byte EP0 (2^9)
    return struct.pack("<BBHBBBBHHHBBBB", 18, 1, bcd, 9, 0, protocol, packet, vid, pid, 0x0100, 0, product, 0, 1)


def bos_descriptor(hub: Hub) -> bytes:
    """The BOS of a hub with a twin: one Container ID, the same for both halves."""
    container = uuid.uuid5(uuid.NAMESPACE_URL, f"rig-sim-hub:{hub.location}").bytes
    capability = struct.pack("<BBBB", 20, DEVICE_CAPABILITY, CONTAINER_ID, 0) + container
    return struct.pack("<BBHB", 5, BOS, 5 + len(capability), 1) + capability


def configuration_descriptor() -> bytes:
    """One configuration: the hub interface and its status-change interrupt endpoint."""
    interface = struct.pack("<BBBBBBBBB", 9, 4, 0, 0, 1, 9, 0, 0, 0)
    endpoint = struct.pack("<BBBBHB", 7, 5, 0x81, 3, 2, 12)
    return struct.pack("<BBHBBBBB", 9, 2, 25, 1, 1, 0, 0xE0, 0) + interface + endpoint


def hub_descriptor(hub: Hub | None, usb3: bool = False) -> bytes:
    """bNbrPorts, per-port power switching and over-current protection (ganged for a root hub)."""
    ports = ROOT_PORTS if hub is None else hub.ports
    characteristics = 0x0000 if hub is None else 0x0009
    if usb3:  # no port indicators; no delays; DeviceRemovable
        return struct.pack("<BBBHBBBHH", 12, SS_HUB_DESCRIPTOR, ports, characteristics, 50, 0, 0, 0, 0)
    mask_bytes = (ports + 1 + 7) // 8
    body = struct.pack("<BBHBB", HUB_DESCRIPTOR, ports, characteristics, 50, 100)
    body += bytes(mask_bytes) + b"\xff" * mask_bytes  # DeviceRemovable, PortPwrCtrlMask
    return bytes([len(body) + 1]) + body


def port_status(bank: HubBank, hub: Hub | None, port: int, usb3: bool = False) -> int:
    """wPortStatus: power, and connection/enable while a board is on USB behind the port (the boards
    are USB 2.0 devices: a SuperSpeed port only ever detects, Rx.Detect).
    """
    if hub is None:
        return SS_PORT_POWER | SS_LINK_RX_DETECT if usb3 else PORT_POWER
    if not 1 <= port <= hub.ports:
        raise HubStall()
    on = hub.is_on(port)
    if usb3:
        return (SS_PORT_POWER if on else 0) | SS_LINK_RX_DETECT
    board = bank.boards_on(hub.location, port)
    present = board is not None and board.usb_present
    return (PORT_POWER if on else 0) | (PORT_CONNECTION | PORT_ENABLE if on and present else 0)


def control(bank: HubBank, hub: Hub | None, usb3: bool, rt: int, req: int, value: int, index: int) -> bytes:
    """One control transfer to a hub or its SuperSpeed half (call with the lab lock held); raises
    HubStall where it stalls, HubHangs where a port power switch is done but its request never completes.
    """
    if rt == 0x80 and req == GET_DESCRIPTOR:
        kind, number = value >> 8, value & 0xFF
        if kind == 1:
            return device_descriptor(hub, usb3)
        if kind == 2:
            return configuration_descriptor()
        if kind == 3 and number == 0:
            return bytes([4, 3, 0x09, 0x04])
        if kind == 3 and number == 2 and hub is not None:
            text = hub.product.encode("utf-16-le")
            return bytes([len(text) + 2, 3]) + text
        if kind == BOS and hub is not None and hub.usb3_twin:
            return bos_descriptor(hub)
        raise HubStall()
    if rt == 0xA0 and req == GET_DESCRIPTOR and value >> 8 == (SS_HUB_DESCRIPTOR if usb3 else HUB_DESCRIPTOR):
        return hub_descriptor(hub, usb3)
    if rt == 0xA0 and req == GET_STATUS:
        return bytes(4)  # local power good, no over-current
    if rt == 0xA3 and req == GET_STATUS:
        return struct.pack("<HH", port_status(bank, hub, index, usb3), 0)
    if rt == 0x23 and req in (SET_FEATURE, CLEAR_FEATURE):
        if hub is None or not 1 <= index <= hub.ports:
            raise HubStall()
        if value == FEATURE_PORT_POWER:
            bank.set_power(hub, index, on=req == SET_FEATURE)
            if hub.hangs_now():
                raise HubHangs()
        return b""
    raise HubStall()
