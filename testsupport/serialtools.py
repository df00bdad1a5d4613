"""A literal YMODEM sender for the simulator tests (particle-cli's flow, protocols §3.4)."""

from __future__ import annotations

import serial

SOH, STX, EOT, ACK, NAK, CAN = 0x01, 0x02, 0x04, 0x06, 0x15, 0x18


def _packet(seq: int, data: bytes, size: int) -> bytes:
    mark = SOH if size == 128 else STX
    return bytes([mark, seq & 0xFF, ~seq & 0xFF]) + data.ljust(size, b"\0") + b"\0\0"


def _expect_ack(port: serial.Serial) -> bytes:
    reply = port.read(1)
    if reply != bytes([ACK]):
        return reply + port.read(200)
    return reply


def send(port: serial.Serial, name: str, data: bytes, block: int = 1024) -> tuple[bool, bytes]:
    """Flash `data` with 'f' + YMODEM; returns (accepted, what the device printed at the end)."""
    port.reset_input_buffer()
    port.write(b"f")
    line = port.read_until(b"\r\n")
    if b"Waiting for the binary file" not in line:
        return False, line
    port.write(_packet(0, name.encode() + b"\0" + str(len(data)).encode() + b" ", 128))
    if port.read(2) != bytes([ACK, 0x43]):
        return False, b"header not acknowledged"
    for i, off in enumerate(range(0, len(data), block), start=1):
        port.write(_packet(i, data[off : off + block], block))
        reply = _expect_ack(port)
        if reply != bytes([ACK]):
            return False, reply
    port.write(bytes([EOT]))
    if port.read(1) != bytes([ACK]):
        return False, b"EOT not acknowledged"
    port.write(_packet(0, b"", 128))
    first = port.read(1)
    rest = port.read_until(b"bytes\r\n") if first == bytes([ACK]) else port.read_until(b"\r\n", 200)
    return first == bytes([ACK]), first + rest
