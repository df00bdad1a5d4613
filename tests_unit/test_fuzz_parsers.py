"""The uhubctl output parser, the listening-console parsers and the simulator's YMODEM receiver
fuzzed with hypothesis: only the rig's own error types escape, and nothing hangs."""

from __future__ import annotations

import binascii
import contextlib
import struct

from hypothesis import given
from hypothesis import strategies as st

from rig.errors import RigError
from rig.sim.lab import Lab
from rig.sim.ymodem import ACK, CAN, CRC_C, NAK, SOH, STX, YmodemReceiver
from rig.transport.console import Console
from rig.transport.hub import parse
from testsupport.uhubctl_samples import SAMPLES

LINES = SAMPLES.splitlines()


@given(st.lists(st.sampled_from(LINES) | st.text(max_size=120), max_size=30))
def test_uhubctl_parser_takes_any_text(lines: list[str]) -> None:
    hubs = parse("\n".join(lines))
    assert len(hubs) == sum(1 for line in lines if line.startswith(("Current status for hub", "New status for hub")))
    text = "\n".join(lines)
    for hub in hubs:  # every port parsed is a port line of the input, its power bit read by the hub's USB version
        bit = 0x0200 if hub.usb3 else 0x0100
        assert all(f"  Port {port.number}: {port.status:04x}" in text for port in hub.port_lines)
        assert all(port.powered == bool(port.status & bit) for port in hub.port_lines)


@given(st.lists(st.sampled_from(LINES), min_size=1, max_size=20), st.data())
def test_uhubctl_parser_survives_mangled_real_lines(lines: list[str], data: st.DataObject) -> None:
    text = "\n".join(lines)
    cut = data.draw(st.integers(0, len(text)))
    junk = data.draw(st.text(max_size=10))
    parse(text[:cut] + junk + text[cut:])  # must not raise


class TickClock:
    """A clock that only moves when the port waits, as a real read timeout does."""

    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


class ScriptedPort:
    """A serial port that answers every command with the same bytes, a few at a time."""

    def __init__(self, answer: bytes, clock: TickClock, chunk: int) -> None:
        self.answer, self.clock, self.chunk = answer, clock, max(chunk, 1)
        self.pending = b""

    def read(self, size: int = 1) -> bytes:
        if not self.pending:
            self.clock.sleep(0.1)  # the read timeout
            return b""
        out, self.pending = self.pending[: min(size, self.chunk)], self.pending[min(size, self.chunk) :]
        return out

    def write(self, data: bytes) -> int:
        self.pending = self.answer
        return len(data)

    def reset_input_buffer(self) -> None:
        self.pending = b""

    def close(self) -> None:
        pass


DESCRIBE = b'{"p":13,"m":[{"s":49152,"l":"m","vc":30,"vv":30,"f":"b","n":"0","v":1102,"d":[]}]}\r\n'


@given(
    st.sampled_from(["identify", "version", "mac", "describe", "modules"]),
    st.binary(max_size=300) | st.sampled_from([DESCRIBE, b'{"m":[{"f":"x"}]}\r\n', b"[1,2]}\r\n"]),
    st.integers(1, 64),
)
def test_console_parsers_raise_only_rig_errors(command: str, answer: bytes, chunk: int) -> None:
    clock = TickClock()
    console = Console(ScriptedPort(answer, clock, chunk), clock)
    with contextlib.suppress(RigError):
        getattr(console, command)()
    assert clock.t < 30  # every command gave up within its timeout


def _crc(data: bytes) -> bytes:
    return struct.pack(">H", binascii.crc_hqx(data, 0))


def _block(seq: int, payload: bytes, big: bool) -> bytes:
    size = 1024 if big else 128
    body = payload[:size].ljust(size, b"\0")
    return bytes([STX if big else SOH, seq & 0xFF, ~seq & 0xFF]) + body + _crc(body)


PIECES = st.one_of(
    st.binary(max_size=40),
    st.builds(_block, st.integers(0, 300), st.binary(max_size=200), st.booleans()),
    st.builds(lambda n: _block(0, b"app.bin\0" + str(n).encode() + b" ", False), st.integers(-5, 10**7)),
    st.sampled_from([bytes([4]), b"a", bytes([CAN, CAN]), b" "]),
)


@given(st.lists(PIECES, max_size=12))
def test_ymodem_receiver_survives_any_host(pieces: list[bytes]) -> None:
    with Lab(time_scale=0) as lab:
        board = lab.add_board("dut", "photon", "2.3.1")
        out: list[bytes] = []
        done: list[bool] = []
        receiver = YmodemReceiver(board, lambda data, delay: out.append(data), lambda: done.append(True))
        assert receiver.finished is False
        for piece in pieces:
            receiver.feed(piece)
        lab.clock.sleep(120)  # timeouts fire: the receiver gives up on its own
        assert receiver.finished and done == [True]  # ended: file received, refused, aborted or timed out
        firsts = {bytes([ACK]), bytes([NAK]), bytes([CAN]), bytes([CRC_C]), b"R"}  # R: "Restarting system ..."
        assert all(chunk[:1] in firsts for chunk in out if chunk)
        assert board.powered
