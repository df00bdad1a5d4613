"""The sim:// serial port: listening console, baud triggers, YMODEM (protocols §3)."""

from __future__ import annotations

import json

import pytest
import serial
import serial.tools.list_ports
from serial import SerialException

from rig.firmware.build import build
from rig.firmware.format import ModuleFunction as F
from rig.firmware.synthetic import user_app
from rig.sim.board import BoardSettings, Mode
from rig.sim.lab import Lab
from testsupport import serialtools


def open_port(board, baud: int = 9600, timeout: float = 10.0) -> serial.SerialBase:
    return serial.serial_for_url(f"sim://{board.device_id}", baudrate=baud, timeout=timeout)


def test_console_strings(lab: Lab) -> None:
    board = lab.add_board(
        "b", "boron", "2.3.1", settings=BoardSettings(imei="352753090000001", iccid="8934076500002587657")
    )
    port = open_port(board, 28800)  # 28800 baud: listening mode (§3.5)
    assert board.mode == Mode.LISTENING
    port.write(b"v")
    assert port.read_until(b"\r\n") == b"system firmware version: 2.3.1\n\r\n"
    port.write(b"i")
    text = port.read_until(b"Cell Radio Version: L0.0.00.00.05.06\r\n", size=500).decode()
    assert text.startswith(f"Device ID: {board.device_id}\r\nIMEI: 352753090000001\r\nICCID: 8934076500002587657\r\n")
    port.write(b"s")
    describe = json.loads(port.read_until(b"\r\n").decode())
    assert describe["p"] == 13 and describe["imei"] == "352753090000001"
    kinds = {(m["f"], m["n"], m["v"]) for m in describe["m"]}
    assert {("b", "0", 1006), ("s", "1", 2302), ("a", "0", 202), ("u", "1", 6)} <= kinds
    assert all(m["vc"] == 30 and m["vv"] == 30 for m in describe["m"])
    port.write(b"x")
    lab.settle(0.1)
    assert board.mode == Mode.NORMAL


def test_cellular_identify_waits_for_the_modem(lab: Lab) -> None:
    board = lab.add_board("e", "electron", "2.3.1", settings=BoardSettings(imei="1", iccid="2"))
    board.reset("test")
    lab.settle(3)
    port = open_port(board, 28800, timeout=30)
    start = lab.clock.now()
    port.write(b"i")
    assert b"IMEI: 1" in port.read_until(b"Cell Radio Version: L0.0.00.00.05.06\r\n")
    assert lab.clock.now() - start > 10  # LTE modem start-up (up to 18 s, §3.2)


def test_14400_baud_enters_dfu_and_the_port_goes_away(lab: Lab) -> None:
    board = lab.add_board("p", "photon", "2.3.1")
    port = open_port(board, 14400)
    lab.settle(0.2)
    with pytest.raises(SerialException, match="device disconnected"):
        port.read(1)
    with pytest.raises(SerialException, match="could not open port"):
        open_port(board)
    lab.settle(2)
    assert board.mode == Mode.DFU
    assert serial.tools.list_ports.comports() == []


def test_photon_downgrade_over_ymodem_needs_reverse_order(real_lab: Lab, real_store) -> None:
    board = real_lab.add_board("p", "photon", "2.3.1")
    target = {s.module.index: s for s in real_store.get("photon", "1.5.2").system_parts}
    port = open_port(board, 28800)
    boots = board.boots
    ok, reply = serialtools.send(port, "part1", target[1].module.data)
    assert not ok and b"Validation failed: -1340" in reply  # part 2 2302 needs part 1 >= 2302 (§6.5)
    real_lab.settle(5)  # Device OS 2.x resets after a rejected image too (§3.3)
    assert board.boots == boots + 1 and board.mode == Mode.NORMAL
    port = open_port(board, 28800)
    ok, reply = serialtools.send(port, "part2", target[2].module.data)
    assert ok and b"Downloaded file successfully!" in reply
    assert port.read_until(b"update...\r\n").endswith(b"Restarting system to apply firmware update...\r\n")
    real_lab.settle(5)
    assert {(m.index, m.version) for m in board.installed() if m.function == F.SYSTEM_PART} == {(1, 2302), (2, 1512)}
    port = open_port(board, 28800)
    ok, _ = serialtools.send(port, "part1", target[1].module.data)
    assert ok
    real_lab.settle(10)
    assert board.system_version() == "1.5.2" and board.mode == Mode.NORMAL
    assert board.boots >= 3


