"""Particle USB control requests from the host side (particle-protocols §4).

INIT / CHECK / SEND / RECV / RESET over vendor requests on EP0, payloads chunked into 4096-byte
transfers, CHECK polled with particle-usb's back-off (50, 50, 100, 100, 250, 250, 500, 500, 1000
ms ...), a per-request timeout on the caller's clock, protobuf payloads, and a named error for
every Device OS result code (rig.transport.results). Each request the rig sends has a typed method
on ControlChannel (`get_module_info()`, `start_firmware_update(size)`, ...) whose reply is the
message class of rig.proto.control, so mypy checks every field a caller reads or sets.
"""

from __future__ import annotations

import contextlib
import struct
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from google.protobuf.message import Message

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
_M = TypeVar("_M", bound=Message)


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

    # ---- typed requests (§4.3): one method per request the rig sends ------------------------------

    @overload
    def _call(self, req_type: int, request: Message | None, reply: type[_M], timeout: float | None) -> _M: ...
    @overload
    def _call(self, req_type: int, request: Message | None, reply: None, timeout: float | None) -> None: ...
    def _call(self, req_type: int, request: Message | None, reply: type[_M] | None, timeout: float | None) -> _M | None:
        """The one protobuf path: encode `request`, run it, decode the reply payload as `reply`."""
        payload = request.SerializeToString() if request is not None else b""
        name = request.DESCRIPTOR.name if request is not None else reply.DESCRIPTOR.name if reply is not None else ""
        data = self.request(req_type, payload, timeout, name=name)
        return reply.FromString(data) if reply is not None else None

    def get_device_id(self, *, timeout: float | None = None) -> pb.GetDeviceIdReply:
        """Request 20: the device id (lower case)."""
        return self._call(pb.DEVICE_ID, None, pb.GetDeviceIdReply, timeout)

    def get_serial_number(self, *, timeout: float | None = None) -> pb.GetSerialNumberReply:
        """Request 21: the serial number printed on the board (not supported where none is stored)."""
        return self._call(pb.SERIAL_NUMBER, None, pb.GetSerialNumberReply, timeout)

    def get_system_version(self, *, timeout: float | None = None) -> pb.GetSystemVersionReply:
        """Request 30: the Device OS version string."""
        return self._call(pb.SYSTEM_VERSION, None, pb.GetSystemVersionReply, timeout)

    def get_ncp_firmware_version(self, *, timeout: float | None = None) -> pb.GetNcpFirmwareVersionReply:
        """Request 31: the NCP firmware version (not supported without an NCP)."""
        return self._call(pb.NCP_FIRMWARE_VERSION, None, pb.GetNcpFirmwareVersionReply, timeout)

    def get_system_capabilities(self, *, timeout: float | None = None) -> pb.GetSystemCapabilitiesReply:
        """Request 32: the system capability flags."""
        return self._call(pb.GET_SYSTEM_CAPABILITIES, None, pb.GetSystemCapabilitiesReply, timeout)

    def reset(self, *, timeout: float | None = None) -> None:
        """Request 40: reset (the board resets 1 s after replying)."""
        self._call(pb.RESET, None, None, timeout)

    def enter_dfu_mode(self, *, timeout: float | None = None) -> None:
        """Request 50: reset into DFU mode."""
        self._call(pb.DFU_MODE, None, None, timeout)

    def enter_safe_mode(self, *, timeout: float | None = None) -> None:
        """Request 60: reset into safe mode."""
        self._call(pb.SAFE_MODE, None, None, timeout)

    def start_listening(self, *, timeout: float | None = None) -> None:
        """Request 70: enter listening mode (same USB device)."""
        self._call(pb.START_LISTENING, None, None, timeout)

    def stop_listening(self, *, timeout: float | None = None) -> None:
        """Request 71: leave listening mode."""
        self._call(pb.STOP_LISTENING, None, None, timeout)

    def get_device_mode(self, *, timeout: float | None = None) -> pb.GetDeviceModeReply:
        """Request 72: normal (0) or listening (1) mode; safe mode reads as normal."""
        return self._call(pb.GET_DEVICE_MODE, None, pb.GetDeviceModeReply, timeout)

    def set_device_setup_done(self, done: bool, *, timeout: float | None = None) -> None:
        """Request 73: set or clear the setup-done flag (Gen 3; a stub from 4.0.0, §6.10)."""
        self._call(pb.SET_DEVICE_SETUP_DONE, pb.SetDeviceSetupDoneRequest(done=done), None, timeout)

    def is_device_setup_done(self, *, timeout: float | None = None) -> pb.IsDeviceSetupDoneReply:
        """Request 74: the setup-done flag (Gen 3)."""
        return self._call(pb.IS_DEVICE_SETUP_DONE, None, pb.IsDeviceSetupDoneReply, timeout)

    def get_module_info(self, *, timeout: float | None = None) -> pb.GetModuleInfoReply:
        """Request 90: the installed modules with their validity and dependencies."""
        return self._call(pb.GET_MODULE_INFO, None, pb.GetModuleInfoReply, timeout)

    def start_firmware_update(self, size: int, *, timeout: float | None = None) -> pb.StartFirmwareUpdateReply:
        """Request 250: begin an update of `size` bytes; the reply carries the chunk size (§4.4)."""
        return self._call(
            pb.START_FIRMWARE_UPDATE, pb.StartFirmwareUpdateRequest(size=size), pb.StartFirmwareUpdateReply, timeout
        )

    def finish_firmware_update(self, validate_only: bool, *, timeout: float | None = None) -> None:
        """Request 251: validate the update and, unless `validate_only`, apply it (the board resets)."""
        self._call(
            pb.FINISH_FIRMWARE_UPDATE, pb.FinishFirmwareUpdateRequest(validate_only=validate_only), None, timeout
        )

    def firmware_update_data(self, data: bytes, *, timeout: float | None = None) -> None:
        """Request 253: the next chunk of the update."""
        self._call(pb.FIRMWARE_UPDATE_DATA, pb.FirmwareUpdateDataRequest(data=data), None, timeout)

    def get_iccid(self, *, timeout: float | None = None) -> pb.GetIccidReply:
        """Request 554: the SIM's ICCID and the modem's IMEI (cellular, Device OS >= 6.0.0)."""
        return self._call(pb.CELLULAR_GET_ICCID, None, pb.GetIccidReply, timeout)
