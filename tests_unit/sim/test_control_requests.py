"""USB control requests against simulated boards (protocols §4), driven with plain pyusb."""

from __future__ import annotations

import errno
import struct

import pytest
import usb.core
import usb.util

from rig.firmware.format import ModuleFunction as F
from rig.proto import control as pb
from rig.sim.board import Mode
from rig.sim.lab import Lab
from testsupport import usbtools as u


def test_identity_strings_and_raw_requests(lab: Lab) -> None:
    board = lab.add_board("b1", "boron", "2.3.1")
    dev = u.find(board.device_id)
    assert (dev.idVendor, dev.idProduct) == (0x2B04, 0xC00D)
    assert dev.manufacturer == "Particle" and dev.product == "Boron"
    assert dev.serial_number == board.device_id  # lower case in every mode (§2.1)
    assert bytes(dev.ctrl_transfer(0xC0, 0x50, 0, 20, 64)).decode() == board.device_id.upper()  # raw 20: upper
    assert bytes(dev.ctrl_transfer(0xC0, 0x50, 0, 30, 64)).split(b"\0")[0] == b"2.3.1"
    result, reply = u.request(dev, pb.DEVICE_ID, clock=lab.clock)
    assert result == 0 and pb.decode("GetDeviceIdReply", reply).id == board.device_id


def test_module_info_lists_flash_contents(real_lab: Lab) -> None:
    board = real_lab.add_board("t", "tracker", "4.0.1")
    modules = u.module_info(u.find(board.device_id), real_lab.clock)
    got = {(pb.FUNCTION_OF_MODULE_TYPE[m.type], m.index, m.version, m.validity) for m in modules}
    assert got == {(8, 0, 202, 0), (4, 1, 4005, 0), (5, 1, 6, 0), (2, 0, 1101, 0), (7, 0, 7, 0)}
    part1 = next(m for m in modules if m.type == pb.MODULE_TYPE_OF_FUNCTION[4])
    assert [(d.type, d.index, d.version) for d in part1.dependencies] == [(1, 0, 1101), (5, 0, 7)]


def test_setup_done_before_and_after_4_0_0(lab: Lab) -> None:
    from rig.sim.board import BoardSettings

    old = lab.add_board("old", "argon", "2.3.1", settings=BoardSettings(setup_done=False))
    assert old.mode == Mode.LISTENING  # Gen 3 < 4.0.0 without setup done (§6.10)
    dev = u.find(old.device_id)
    assert u.request(dev, pb.IS_DEVICE_SETUP_DONE, clock=lab.clock)[1] == b""  # done = false
    assert (
        u.request(dev, pb.SET_DEVICE_SETUP_DONE, pb.encode("SetDeviceSetupDoneRequest", done=True), clock=lab.clock)[0]
        == 0
    )
    assert old.dct_read(8134, 1) == b"\x01"
    new = lab.add_board("new", "argon", "4.0.1", settings=BoardSettings(setup_done=False))
    assert new.mode == Mode.NORMAL
    dev = u.find(new.device_id)
    assert (
        u.request(dev, pb.SET_DEVICE_SETUP_DONE, pb.encode("SetDeviceSetupDoneRequest", done=False), clock=lab.clock)[0]
        == -120
    )


def test_listening_mode_on_and_off_keeps_the_usb_device(lab: Lab) -> None:
    board = lab.add_board("p", "photon", "2.3.1")
    dev = u.find(board.device_id)
    gen = board.usb_generation
    assert u.request(dev, pb.START_LISTENING, clock=lab.clock)[0] == 0
    lab.settle(0.5)
    assert board.mode == Mode.LISTENING and board.usb_generation == gen
    reply = u.request(dev, pb.GET_DEVICE_MODE, clock=lab.clock)[1]
    assert pb.decode("GetDeviceModeReply", reply).mode == 1
    u.request(dev, pb.STOP_LISTENING, clock=lab.clock)
    lab.settle(0.5)
    assert board.mode == Mode.NORMAL


