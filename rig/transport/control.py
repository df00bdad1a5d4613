"""Particle USB control requests from the host side (particle-protocols §4).

INIT / CHECK / SEND / RECV / RESET over vendor requests on EP0, payloads chunked into 4096-byte
transfers, CHECK polled with particle-usb's back-off (50, 50, 100, 100, 250, 250, 500, 500, 1000
ms ...), a per-request timeout on the caller's clock, protobuf payloads, and a named error for
every Device OS result code (rig.transport.results).
"""

from __future__ import annotations

import contextlib
import struct
from dataclasses import dataclass
from typing import Any

from rig.clock import Clock, Deadline
from rig.proto import control as pb
from rig.transport.errors import BoardGoneError, ControlRequestError, TimeoutError_
from rig.transport.results import raise_for
from rig.transport.usb import control_transfer

INIT, CHECK, SEND, RECV, RESET = 1, 2, 3, 4, 5
ST_OK, ST_ERROR, ST_PENDING, ST_BUSY, ST_NO_MEMORY, ST_NOT_FOUND = 0, 1, 2, 3, 4, 5
RAW = 0x50
CHUNK = 4096
DEFAULT_TIMEOUT = 60.0  # particle-usb config.requestTimeout
BACKOFF = (0.05, 0.05, 0.1, 0.1, 0.25, 0.25, 0.5, 0.5, 1.0)
_STATUS = {ST_ERROR: "error", ST_BUSY: "busy", ST_NO_MEMORY: "out of memory", ST_NOT_FOUND: "unknown request"}


@dataclass(frozen=True)
class Reply:
    """A service reply: status and the optional fields (§4.1)."""

    status: int
    request_id: int | None
    size: int | None
    result: int | None


def parse_reply(raw: bytes) -> Reply:
    """Decode u32 flags, u16 status, [u16 id], [u32 size], [i32 result]."""
    if len(raw) < 6:
        raise ControlRequestError(f"The board sent a {len(raw)}-byte service reply; expected at least 6.")
    flags, status = struct.unpack_from("<IH", raw)
    pos = 6
    fields: dict[str, int | None] = {"request_id": None, "size": None, "result": None}
    for flag, name, fmt in ((0x02, "request_id", "<H"), (0x04, "size", "<I"), (0x08, "result", "<i")):
        if flags & flag:
            fields[name] = struct.unpack_from(fmt, raw, pos)[0]
            pos += struct.calcsize(fmt)
    return Reply(status, fields["request_id"], fields["size"], fields["result"])


class ControlChannel:
    """Control requests to one open board (a pyusb Device in normal or listening mode)."""

    def __init__(self, device: Any, clock: Clock, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.device = device
        self.clock = clock
        self.timeout = timeout

    def _xfer(self, request_type: int, request: int, value: int, index: int, data: Any) -> Any:
        return control_transfer(
            self.device,
            (request_type, request, value, index),
            data,
            "control request",
            lambda exc: ControlRequestError(f"The board rejected a control transfer ({exc})."),
        )

    def _service(self, request: int, index: int, value: int = 0) -> Reply:
        return parse_reply(bytes(self._xfer(0xC0, request, value, index, 64)))

    def raw_in(self, index: int, length: int = 64) -> bytes:
        """A one-shot 0x50 IN request (20 = device id, 30 = version; §4.2)."""
        return bytes(self._xfer(0xC0, RAW, 0, index, length))

    def raw_out(self, index: int) -> None:
        """A one-shot 0x50 OUT request (40 = reset now, 302 = cloud disconnect)."""
        self._xfer(0x40, RAW, 0, index, b"")

    def reset_all(self) -> None:
        """RESET(0): forget requests a previous host left behind (particle-usb does it on open)."""
        self._service(RESET, 0)

    def request(self, req_type: int, payload: bytes = b"", timeout: float | None = None, name: str = "") -> bytes:
        """Send one request and return its reply payload; raises the named error of a failure."""
        label = name or f"control request {req_type}"
        deadline = Deadline(self.clock, timeout or self.timeout)
        rep = self._service(INIT, req_type, len(payload))
        backoff = iter(BACKOFF)
        while rep.status == ST_BUSY and not deadline.expired():  # 4 requests active on the board
            self.clock.sleep(next(backoff, 1.0))
            rep = self._service(INIT, req_type, len(payload))
        if rep.status not in (ST_OK, ST_PENDING) or rep.request_id is None:
            raise ControlRequestError(f"The board refused {label}: {_STATUS.get(rep.status, rep.status)}.")
        req_id = rep.request_id
        try:
            if rep.status == ST_PENDING:  # payload buffer allocated asynchronously
                rep = self._poll(req_id, deadline, label)
            for off in range(0, len(payload), CHUNK):
                self._xfer(0x40, SEND, 0, req_id, payload[off : off + CHUNK])
            rep = self._poll(req_id, deadline, label)
            raise_for(rep.result or 0, label)
            data = b""
            while len(data) < (rep.size or 0):
                data += bytes(self._xfer(0xC0, RECV, 0, req_id, min(CHUNK, (rep.size or 0) - len(data))))
            return data
        except TimeoutError_:
            self._cancel(req_id)
            raise

    def _poll(self, req_id: int, deadline: Deadline, label: str) -> Reply:
        backoff = iter(BACKOFF)
        while True:
            rep = self._service(CHECK, req_id)
            if rep.status != ST_PENDING:
                if rep.status != ST_OK:
                    raise ControlRequestError(f"The board lost {label}: {_STATUS.get(rep.status, rep.status)}.")
                return rep
            if deadline.expired():
                raise TimeoutError_(f"The board did not finish {label} within {deadline.timeout:g} s.")
            self.clock.sleep(min(next(backoff, 1.0), max(deadline.remaining(), 0.001)))

    def _cancel(self, req_id: int) -> None:
        with contextlib.suppress(BoardGoneError, ControlRequestError, TimeoutError_):
            self._service(RESET, req_id)

    # ---- typed requests ------------------------------------------------------------

    def call(
        self, req_type: int, request: str | None, reply: str | None, timeout: float | None = None, **fields: Any
    ) -> Any:
        """A protobuf request: encode `request` with fields, decode the reply as `reply`."""
        payload = pb.encode(request, **fields) if request else b""
        data = self.request(req_type, payload, timeout, name=request or reply or "")
        return pb.decode(reply, data) if reply else None
