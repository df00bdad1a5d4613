"""Control-request details as v2.3.1 `system/src/usb_control_request_channel.cpp` and
`system/src/control/storage.cpp` have them (protocols §4.3, §4.4): RESET of an unknown id, the
update's refusals and cancellations, capabilities, module sizes, and the reset that waits for
its result to be fetched."""

from __future__ import annotations

import struct

import usb.core

from rig.device import Device, HubPort
from rig.firmware.build import build
from rig.firmware.synthetic import user_app
from rig.proto import control as pb
from rig.sim.board import Mode
from rig.sim.lab import Lab
from testsupport import usbtools as u


def status(reply: bytes) -> int:
    return int(struct.unpack_from("<H", reply, 4)[0])


def init(dev: usb.core.Device, req_type: int) -> int:
    rep = bytes(dev.ctrl_transfer(0xC0, 1, 0, req_type, 64))
    assert status(rep) == 0
    return int(struct.unpack_from("<H", rep, 6)[0])


def test_reset_of_an_unknown_request_is_not_found(lab: Lab) -> None:
    board = lab.add_board("p", "photon", "2.3.1")
    dev = u.find(board.device_id)
    assert status(bytes(dev.ctrl_transfer(0xC0, 5, 0, 777, 64))) == 5  # NOT_FOUND
    assert status(bytes(dev.ctrl_transfer(0xC0, 5, 0, 0, 64))) == 0  # RESET all: always OK


def test_finish_with_bytes_missing_is_invalid_state_and_cancels(lab: Lab) -> None:
    board = lab.add_board("b", "boron", "2.3.1")
    dev = u.find(board.device_id)
    app = build(user_app("boron", 2302))
    start = pb.encode("StartFirmwareUpdateRequest", size=len(app))
    assert u.request(dev, pb.START_FIRMWARE_UPDATE, start, lab.clock)[0] == 0
    part = pb.encode("FirmwareUpdateDataRequest", data=app[:1024])
    assert u.request(dev, pb.FIRMWARE_UPDATE_DATA, part, lab.clock)[0] == 0
    assert u.request(dev, pb.FINISH_FIRMWARE_UPDATE, b"", lab.clock)[0] == -210
    assert u.request(dev, pb.FIRMWARE_UPDATE_DATA, part, lab.clock)[0] == -210  # the transfer is gone
    lab.settle(5)
    assert board.mode == Mode.NORMAL  # DONT_RESET: a refused control-request update does not reset


def test_empty_update_data_is_out_of_range_and_cancels(lab: Lab) -> None:
    board = lab.add_board("b", "boron", "2.3.1")
    dev = u.find(board.device_id)
    assert (
        u.request(dev, pb.START_FIRMWARE_UPDATE, pb.encode("StartFirmwareUpdateRequest", size=4096), lab.clock)[0] == 0
    )
    empty = pb.encode("FirmwareUpdateDataRequest", data=b"")
    assert u.request(dev, pb.FIRMWARE_UPDATE_DATA, empty, lab.clock)[0] == -290
    some = pb.encode("FirmwareUpdateDataRequest", data=b"\x00" * 16)
    assert u.request(dev, pb.FIRMWARE_UPDATE_DATA, some, lab.clock)[0] == -210


def test_capabilities_are_zero_and_module_sizes_leave_out_the_crc(lab: Lab) -> None:
    board = lab.add_board("b", "boron", "4.0.1")
    dev = u.find(board.device_id)
    result, reply = u.request(dev, pb.GET_SYSTEM_CAPABILITIES, clock=lab.clock)
    assert result == 0 and pb.decode("GetSystemCapabilitiesReply", reply).flags == 0
    sizes = {(m.index, m.size) for m in u.module_info(dev, lab.clock) if m.type == pb.MODULE_TYPE_OF_FUNCTION[5]}
    app = next(m for m in board.installed() if m.function == 5 and m.module is not None)
    assert sizes == {(app.index, app.module.end - app.module.start)}  # type: ignore[union-attr]
    assert app.module.size == app.module.end - app.module.start + 4  # type: ignore[union-attr]


def test_reset_starts_when_the_result_is_fetched_or_the_request_cancelled(lab: Lab) -> None:
    board = lab.add_board("p", "photon", "2.3.1")
    dev = u.find(board.device_id)
    req_id = init(dev, pb.RESET)
    lab.settle(5)
    assert board.mode == Mode.NORMAL  # the handler ran, but nobody fetched the result
    rep = bytes(dev.ctrl_transfer(0xC0, 2, 0, req_id, 64))
    assert status(rep) == 0
    lab.settle(0.9)
    assert board.mode == Mode.NORMAL  # 1000 ms after the result went out
    lab.settle(0.2)
    assert board.mode != Mode.NORMAL
    lab.settle(5)
    dev = u.find(board.device_id)
    req_id = init(dev, pb.DFU_MODE)
    dev.ctrl_transfer(0xC0, 5, 0, req_id, 64)  # cancelled: the completion handler runs all the same
    lab.settle(5)
    assert board.mode == Mode.DFU


def test_the_rig_clears_requests_a_killed_host_left_behind(lab: Lab) -> None:
    board = lab.add_board("p", "photon", "2.3.1")
    dev = u.find(board.device_id)
    for _ in range(4):
        dev.ctrl_transfer(0xC0, 1, 100, pb.ECHO, 64)  # four requests left pending: the board is BUSY
    assert status(bytes(dev.ctrl_transfer(0xC0, 1, 0, pb.ECHO, 64))) == 3
    slot = lab.slots["p"]
    rig_dev = Device(board.device_id, board.platform, lab.clock, HubPort(slot.hub, slot.port), name="p")
    assert rig_dev.control(timeout=5).request(pb.ECHO, b"hello") == b"hello"
