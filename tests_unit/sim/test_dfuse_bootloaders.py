"""How each generation's bootloader answers what it does not do (protocols §5.9): the safe-mode
command only from the 6.1.1 nRF52840 bootloader, Gen 2's stall-and-carry-on refusals, the
protected first 128 KB of a Photon, CLRSTATUS outside dfuERROR, and the leave's states and timing.
"""

from __future__ import annotations

import contextlib
import struct

import pytest
import usb.core

from rig.sim.board import Mode
from rig.sim.dfu import DNBUSY, DNLOAD_IDLE, ERR_STALLEDPKT, ERR_UNKNOWN, ERROR, IDLE, MANIFEST, MANIFEST_WAIT_RESET
from rig.sim.lab import Lab
from testsupport import usbtools as u
from testsupport.dfu import to_dfu


def get_commands(dev: usb.core.Device) -> bytes:
    return bytes(dev.ctrl_transfer(0xA1, 2, 0, 0, 16))  # UPLOAD of block 0


def stalls(call) -> bool:  # type: ignore[no-untyped-def]
    try:
        call()
    except usb.core.USBError as exc:
        return exc.errno == 32  # EPIPE
    return False


@pytest.mark.parametrize(
    ("platform", "version", "commands"),
    [
        ("boron", "6.1.1", b"\x00\x21\x41\xfa"),
        ("boron", "5.9.0", b"\x00\x21\x41"),
        ("photon", "2.3.1", b"\x00\x21\x41"),
    ],
)
def test_get_commands_lists_safe_mode_only_on_the_6_1_1_nrf52840_bootloader(
    lab: Lab, platform: str, version: str, commands: bytes
) -> None:
    board = lab.add_board("b", platform, version)
    dev = to_dfu(lab, board)
    assert get_commands(dev) == commands


def test_safe_mode_command_on_a_bootloader_that_has_it(lab: Lab) -> None:
    board = lab.add_board("b", "boron", "6.1.1")
    dev = to_dfu(lab, board)
    dev.ctrl_transfer(0x21, 1, 0, 0, b"\xfa")
    assert u.dfu_status(dev) == (0, DNBUSY)  # the status request that runs it
    assert u.dfu_status(dev) == (0, MANIFEST)  # then it leaves like a zero-length DNLOAD
    lab.settle(5)
    assert board.mode == Mode.SAFE


def test_older_gen3_bootloader_refuses_the_safe_mode_command(lab: Lab) -> None:
    board = lab.add_board("b", "boron", "4.0.1")
    dev = to_dfu(lab, board)
    assert u.dfu_cmd(dev, b"\xfa") == (ERR_STALLEDPKT, ERROR)  # v4.0.1: unsupported command
    lab.settle(5)
    assert board.mode == Mode.DFU


def test_gen2_stalls_a_refused_command_and_carries_on(lab: Lab) -> None:
    """v2.3.1 usbd_dfu_core.c EP0_TxSent: USBD_CtlError, then dfuDNLOAD_SYNC with no length, so the
    next status is dfuDNLOAD_IDLE and OK: a host that retries the status request misses the refusal."""
    board = lab.add_board("p", "photon", "2.3.1")
    dev = to_dfu(lab, board)
    dev.ctrl_transfer(0x21, 1, 0, 0, b"\xfa")
    assert stalls(lambda: u.dfu_status(dev))
    assert u.dfu_status(dev) == (0, DNLOAD_IDLE)
    lab.settle(5)
    assert board.mode == Mode.DFU
    dev.ctrl_transfer(0x21, 6, 0, 0, None)  # ABORT
    dev.ctrl_transfer(0x21, 1, 0, 0, b"\x41")  # mass erase: not a command Gen 2 knows either
    assert stalls(lambda: u.dfu_status(dev))
    assert u.dfu_status(dev) == (0, DNLOAD_IDLE)


@pytest.mark.parametrize("address", [0x0800C000, 0x08010000])
def test_gen2_protects_everything_below_the_system(lab: Lab, address: int) -> None:
    """DFU_MAL_IS_PROTECTED_AREA: 0x08000000 up to CORE_FW_ADDRESS 0x08020000 (v2.3.1 usbd_conf.h), even
    where the memory map says the sector is writable."""
    board = lab.add_board("p", "photon", "2.3.1")
    dev = to_dfu(lab, board)
    before = board.mem.read(address, 64)
    dev.set_interface_altsetting(0, 0)
    dev.ctrl_transfer(0x21, 1, 0, 0, b"\x41" + struct.pack("<I", address))
    assert stalls(lambda: u.dfu_status(dev))
    assert u.dfu_status(dev) == (0, DNLOAD_IDLE)
    u.dfu_cmd(dev, b"\x21" + struct.pack("<I", address))
    dev.ctrl_transfer(0x21, 1, 2, 0, b"\x00" * 64)
    assert stalls(lambda: u.dfu_status(dev))
    assert board.mem.read(address, 64) == before


@pytest.mark.parametrize("platform", ["photon", "boron"])
def test_clrstatus_outside_dfu_error_is_an_error(lab: Lab, platform: str) -> None:
    board = lab.add_board("b", platform, "2.3.1")
    dev = to_dfu(lab, board)
    with contextlib.suppress(usb.core.USBError):  # Gen 3 also stalls it
        dev.ctrl_transfer(0x21, 4, 0, 0, None)
    assert u.dfu_status(dev) == (ERR_UNKNOWN, ERROR)
    dev.ctrl_transfer(0x21, 4, 0, 0, None)
    assert u.dfu_status(dev) == (0, IDLE)


def test_set_interface_changes_only_the_alt(lab: Lab) -> None:
    board = lab.add_board("b", "boron", "2.3.1")
    dev = to_dfu(lab, board)
    dev.ctrl_transfer(0x21, 1, 0, 0, b"\xfa")
    u.dfu_status(dev)
    assert u.dfu_status(dev) == (ERR_STALLEDPKT, ERROR)
    dev.set_interface_altsetting(0, 1)
    assert u.dfu_status(dev) == (ERR_STALLEDPKT, ERROR)


@pytest.mark.parametrize(("platform", "first"), [("photon", DNLOAD_IDLE), ("boron", MANIFEST)])
def test_leave_states_and_the_half_second_before_the_reset(lab: Lab, platform: str, first: int) -> None:
    board = lab.add_board("b", platform, "2.3.1")
    dev = to_dfu(lab, board)
    dev.ctrl_transfer(0x21, 1, 0, 0, b"")
    assert u.dfu_status(dev) == (0, first)  # Gen 2 pleases dfu-util with dfuDNLOAD_IDLE (§5.3)
    assert u.dfu_status(dev) == (0, MANIFEST_WAIT_RESET)
    lab.settle(0.4)
    assert board.mode == Mode.DFU
    lab.settle(0.2)
    assert board.mode != Mode.DFU