def test_gen3_system_part_waits_for_its_bootloader(real_lab: Lab, real_store) -> None:
    board = real_lab.add_board("b", "boron", "2.2.0")
    release = real_store.get("boron", "4.0.1")
    port = open_port(board, 28800)
    ok, reply = serialtools.send(port, "part1", release.system_parts[0].module.data)
    assert not ok and b"-1340" in reply
    real_lab.settle(5)
    port = open_port(board, 28800)
    ok, _ = serialtools.send(port, "bootloader", release.bootloader.module.data)  # type: ignore[union-attr]
    assert ok
    real_lab.settle(10)
    port = open_port(board, 28800)
    ok, _ = serialtools.send(port, "part1", release.system_parts[0].module.data)
    assert ok
    real_lab.settle(10)
    assert board.system_version() == "4.0.1"


def test_user_app_for_newer_device_os_over_serial_then_safe_mode(lab: Lab) -> None:
    board = lab.add_board("p", "photon", "2.2.0")
    port = open_port(board, 28800)
    ok, _ = serialtools.send(port, "app", build(user_app("photon", 2302)))
    assert ok
    lab.settle(5)
    assert board.mode == Mode.SAFE


def test_device_os_6_refuses_ymodem(lab: Lab) -> None:
    board = lab.add_board("b", "boron", "6.1.1")
    board.enter(Mode.LISTENING)
    port = open_port(board)
    port.write(b"f")
    assert port.read_until(b"supported\r\n").endswith(
        b"\x18\x18\x18\x18Serial/YModem flashing is no longer supported\r\n"
    )


def test_receiver_sends_c_on_timeout_and_gives_up(lab: Lab) -> None:
    board = lab.add_board("p", "photon", "2.3.1")
    port = open_port(board, 28800, timeout=40)
    port.write(b"f")
    port.read_until(b"\r\n")
    start = lab.clock.now()
    # one 'C' per 5 s timeout; after the sixth, CAN CAN where it stopped and CAN CAN again (§3.3)
    assert port.read(10) == b"CCCCCC\x18\x18\x18\x18"
    assert 29 < lab.clock.now() - start < 31
    assert port.read_until(b"\r\n") == b"Failed to receive the file!\r\n"
    lab.settle(5)
    assert board.mode == Mode.LISTENING  # nothing was flashed: no reset


def test_nak_storm_and_disconnect_mid_ymodem(lab: Lab) -> None:
    board = lab.add_board("p", "photon", "2.3.1")
    board.faults.ymodem_nak_packets = 3
    port = open_port(board, 28800)
    ok, reply = serialtools.send(port, "app", build(user_app("photon", 2302)))
    assert not ok and reply.startswith(b"\x15")  # NAK for a data block
    assert board.faults.ymodem_nak_packets == 2
    board.faults.ymodem_nak_packets = 0
    lab.settle(40)  # the receiver times out and gives up
    board.faults.disconnect_after_bytes = board.bytes_received + 5000
    port = open_port(board, 28800)
    with pytest.raises(SerialException, match="device disconnected"):
        serialtools.send(port, "app", build(user_app("photon", 2302)))
    lab.settle(5)
    assert board.mode == Mode.NORMAL and board.system_version() == "2.3.1"  # nothing was installed


def test_silent_receiver_and_early_reboot(lab: Lab) -> None:
    board = lab.add_board("p", "photon", "2.3.1")
    board.faults.ymodem_silent = True
    port = open_port(board, 28800, timeout=2)
    ok, reply = serialtools.send(port, "app", build(user_app("photon", 2302)))
    assert not ok and reply == b"header not acknowledged"
    board.faults.ymodem_silent = False
    board.faults.early_reboot_after_bytes = board.bytes_received + 3000
    lab.settle(40)
    port = open_port(board, 28800)
    disconnected = r"^device reports readiness to read but returned no data \(device disconnected"
    with pytest.raises(SerialException, match=disconnected):
        serialtools.send(port, "app", build(user_app("photon", 2302)))
    assert any("early reboot" in text for _, text in board.log)


def test_stuck_board_never_comes_back(lab: Lab) -> None:
    board = lab.add_board("p", "photon", "2.3.1")
    board.faults.stuck = True
    board.reset("test")
    lab.settle(120)
    assert board.mode == Mode.BOOTING and not board.usb_present and serial.tools.list_ports.comports() == []
    board.faults.stuck = False
    board.power_off()
    board.power_on()
    lab.settle(5)
    assert board.mode == Mode.NORMAL
