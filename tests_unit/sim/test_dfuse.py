"""DfuSe details of the simulated bootloader (protocols §5): maps, protection, upload, leave, faults."""

from __future__ import annotations

import errno
import struct

import pytest
import usb.core
import usb.util

from rig.sim.board import Mode
from rig.sim.dfu import DNLOAD_IDLE, ERR_UNKNOWN, ERR_WRITE, ERROR, FUNCTIONAL_DESCRIPTOR, MANIFEST
from rig.sim.lab import Lab
from testsupport import usbtools as u
from testsupport.dfu import to_dfu


def test_alt_settings_carry_the_platform_memory_maps(lab: Lab) -> None:
    board = lab.add_board("b", "boron", "2.3.1")
    dev = to_dfu(lab, board)
    assert (dev.idProduct, dev.serial_number) == (0xD00D, board.device_id)  # Gen 3 DFU: lower case
    names = [usb.util.get_string(dev, dev.get_active_configuration()[(0, alt)].iInterface) for alt in range(3)]
    assert names[0].startswith("@Internal Flash   /0x00000000/1*004Ka")  # three spaces, as the bootloader
    assert names[1] == "@DCD Flash   /0x00000000/1*016Ke"  # renamed DCT by the 5.0.1 bootloader (§2.5)
    assert names[2] == "@External Flash   /0x80000000/1024*004Kg"


@pytest.mark.parametrize(
    ("platform", "version", "dct"),
    [("boron", "5.0.1", "@DCT Flash   /0x00000000/1*016Ke"), ("photon", "2.3.1", "@DCT Flash   /0x00000000/01*016Kg")],
)
def test_dct_alt_name_by_bootloader(lab: Lab, platform: str, version: str, dct: str) -> None:
    board = lab.add_board("b", platform, version)
    dev = to_dfu(lab, board)
    assert usb.util.get_string(dev, dev.get_active_configuration()[(0, 1)].iInterface) == dct


def test_read_only_segments_are_refused_and_the_dct_erase_is_a_no_op(lab: Lab) -> None:
    """Gen 3 reports errUNKNOWN in dfuERROR for a refused erase or write (v4.0.1 usbd_dfu.cpp, §5.9)."""
    board = lab.add_board("b", "boron", "2.3.1")
    dev = to_dfu(lab, board)
    dev.set_interface_altsetting(0, 0)
    assert u.dfu_cmd(dev, b"\x41" + struct.pack("<I", 0xF8000)) == (ERR_UNKNOWN, ERROR)  # bootloader top: 'a'
    dev.ctrl_transfer(0x21, 4, 0, 0, None)  # CLRSTATUS
    assert u.dfu_write(dev, 0, 0xF9000, b"\x00" * 16, erase=False) == (ERR_UNKNOWN, ERROR)
    dev.ctrl_transfer(0x21, 4, 0, 0, None)
    dev.set_interface_altsetting(0, 1)
    board.dct_write(0x1FC6, b"\x01")
    assert u.dfu_cmd(dev, b"\x41" + struct.pack("<I", 0)) == (0, DNLOAD_IDLE)  # DCT erase: nothing happens
    assert board.dct_read(0x1FC6, 1) == b"\x01"
    assert u.dfu_write(dev, 1, 0x1FC6, b"\x00", erase=False) == (0, DNLOAD_IDLE)
    assert board.dct_read(0x1FC6, 1) == b"\x00"


def test_upload_reads_back_flash(lab: Lab) -> None:
    board = lab.add_board("p", "photon", "2.3.1")
    dev = to_dfu(lab, board)
    dev.set_interface_altsetting(0, 0)
    u.dfu_cmd(dev, b"\x21" + struct.pack("<I", 0x08020000))
    dev.ctrl_transfer(0x21, 6, 0, 0, None)  # ABORT back to dfuIDLE
    data = bytes(dev.ctrl_transfer(0xA1, 2, 2, 0, 4096))
    assert data == board.mem.read(0x08020000, 4096)


def test_writing_without_erase_corrupts_like_nor_flash(lab: Lab) -> None:
    board = lab.add_board("p", "photon", "2.3.1")
    dev = to_dfu(lab, board)
    before = board.mem.read(0x080A0000, 64)
    u.dfu_write(dev, 0, 0x080A0000, b"\x0f" * 64, erase=False)
    assert board.mem.read(0x080A0000, 64) == bytes(b & 0x0F for b in before)


@pytest.mark.parametrize(("platform", "state"), [("photon", DNLOAD_IDLE), ("boron", MANIFEST)])
def test_leave_reports_gen2_quirk_or_manifest(lab: Lab, platform: str, state: int) -> None:
    board = lab.add_board("x", platform, "2.3.1")
    dev = to_dfu(lab, board)
    assert u.dfu_leave(dev) == (0, state)
    lab.settle(5)
    assert board.mode == Mode.NORMAL


def test_injected_dfu_error_and_disconnect(lab: Lab) -> None:
    board = lab.add_board("b", "boron", "2.3.1")
    dev = to_dfu(lab, board)
    board.faults.dfu_error_status = ERR_WRITE
    assert u.dfu_write(dev, 0, 0xD4000, b"\x00" * 4096) == (ERR_WRITE, ERROR)
    dev.ctrl_transfer(0x21, 4, 0, 0, None)
    board.faults.disconnect_after_bytes = board.bytes_received + 10000
    with pytest.raises(usb.core.USBError) as info:
        u.dfu_write(dev, 0, 0xD4000, b"\x00" * 65536)
    assert info.value.errno == errno.ENODEV
    assert u.find(board.device_id) is None
    lab.settle(5)
    assert board.mode == Mode.SAFE  # rebooted; a half-written app means safe mode


@pytest.mark.parametrize(("platform", "alts", "i_config"), [("photon", 2, 2), ("p1", 3, 2), ("boron", 3, 4)])
def test_dfu_descriptors_are_laid_out_like_the_bootloaders(lab: Lab, platform: str, alts: int, i_config: int) -> None:
    """The functional descriptor follows the last alt only (so libusb gives it to that alt's extra
    alone), wTotalLength counts it, and the raw configuration is answered (protocols §5.8)."""
    board = lab.add_board("b", platform, "2.3.1")
    dev = to_dfu(lab, board)
    config = dev.get_active_configuration()
    settings = [config[(0, alt)] for alt in range(alts)]
    assert [bytes(s.extra_descriptors or b"") for s in settings] == [b""] * (alts - 1) + [FUNCTIONAL_DESCRIPTOR]
    assert (config.wTotalLength, config.iConfiguration, config.bmAttributes, config.bMaxPower) == (
        18 + 9 * alts,
        i_config,
        0xC0,
        0x32,
    )
    raw = bytes(dev.ctrl_transfer(0x80, 6, 0x0200, 0, 255))  # standard GET_DESCRIPTOR(configuration)
    assert len(raw) == 18 + 9 * alts and raw[2] == 18 + 9 * alts and raw.endswith(FUNCTIONAL_DESCRIPTOR)
    assert [raw[9 + 9 * n + 3] for n in range(alts)] == list(range(alts))  # bAlternateSetting of each
    assert bytes(dev.ctrl_transfer(0x81, 6, 0x2100, 0, 9)) == FUNCTIONAL_DESCRIPTOR
    dev.set_interface_altsetting(0, 1)
    assert bytes(dev.ctrl_transfer(0x81, 10, 0, 0, 1)) == b"\x01"  # GET_INTERFACE
    assert [s.iInterface for s in settings] == [6 + n for n in range(alts)]
    assert usb.util.get_string(dev, 6).startswith("@Internal Flash")
