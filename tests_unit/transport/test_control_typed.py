"""The typed methods of rig.transport.control.ControlChannel against simulated boards: each sends
its request type with the payload Device OS expects, and decodes the reply into its message class
(protocols §4.3, §4.4)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, get_type_hints

import pytest

from rig.firmware.build import build
from rig.firmware.format import ModuleFunction as F
from rig.firmware.synthetic import user_app
from rig.proto import control as pb
from rig.sim import control as simctl
from rig.sim import installed as inst
from rig.sim.board import Board, BoardSettings, Mode
from rig.sim.lab import Lab
from rig.transport import usb as tusb
from rig.transport.control import ControlChannel

SETTINGS = BoardSettings(serial_number="P046AB1234567890", iccid="89014103211118510720", imei="352753090000001")


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[int, bytes]]]:
    """(request type, payload) of every request the simulated boards run."""
    requests: list[tuple[int, bytes]] = []
    handle = simctl.handle

    def spy(board: Board, req_type: int, payload: bytes, after: list[Callable[[], None]]) -> tuple[int, bytes]:
        requests.append((req_type, payload))
        return handle(board, req_type, payload, after)

    monkeypatch.setattr(simctl, "handle", spy)
    yield requests


def channel(board: Board, lab: Lab) -> ControlChannel:
    found = tusb.find(board.device_id)
    assert found is not None and not found.dfu
    ctl = ControlChannel(found.device, lab.clock)
    ctl.reset_all()
    return ctl


@dataclass(frozen=True)
class Case:
    method: str
    args: tuple[Any, ...]
    req_type: int
    payload: bytes
    check: Callable[[Any, Board], bool]  # the reply and the board, settled after the request
    listening: bool = False  # put the board in listening mode first


def modules_match(reply: pb.GetModuleInfoReply, board: Board) -> bool:
    got = {(pb.FUNCTION_OF_MODULE_TYPE[m.type], m.index, m.version) for m in reply.modules}
    return got == {(int(m.function), m.index, m.version) for m in board.installed()}


CASES = [
    Case("get_device_id", (), pb.DEVICE_ID, b"", lambda r, b: r.id == b.device_id),
    Case("get_serial_number", (), pb.SERIAL_NUMBER, b"", lambda r, b: r.serial == SETTINGS.serial_number),
    Case("get_system_version", (), pb.SYSTEM_VERSION, b"", lambda r, b: r.version == "6.1.1"),
    Case(
        "get_ncp_firmware_version",
        (),
        pb.NCP_FIRMWARE_VERSION,
        b"",
        lambda r, b: (r.version, r.module_version) == ("0.0.7", 7),
    ),
    Case("get_system_capabilities", (), pb.GET_SYSTEM_CAPABILITIES, b"", lambda r, b: r.flags == 0),
    Case("reset", (), pb.RESET, b"", lambda r, b: "control request 40" in str(b.log) and b.mode == Mode.NORMAL),
    Case("enter_dfu_mode", (), pb.DFU_MODE, b"", lambda r, b: b.mode == Mode.DFU),
    Case("enter_safe_mode", (), pb.SAFE_MODE, b"", lambda r, b: b.mode == Mode.SAFE),
    Case("start_listening", (), pb.START_LISTENING, b"", lambda r, b: b.mode == Mode.LISTENING),
    Case("stop_listening", (), pb.STOP_LISTENING, b"", lambda r, b: b.mode == Mode.NORMAL, listening=True),
    Case("get_device_mode", (), pb.GET_DEVICE_MODE, b"", lambda r, b: r.mode == 1, listening=True),
    Case("set_device_setup_done", (True,), pb.SET_DEVICE_SETUP_DONE, b"\x08\x01", lambda r, b: True),  # done = true
    Case("is_device_setup_done", (), pb.IS_DEVICE_SETUP_DONE, b"", lambda r, b: r.done),
    Case("get_module_info", (), pb.GET_MODULE_INFO, b"", modules_match),
    Case(
        "get_iccid", (), pb.CELLULAR_GET_ICCID, b"", lambda r, b: (r.iccid, r.imei) == (SETTINGS.iccid, SETTINGS.imei)
    ),
]
UPDATE = ["start_firmware_update", "firmware_update_data", "finish_firmware_update"]  # test_update_requests


def test_every_typed_method_has_a_case() -> None:
    generic = {"request", "call", "raw_in", "raw_out", "reset_all"}
    public = {name for name in vars(ControlChannel) if not name.startswith("_")} - generic
    assert public == {c.method for c in CASES} | set(UPDATE)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.method)
def test_typed_request(lab: Lab, seen: list[tuple[int, bytes]], case: Case) -> None:
    board = lab.add_board("t", "tracker", "6.1.1", settings=SETTINGS)
    ctl = channel(board, lab)
    if case.listening:
        ctl.start_listening()
        lab.settle(1)
        assert board.mode == Mode.LISTENING
    del seen[:]
    reply = getattr(ctl, case.method)(*case.args)
    assert seen == [(case.req_type, case.payload)]
    assert isinstance(reply, get_type_hints(getattr(ControlChannel, case.method))["return"])  # None or the reply class
    lab.settle(5)
    assert case.check(reply, board)


@pytest.mark.parametrize("validate_only", [True, False])
def test_update_requests(lab: Lab, seen: list[tuple[int, bytes]], validate_only: bool) -> None:
    board = lab.add_board("b", "boron", "2.3.1")
    app = build(user_app("boron", 2302, version=7))  # the release installed 6
    ctl = channel(board, lab)
    del seen[:]
    reply = ctl.start_firmware_update(len(app))
    assert isinstance(reply, pb.StartFirmwareUpdateReply) and reply.chunk_size == simctl.CHUNK_SIZE
    for off in range(0, len(app), reply.chunk_size):
        assert ctl.firmware_update_data(app[off : off + reply.chunk_size]) is None
    assert ctl.finish_firmware_update(validate_only) is None
    chunks = [
        (pb.FIRMWARE_UPDATE_DATA, pb.FirmwareUpdateDataRequest(data=app[off : off + 1024]).SerializeToString())
        for off in range(0, len(app), 1024)
    ]
    assert seen == [
        (pb.START_FIRMWARE_UPDATE, pb.StartFirmwareUpdateRequest(size=len(app)).SerializeToString()),
        *chunks,
        (pb.FINISH_FIRMWARE_UPDATE, b"\x08\x01" if validate_only else b""),
    ]
    lab.settle(5)
    installed = inst.find(board.installed(), F.USER_PART, 1)
    assert installed is not None and installed.version == (6 if validate_only else 7)
