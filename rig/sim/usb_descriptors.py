"""The USB descriptors of a simulated board, as raw bytes the way the board sends them.

One owner for what a board looks like on USB: the pyusb backend parses these bytes, the
umockdev bridge puts them in sysfs (`descriptors`) and answers GET_DESCRIPTOR with them. DFU
mode as the bootloaders build it (§5.8: interface per alt, the functional descriptor once after
the last); normal and listening mode as a CDC ACM composite (IAD, communication interface with
its functional descriptors and interrupt endpoint, data interface with two bulk endpoints), as
Device OS's HAL presents it (v2.3.1 `hal/src/nRF52840/usb_hal_cdc.c`: comm EP IN 2, data EP IN/OUT 1).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from rig.sim.board import Board, Mode
from rig.sim.dfu import FUNCTIONAL_DESCRIPTOR, memory_map

DFU_ALT_STRING = 6  # string index of alt 0's memory map; 4 and 5 name the interface (§5.8)
BCD_DEVICE = 0x0251


def device_descriptor(board: Board) -> bytes:
    """The 18-byte device descriptor for the board's current mode."""
    dfu = board.mode == Mode.DFU
    cls = (0x00, 0x00, 0x00) if dfu else (0xEF, 0x02, 0x01)  # composite with IAD in CDC mode
    return struct.pack(
        "<BBHBBBBHHHBBBB",
        18, 1, 0x0200, *cls, 64, board.platform.usb_vid, board.usb_product_id, BCD_DEVICE, 1, 2, 3, 1,
    )  # fmt: skip


def _interface(number: int, alt: int, endpoints: int, cls: tuple[int, int, int], string: int) -> bytes:
    return struct.pack("<BBBBBBBBB", 9, 4, number, alt, endpoints, *cls, string)


def _endpoint(address: int, attributes: int, size: int, interval: int) -> bytes:
    return struct.pack("<BBBBHB", 7, 5, address, attributes, size, interval)


def _dfu_body(board: Board) -> tuple[bytes, int, int, int]:
    alts = board.platform.dfu_alts
    body = b"".join(_interface(0, a.alt, 0, (0xFE, 1, 2), DFU_ALT_STRING + a.alt) for a in alts)
    i_config = 2 if board.platform.generation == 2 else 4
    return body + FUNCTIONAL_DESCRIPTOR, 1, i_config, 0xC0


def _cdc_body() -> tuple[bytes, int, int, int]:
    iad = struct.pack("<BBBBBBBB", 8, 0x0B, 0, 2, 0x02, 0x02, 0x01, 0)
    functional = (
        struct.pack("<BBBH", 5, 0x24, 0x00, 0x0110)  # header, CDC 1.10
        + struct.pack("<BBBBB", 5, 0x24, 0x01, 0x00, 1)  # call management: data interface 1
        + struct.pack("<BBBB", 4, 0x24, 0x02, 0x02)  # ACM: line coding and serial state
        + struct.pack("<BBBBB", 5, 0x24, 0x06, 0, 1)  # union: master 0, slave 1
    )
    body = (
        iad
        + _interface(0, 0, 1, (0x02, 0x02, 0x01), 0)
        + functional
        + _endpoint(0x82, 0x03, 8, 16)
        + _interface(1, 0, 2, (0x0A, 0x00, 0x00), 0)
        + _endpoint(0x81, 0x02, 64, 0)
        + _endpoint(0x01, 0x02, 64, 0)
    )
    return body, 2, 0, 0x80


def configuration_descriptor(board: Board) -> bytes:
    """The whole configuration descriptor (header, interfaces, class descriptors, endpoints)."""
    body, interfaces, i_config, attributes = _dfu_body(board) if board.mode == Mode.DFU else _cdc_body()
    power = 0x32 if board.mode == Mode.DFU else 250
    header = struct.pack("<BBHBBBBB", 9, 2, 9 + len(body), interfaces, 1, i_config, attributes, power)
    return header + body


def string_texts(board: Board) -> dict[int, str]:
    """The board's strings by index (1 manufacturer, 2 product, 3 serial, DFU: 4-5 and the maps)."""
    dfu = board.mode == Mode.DFU
    name = board.platform.display_name
    texts = {1: "Particle", 2: f"{name}{' DFU Mode' if dfu else ''}", 3: board.usb_serial_number}
    if dfu:
        texts[4] = texts[5] = "DFU" if board.platform.generation == 2 else f"{name} DFU Mode"
        for a in board.platform.dfu_alts:
            texts[DFU_ALT_STRING + a.alt] = memory_map(board, a.alt)
    return texts


def string_descriptor(board: Board, index: int) -> bytes | None:
    """String descriptor `index` (0: the language list), or None where the board stalls."""
    if index == 0:
        return bytes([4, 3, 0x09, 0x04])
    text = string_texts(board).get(index)
    if text is None:
        return None
    raw = text.encode("utf-16-le")
    return bytes([len(raw) + 2, 3]) + raw


DEVICE = (
    "<BBHBBBBHHHBBBB",
    "bLength bDescriptorType bcdUSB bDeviceClass bDeviceSubClass bDeviceProtocol "
    "bMaxPacketSize0 idVendor idProduct bcdDevice iManufacturer iProduct iSerialNumber bNumConfigurations",
)
CONFIGURATION = (
    "<BBHBBBBB",
    "bLength bDescriptorType wTotalLength bNumInterfaces bConfigurationValue iConfiguration bmAttributes bMaxPower",
)
INTERFACE = (
    "<BBBBBBBBB",
    "bLength bDescriptorType bInterfaceNumber bAlternateSetting bNumEndpoints "
    "bInterfaceClass bInterfaceSubClass bInterfaceProtocol iInterface",
)
ENDPOINT = ("<BBBBHB", "bLength bDescriptorType bEndpointAddress bmAttributes wMaxPacketSize bInterval")  # fmt: skip


def unpack(layout: tuple[str, str], data: bytes) -> dict[str, int]:
    """A descriptor's fields by name (layout: struct format, field names)."""
    fmt, names = layout
    return dict(zip(names.split(), struct.unpack_from(fmt, data), strict=True))


@dataclass
class ParsedInterface:
    """One alternate setting of an interface, with its class descriptors and endpoints."""

    fields: dict[str, int]
    extra: bytes = b""
    endpoints: list[dict[str, int]] = field(default_factory=list)


def parse_configuration(raw: bytes) -> tuple[dict[str, int], list[list[ParsedInterface]]]:
    """Split a configuration descriptor into its header fields and interfaces (lists of alts);
    a class descriptor belongs to the interface before it, as libusb attaches it.
    """
    interfaces: list[list[ParsedInterface]] = []
    current: ParsedInterface | None = None
    at = raw[0]
    while at + 2 <= len(raw) and raw[at] >= 2:
        chunk = raw[at : at + raw[at]]
        if chunk[1] == 4:
            current = ParsedInterface(unpack(INTERFACE, chunk))
            if not interfaces or interfaces[-1][0].fields["bInterfaceNumber"] != current.fields["bInterfaceNumber"]:
                interfaces.append([])
            interfaces[-1].append(current)
        elif chunk[1] == 5 and current is not None:
            current.endpoints.append(unpack(ENDPOINT, chunk))
        elif current is not None and chunk[1] != 0x0B:  # an IAD belongs to no interface
            current.extra += chunk
        at += len(chunk)
    return unpack(CONFIGURATION, raw), interfaces
