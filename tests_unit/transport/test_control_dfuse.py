"""rig.transport.control and rig.transport.dfuse against simulated boards."""

from __future__ import annotations

import pytest

from rig.firmware.format import ModuleFunction as F
from rig.proto import control as pb
from rig.sim import installed as inst
from rig.sim.board import Board, Mode
from rig.sim.lab import Lab
from rig.transport import usb as tusb
from rig.transport.control import ControlChannel
from rig.transport.dfuse import DfuSe, functional_transfer_size
from rig.transport.errors import BoardGoneError, ControlRequestError, DfuError, TimeoutError_
from rig.transport.results import DependencyCheckFailedError, NotSupportedError


def channel(lab: Lab, device_id: str) -> ControlChannel:
    found = tusb.find(device_id)
    assert found is not None and not found.dfu
    return ControlChannel(found.device, lab.clock)


def test_scan_finds_boards_with_location_and_mode(lab: Lab) -> None:
    b = lab.add_board("b", "boron", "2.3.1", hub="1-1", port=3)
    found = tusb.scan()
    assert [(x.device_id, x.platform.name, x.dfu, x.location, x.hub_location, x.hub_port) for x in found] == [
        (b.device_id, "boron", False, "1-1.3", "1-1", 3)
    ]


def test_typed_requests_and_named_errors(lab: Lab) -> None:
    board = lab.add_board("b", "boron", "4.0.1")
    ctl = channel(lab, board.device_id)
    ctl.reset_all()
    assert ctl.get_system_version().version == "4.0.1"
    assert ctl.raw_in(20).decode() == board.device_id.upper()
    with pytest.raises(NotSupportedError, match="refused SetDeviceSetupDoneRequest: not supported \\(-120\\)"):
        ctl.set_device_setup_done(False)
    modules = ctl.get_module_info().modules
    assert {(m.type, m.version) for m in modules} >= {(2, 4005), (1, 1101)}


def test_update_rejection_is_a_named_error(real_lab: Lab, real_store) -> None:
    board = real_lab.add_board("b", "boron", "2.2.0")
    ctl = channel(real_lab, board.device_id)
    part1 = real_store.get("boron", "4.0.1").system_parts[0].module.data
    ctl.start_firmware_update(len(part1))
    for off in range(0, len(part1), 1024):
        ctl.firmware_update_data(part1[off : off + 1024])
    with pytest.raises(DependencyCheckFailedError) as info:
        ctl.finish_firmware_update(validate_only=False)
    assert info.value.code == -1340 and "dependency check failed" in str(info.value)


def test_busy_board_is_waited_for_and_gone_board_is_named(lab: Lab) -> None:
    board = lab.add_board("p", "photon", "2.3.1")
    found = tusb.find(board.device_id)
    for _ in range(4):  # four requests left pending by another host
        found.device.ctrl_transfer(0xC0, 1, 100, 1, 64)
    ctl = ControlChannel(found.device, lab.clock, timeout=2)
    with pytest.raises(ControlRequestError, match="refused control request 1: busy"):
        ctl.request(pb.ECHO, b"x")
    ctl.reset_all()
    assert ctl.request(pb.ECHO, b"hello") == b"hello"
    board.power_off()
    with pytest.raises(BoardGoneError):
        ctl.request(pb.ECHO, b"x")


def test_timeout_when_the_board_never_finishes(lab: Lab) -> None:
    board = lab.add_board("b", "boron", "2.3.1")
    ctl = channel(lab, board.device_id)
    start = lab.clock.now()
    with pytest.raises(TimeoutError_, match="did not finish"):
        ctl.request(pb.START_FIRMWARE_UPDATE, pb.encode("StartFirmwareUpdateRequest", size=1_400_000), timeout=1.0)
    assert lab.clock.now() - start < 3


def dfuse_of(lab: Lab, board: Board) -> DfuSe:
    """The board put in DFU mode by control request, and a DfuSe on it."""
    channel(lab, board.device_id).request(pb.DFU_MODE)
    lab.settle(3)
    found = tusb.find(board.device_id)
    assert found is not None and found.dfu
    return DfuSe(found.device, lab.clock)


