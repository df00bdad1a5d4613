"""Particle USB control requests on a simulated board (particle-protocols §4).

The service protocol INIT/CHECK/SEND/RECV/RESET (§4.1) with pending buffers, BUSY at four active
requests and results visible only once the board's work is done; the raw 0x50 requests (§4.2);
and the request types the rig uses, with protobuf payloads as Device OS encodes them. As in
v2.3.1 `system/src/usb_control_request_channel.cpp`, a request's completion handler (the reset
after 40/50/60/251) runs when the request ends: its result fetched, or the request cancelled.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from google.protobuf.message import DecodeError

from rig import timing
from rig.firmware.format import ModuleFunction as F
from rig.proto import control as pb
from rig.sim import installed as inst
from rig.sim import ota
from rig.sim.board import DOS_4_0_0, Mode

if TYPE_CHECKING:
    from rig.sim.board import Board

# service request codes and reply statuses (§4.1)
INIT, CHECK, SEND, RECV, RESET = 1, 2, 3, 4, 5
ST_OK, ST_ERROR, ST_PENDING, ST_BUSY, ST_NO_MEMORY, ST_NOT_FOUND = 0, 1, 2, 3, 4, 5
FLAG_STATUS, FLAG_ID, FLAG_SIZE, FLAG_RESULT = 0x01, 0x02, 0x04, 0x08
MAX_ACTIVE = 4
RAW = 0x50
NOT_SUPPORTED = -120
INVALID_STATE = -210
INVALID_ARGUMENT = -270
OUT_OF_RANGE = -290
CHUNK_SIZE = 1024


class Stall(Exception):
    """The board stalls the control pipe (unsupported request)."""


@dataclass
class Request:
    """One control request in flight."""

    id: int
    type: int
    size: int
    payload: bytearray = field(default_factory=bytearray)
    buffer_ready: bool = True
    done_at: float | None = None  # modelled time when the handler's result is visible
    result: int = 0
    reply: bytes = b""
    sent: int = 0
    after: list[Callable[[], None]] = field(default_factory=list)  # completion handlers


def _reply(status: int, req_id: int | None = None, size: int | None = None, result: int | None = None) -> bytes:
    flags = FLAG_STATUS
    body = b""
    if req_id is not None:
        flags |= FLAG_ID
        body += struct.pack("<H", req_id)
    if size is not None:
        flags |= FLAG_SIZE
        body += struct.pack("<I", size)
    if result is not None:
        flags |= FLAG_RESULT
        body += struct.pack("<i", result)
    return struct.pack("<IH", flags, status) + body


class ControlChannel:
    """The control-request endpoint of one board while its system firmware runs."""

    def __init__(self, board: Board) -> None:
        self.board = board
        self.requests: dict[int, Request] = {}
        self.next_id = 1

    def reset_all(self) -> None:
        """Forget every request (board reset)."""
        self.requests.clear()

    def _finish(self, req: Request) -> None:
        """The request ends (result fetched or cancelled): its completion handlers run."""
        self.requests.pop(req.id, None)
        for action in req.after:
            action()

    def vendor_in(self, request: int, value: int, index: int, length: int) -> bytes:
        """A vendor IN request (bmRequestType 0xC0)."""
        now = self.board.clock.now()
        if request == RAW:
            return self._raw_in(index)
        if request == INIT:
            return self._init(index, value)
        if request not in (CHECK, RECV, RESET):
            raise Stall()
        req = self.requests.get(index)
        if request == RESET:  # id 0: cancel all; an unknown id: NOT_FOUND
            if index != 0 and req is None:
                return _reply(ST_NOT_FOUND)
            for gone in list(self.requests.values()) if index == 0 else [req] if req else []:
                self._finish(gone)
            return _reply(ST_OK)
        if req is None:
            return _reply(ST_NOT_FOUND)
        if request == CHECK:
            if not req.buffer_ready:
                req.buffer_ready = True
                return _reply(ST_OK)
            if req.done_at is None or now < req.done_at:
                return _reply(ST_PENDING)
            if not req.reply:
                self._finish(req)
                return _reply(ST_OK, result=req.result)
            return _reply(ST_OK, size=len(req.reply), result=req.result)
        if request == RECV:
            chunk = req.reply[req.sent : req.sent + length]
            req.sent += len(chunk)
            if req.sent >= len(req.reply):
                self._finish(req)
            return chunk
        raise Stall()  # pragma: no cover - request is CHECK or RECV here

    def vendor_out(self, request: int, value: int, index: int, data: bytes) -> None:
        """A vendor OUT request (bmRequestType 0x40)."""
        if request == RAW:
            self._raw_out(index)
            return
        if request != SEND:
            raise Stall()
        req = self.requests.get(index)
        if req is None or not req.buffer_ready or req.done_at is not None:
            raise Stall()
        if len(req.payload) + len(data) > req.size:
            raise Stall()
        req.payload += data
        if len(req.payload) == req.size:
            self._run(req)

    def _init(self, req_type: int, size: int) -> bytes:
        if len(self.requests) >= MAX_ACTIVE:
            return _reply(ST_BUSY)
        req = Request(self.next_id, req_type, size, buffer_ready=size <= 64)
        self.next_id = self.next_id % 0xFFFF + 1
        self.requests[req.id] = req
        if size == 0:
            self._run(req)
            return _reply(ST_OK, req.id)
        return _reply(ST_OK if req.buffer_ready else ST_PENDING, req.id)

    def _run(self, req: Request) -> None:
        """Run the handler now; its result shows once the work it did has taken its time."""
        board = self.board
        board.take_cost()
        try:
            req.result, req.reply = handle(board, req.type, bytes(req.payload), req.after)
        except DecodeError:
            req.result, req.reply = INVALID_ARGUMENT, b""
        req.done_at = board.clock.now() + 0.001 + board.take_cost()

    def _raw_in(self, index: int) -> bytes:
        board = self.board
        if index == 20:
            return board.device_id.upper().encode()
        if index == 30:
            return board.system_version().encode() + b"\x00"
        raise Stall()

    def _raw_out(self, index: int) -> None:
        if index == 40:
            self.board.reset("raw reset request")
            return
        if index == 302:
            self.board.note("forced cloud disconnect")
            return
        raise Stall()


def _modules_reply(board: Board) -> bytes:
    found = board.installed()
    out = []
    for m in found:
        if m.function == F.NCP_FIRMWARE and not board.platform.has_ncp:
            continue
        validity = 0 if m.integrity_ok else pb.VALIDITY_INTEGRITY_FAILED
        if not inst.deps_ok(found, m.dependencies):
            validity |= pb.VALIDITY_DEPENDENCY_FAILED
        deps = [
            pb.new(
                "ModuleDependency", type=pb.MODULE_TYPE_OF_FUNCTION[int(d.function)], index=d.index, version=d.version
            )
            for d in m.dependencies
            if int(d.function) in pb.MODULE_TYPE_OF_FUNCTION
        ]
        out.append(
            pb.new(
                "ModuleInfo",
                type=pb.MODULE_TYPE_OF_FUNCTION[int(m.function)],
                index=m.index,
                version=m.version,
                size=m.module.end - m.module.start if m.module else m.size,  # end - start: no CRC (§4.4)
                validity=validity,
                dependencies=deps,
            )
        )
    return pb.encode("GetModuleInfoReply", modules=out)


def handle(board: Board, req_type: int, payload: bytes, after: list[Callable[[], None]]) -> tuple[int, bytes]:
    """Run one control request; returns (result code, reply payload) and adds to `after` what runs
    once the request has ended.
    """
    clock = board.clock
    if req_type == pb.ECHO:
        return 0, payload
    if req_type == pb.DEVICE_ID:
        return 0, pb.encode("GetDeviceIdReply", id=board.device_id)
    if req_type == pb.SERIAL_NUMBER:
        if not board.settings.serial_number:
            return NOT_SUPPORTED, b""
        return 0, pb.encode("GetSerialNumberReply", serial=board.settings.serial_number)
    if req_type == pb.SYSTEM_VERSION:
        return 0, pb.encode("GetSystemVersionReply", version=board.system_version())
    if req_type == pb.GET_SYSTEM_CAPABILITIES:  # COMPRESSED_OTA is never set: the HAL flag is 0 (§4.4)
        return 0, pb.encode("GetSystemCapabilitiesReply", flags=0)
    if req_type == pb.NCP_FIRMWARE_VERSION:
        if board.ncp_version is None:
            return NOT_SUPPORTED, b""
        v = board.ncp_version
        return 0, pb.encode("GetNcpFirmwareVersionReply", version=f"0.0.{v}", module_version=v)
    if req_type in (pb.RESET, pb.DFU_MODE, pb.SAFE_MODE):
        into = {pb.RESET: None, pb.DFU_MODE: "dfu", pb.SAFE_MODE: "safe"}[req_type]
        after.append(lambda: board.reset(f"control request {req_type}", delay=timing.RESET_AFTER_REPLY, into=into))
        return 0, b""
    if req_type in (pb.START_LISTENING, pb.STOP_LISTENING):
        clock.schedule(0.05, lambda: _listen(board, req_type == pb.START_LISTENING))
        return 0, b""
    if req_type == pb.GET_DEVICE_MODE:
        return 0, pb.encode("GetDeviceModeReply", mode=1 if board.listening else 0)
    if req_type == pb.SET_DEVICE_SETUP_DONE:
        done = pb.decode("SetDeviceSetupDoneRequest", payload).done
        return _setup_done(board, done, board.system_module_version() or 0)
    if req_type == pb.IS_DEVICE_SETUP_DONE:
        offset = board.platform.setup_done_offset
        if offset is None:
            return NOT_SUPPORTED, b""
        done = (board.system_module_version() or 0) >= DOS_4_0_0 or board.dct_read(offset, 1) == b"\x01"
        return 0, pb.encode("IsDeviceSetupDoneReply", done=done)
    if req_type == pb.GET_MODULE_INFO:
        return 0, _modules_reply(board)
    if req_type == pb.DIAGNOSTIC_INFO:
        return 0, json.dumps({"uptime": round(clock.now())}).encode()
    if req_type == pb.CELLULAR_GET_ICCID:
        if not board.settings.iccid:
            return NOT_SUPPORTED, b""
        return 0, pb.encode("GetIccidReply", iccid=board.settings.iccid, imei=board.settings.imei or "")
    return _firmware_update(board, req_type, payload, after)


def _listen(board: Board, start: bool) -> None:
    """network_listen / network_listen(stop): same USB port, new mode."""
    if start and board.mode in (Mode.NORMAL, Mode.SAFE):
        board.enter(Mode.SAFE_LISTENING if board.mode == Mode.SAFE else Mode.LISTENING)
    elif not start and board.listening:
        board.leave_listening()


def _setup_done(board: Board, done: bool, sysver: int) -> tuple[int, bytes]:
    offset = board.platform.setup_done_offset
    if offset is None:
        return NOT_SUPPORTED, b""
    if sysver >= DOS_4_0_0:  # 4.0.0 turned 73 into a stub (§6.10)
        return (0, b"") if done else (NOT_SUPPORTED, b"")
    board.dct_write(offset, b"\x01" if done else b"\xff")
    return 0, b""


def _firmware_update(board: Board, req_type: int, payload: bytes, after: list[Callable[[], None]]) -> tuple[int, bytes]:
    """Requests 250-253 as v2.3.1 `system/src/control/storage.cpp` runs them: any error cancels."""
    if req_type == pb.START_FIRMWARE_UPDATE:
        msg = pb.decode("StartFirmwareUpdateRequest", payload)
        if msg.format != 0:
            return NOT_SUPPORTED, b""
        code = ota.begin_update(board, msg.size)
        return code, pb.encode("StartFirmwareUpdateReply", chunk_size=CHUNK_SIZE) if code == 0 else b""
    if req_type == pb.FIRMWARE_UPDATE_DATA:
        data = pb.decode("FirmwareUpdateDataRequest", payload).data
        if board.update is None:
            return INVALID_STATE, b""
        code = ota.write_update(board, board.update.received, data) if data else OUT_OF_RANGE
        if code != 0:
            board.update = None  # any error cancels the update (§4.4)
        return code, b""
    if req_type == pb.CANCEL_FIRMWARE_UPDATE:
        board.update = None
        return 0, b""
    if req_type == pb.FINISH_FIRMWARE_UPDATE:
        validate_only = pb.decode("FinishFirmwareUpdateRequest", payload).validate_only
        if board.update is not None and board.update.received < board.update.size:
            board.update = None  # bytes missing
            return INVALID_STATE, b""
        code = ota.finish_update(board, validate_only)
        if code == 0 and not validate_only:
            after.append(lambda: board.reset("firmware update", delay=timing.RESET_AFTER_REPLY))
        return code, b""
    return NOT_SUPPORTED, b""