def test_reset_reenumerates_with_a_new_address(lab: Lab) -> None:
    board = lab.add_board("p", "photon", "2.3.1")
    dev = u.find(board.device_id)
    address = dev.address
    assert u.request(dev, pb.RESET, clock=lab.clock)[0] == 0
    lab.settle(0.5)
    assert board.mode == Mode.NORMAL  # reply first, reset 1 s later (§4.3)
    lab.settle(1.0)
    assert u.find(board.device_id) is None  # rebooting: gone from USB
    with pytest.raises(usb.core.USBError) as info:
        dev.ctrl_transfer(0xC0, 0x50, 0, 30, 64)
    assert info.value.errno == errno.ENODEV
    lab.settle(3)
    again = u.find(board.device_id)
    assert again is not None and again.address != address and again.port_numbers == dev.port_numbers


def test_busy_not_found_and_stall(lab: Lab) -> None:
    board = lab.add_board("p", "photon", "2.3.1")
    dev = u.find(board.device_id)
    for _ in range(4):
        rep = bytes(dev.ctrl_transfer(0xC0, 1, 100, pb.ECHO, 64))
        assert struct.unpack_from("<H", rep, 4)[0] == 2  # PENDING: buffer allocated later
    rep = bytes(dev.ctrl_transfer(0xC0, 1, 0, pb.ECHO, 64))
    assert struct.unpack_from("<H", rep, 4)[0] == 3  # BUSY with four active requests
    rep = bytes(dev.ctrl_transfer(0xC0, 2, 0, 999, 64))
    assert struct.unpack_from("<H", rep, 4)[0] == 5  # NOT_FOUND
    dev.ctrl_transfer(0xC0, 5, 0, 0, 64)  # RESET all
    assert u.request(dev, pb.ECHO, b"x" * 300, clock=lab.clock) == (0, b"x" * 300)
    with pytest.raises(usb.core.USBError) as info:
        dev.ctrl_transfer(0xC0, 9, 0, 0, 64)
    assert info.value.errno == errno.EPIPE


def test_no_usb_permission_looks_like_the_real_thing(lab: Lab) -> None:
    board = lab.add_board("p", "photon", "2.3.1")
    lab.usb_permission = False
    dev = usb.core.find(idVendor=0x2B04)
    assert dev is not None
    with pytest.raises(ValueError, match="langid"):
        usb.util.get_string(dev, 3)
    assert usb.core.find(idVendor=0x2B04, serial_number=board.device_id) is None


def test_update_validation_gen3_bootloader_first(real_lab: Lab, real_store) -> None:
    board = real_lab.add_board("b", "boron", "2.2.0")
    release = real_store.get("boron", "4.0.1")
    part1 = release.system_parts[0].module
    boot = release.bootloader.module  # type: ignore[union-attr]
    dev = u.find(board.device_id)
    assert u.update(dev, part1.data, real_lab.clock) == -1340  # needs bootloader 1101 first (§6.1)
    assert (F.SYSTEM_PART, 1, 2202) in {(m.function, m.index, m.version) for m in board.installed()}
    assert u.update(dev, boot.data, real_lab.clock) == 0
    real_lab.settle(10)
    assert board.mode == Mode.NORMAL
    dev = u.find(board.device_id)
    assert u.update(dev, part1.data, real_lab.clock) == 0
    real_lab.settle(20)
    assert board.system_version() == "4.0.1" and board.mode == Mode.NORMAL


def test_user_app_for_newer_device_os_is_accepted_then_safe_mode(lab: Lab) -> None:
    from rig.firmware.build import build
    from rig.firmware.synthetic import user_app

    board = lab.add_board("b", "boron", "2.2.0")
    app = build(user_app("boron", 2302))  # needs Device OS 2.3.1
    assert u.update(u.find(board.device_id), app, lab.clock) == 0  # user deps are not checked (§6.1)
    lab.settle(20)
    assert board.mode == Mode.SAFE
    big_app = build(user_app("boron", 4005))  # 256 KB slot at 0xB4000: unknown to Device OS 2.2.0
    assert u.update(u.find(board.device_id), big_app, lab.clock) == -1350