def test_dfuse_write_verify_read_and_leave(lab: Lab) -> None:
    board = lab.add_board("b", "boron", "2.3.1")
    dfu = dfuse_of(lab, board)
    app = lab.release_modules("boron", "2.3.1")[-1]
    address, data = inst.flash_image(app)
    report = dfu.write(0, address, data, verify=True)
    assert report.erased == list(range(0xD4000, 0xD4000 + len(data) + 4095 & ~0xFFF, 4096))
    assert dfu.read(0, address, 64) == data[:64]
    report = dfu.write(1, 8134, b"\x01")  # DCT: not erasable, so nothing is erased
    assert report.erased == []
    with pytest.raises(DfuError, match="not writable over DFU alt 0"):
        dfu.write(0, 0xF9000, b"\x00" * 16)  # upper bootloader: read-only
    dfu.leave()
    lab.settle(5)
    assert board.mode == Mode.NORMAL
    assert inst.find(board.installed(), F.USER_PART, 1) is not None


def test_dfuse_error_status_is_cleared_and_reported(lab: Lab) -> None:
    board = lab.add_board("p", "photon", "2.3.1")
    board.backup_request = "dfu"
    board.reset("test")
    lab.settle(3)
    dfu = DfuSe(tusb.find(board.device_id).device, lab.clock)
    board.faults.dfu_error_status = 3
    with pytest.raises(DfuError, match="errWRITE") as info:
        dfu.write(0, 0x080A0000, b"\x00" * 100)
    assert info.value.status == 3
    dfu.write(0, 0x080A0000, b"\x00" * 100)  # dfuERROR cleared first


@pytest.mark.parametrize(("platform", "address"), [("photon", 0x08020000), ("boron", 0x30000)])
def test_dfuse_reads_many_blocks_from_alt_0(lab: Lab, platform: str, address: int) -> None:
    """The transfer size is the board's 4096 although alt 0 carries no functional descriptor, and a
    read of several blocks returns the flash (protocols §5.8: block k lives at (k - 2) x 4096)."""
    board = lab.add_board("b", platform, "2.3.1")
    dfu = dfuse_of(lab, board)
    assert dfu.transfer_size(0) == 4096
    assert dfu.read(0, address, 3 * 4096 + 100) == board.mem.read(address, 3 * 4096 + 100)


def test_functional_descriptor_is_found_in_any_run_of_descriptors() -> None:
    functional = bytes([9, 0x21, 0x0B, 0xFF, 0x00, 0x00, 0x08, 0x1A, 0x01])  # wTransferSize 2048
    config = bytes([9, 2, 45, 0, 1, 1, 4, 0xC0, 0x32]) + bytes([9, 4, 0, 0, 0, 0xFE, 1, 2, 6]) + functional
    assert functional_transfer_size(config) == 2048
    assert functional_transfer_size(config[:-9]) is None
    assert functional_transfer_size(b"\x00\x21" + functional) is None  # malformed length: no endless loop


def test_gen2_refusal_by_stall_is_a_named_failure_and_the_next_write_works(lab: Lab) -> None:
    """A Photon refuses writes below 0x08020000 by stalling the status request and carrying on in
    dfuDNLOAD_IDLE with status OK (§5.9): the rig must report the write failed, not retry into 'OK'."""
    board = lab.add_board("p", "photon", "2.3.1")
    dfu = dfuse_of(lab, board)
    before = board.mem.read(0x08010000, 16)
    with pytest.raises(DfuError, match="refused to erase the sector at 0x8010000 \\(it stalled the status request\\)"):
        dfu.write(0, 0x08010000, b"\x00" * 16)
    with pytest.raises(DfuError, match="refused to write 0x8010000"):
        dfu.write(0, 0x08010000, b"\x00" * 16, erase=False)
    assert board.mem.read(0x08010000, 16) == before
    dfu.write(0, 0x080A0000, b"\x00" * 16, verify=True)  # the board carried on


@pytest.mark.parametrize(("version", "has_it"), [("6.1.1", True), ("4.0.1", False)])
def test_safe_mode_command_is_asked_for_first(lab: Lab, version: str, has_it: bool) -> None:
    board = lab.add_board("b", "boron", version)
    dfu = dfuse_of(lab, board)
    assert (0xFA in dfu.commands()) == has_it
    if has_it:
        dfu.enter_safe_mode()
        lab.settle(5)
        assert board.mode == Mode.SAFE
    else:
        with pytest.raises(DfuError, match="bootloader has no safe-mode command"):
            dfu.enter_safe_mode()
        assert board.mode == Mode.DFU and board.log[-1][1] != "DfuSe 0xFA: enter safe mode"
