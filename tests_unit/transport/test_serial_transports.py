"""rig.transport.console and rig.transport.ymodem: against simulated boards and against lrzsz `rb`."""

from __future__ import annotations

import os
import pty
import select
import shutil
import subprocess
import time
import tty
from pathlib import Path

import pytest

from rig.clock import SystemClock
from rig.firmware.build import build
from rig.firmware.synthetic import user_app
from rig.sim.board import BoardSettings, Mode
from rig.sim.lab import Lab
from rig.transport.console import LISTEN_BAUD, Console, open_port
from rig.transport.errors import BoardGoneError, TimeoutError_, YmodemError
from rig.transport.results import DependencyCheckFailedError, result_of_failed_checks
from rig.transport.ymodem import YmodemSender


def console(lab: Lab, board, baud: int = LISTEN_BAUD) -> Console:
    return Console(open_port(f"sim://{board.device_id}", baud), lab.clock)


def test_identify_version_mac_modules(lab: Lab) -> None:
    board = lab.add_board("b", "boron", "2.3.1", settings=BoardSettings(imei="352753090000001", iccid="89340765"))
    con = console(lab, board)
    assert board.mode == Mode.LISTENING
    ident = con.identify()
    assert (ident.device_id, ident.imei, ident.iccid) == (board.device_id, "352753090000001", "89340765")
    assert con.version() == "2.3.1"
    assert len(con.mac().split(":")) == 6
    mods = {(m.function, m.index, m.version, m.passed) for m in con.modules()}
    assert {(2, 0, 1006, 30), (4, 1, 2302, 30), (8, 0, 202, 30), (5, 1, 6, 30)} <= mods
    assert b"system firmware version" in con.log


def test_console_not_listening_times_out_with_a_sentence(lab: Lab) -> None:
    board = lab.add_board("p", "photon", "2.3.1")
    con = console(lab, board, 9600)
    with pytest.raises(TimeoutError_, match="did not answer 'v' within 2 s; is it in listening mode"):
        con.version()


def test_ymodem_to_particle_receiver_and_refusal(real_lab: Lab, real_store) -> None:
    board = real_lab.add_board("p", "photon", "2.3.1")
    con = console(real_lab, board)
    part1 = real_store.get("photon", "1.5.2").system_parts[0].module.data
    con.command("f", until=b"\r\n")
    with pytest.raises(DependencyCheckFailedError):
        YmodemSender(con.port, real_lab.clock).send("part1.bin", part1, wait_for_c=False)
    real_lab.settle(5)  # 2.x resets after refusing an image (§3.3)
    assert board.mode == Mode.NORMAL
    con = console(real_lab, board)
    part2 = real_store.get("photon", "1.5.2").system_parts[1].module.data
    con.command("f", until=b"\r\n")
    report = YmodemSender(con.port, real_lab.clock).send("part2.bin", part2, wait_for_c=False)
    assert report.blocks == (len(part2) + 1023) // 1024 and b"Downloaded file successfully!" in report.tail


def test_ymodem_nak_storm_is_retried(lab: Lab) -> None:
    board = lab.add_board("p", "photon", "2.3.1")
    board.faults.ymodem_nak_packets = 3
    con = console(lab, board)
    con.command("f", until=b"\r\n")
    from rig.firmware.build import build
    from rig.firmware.synthetic import user_app

    report = YmodemSender(con.port, lab.clock).send("app.bin", build(user_app("photon", 2302)), wait_for_c=False)
    assert report.retries == 3


def test_ymodem_disconnect_is_board_gone(lab: Lab) -> None:
    board = lab.add_board("p", "photon", "2.3.1")
    con = console(lab, board)
    con.command("f", until=b"\r\n")
    board.faults.disconnect_after_bytes = board.bytes_received + 4000
    with pytest.raises(BoardGoneError):
        YmodemSender(con.port, lab.clock).send("app.bin", os.urandom(20000), wait_for_c=False)


class FdPort:
    """A receiver's input (a pty master) and output (a pipe) as a minimal serial port.

    A real line delivers a packet a millisecond or more after the receiver's answer went out, by
    when rb has purged its input (it does after every ACK, 'C' and NAK); a pty delivers at once,
    so a descheduled rb would purge the packet and lose its 5-13 s timeout. Each write therefore
    waits (at most 5 s) until the receiver is blocked reading its input, as on a line.
    """

    baudrate = 115200

    def __init__(self, read_fd: int, write_fd: int, receiver: int) -> None:
        self.read_fd, self.write_fd, self.receiver = read_fd, write_fd, receiver

    def read(self, size: int = 1) -> bytes:
        ready, _, _ = select.select([self.read_fd], [], [], 0.1)
        return os.read(self.read_fd, size) if ready else b""

    def write(self, data: bytes) -> int:
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            try:  # "0 0x0 ...": blocked in read(2) on fd 0; "running" or another call: not yet
                call = Path(f"/proc/{self.receiver}/syscall").read_text().split()
            except OSError:
                break  # the receiver is gone: nothing to wait for
            if call[:2] == ["0", "0x0"]:
                break
            time.sleep(0.001)
        return os.write(self.write_fd, data)

    def reset_input_buffer(self) -> None:
        pass


def test_device_os_1_prints_the_failed_checks_and_the_rig_names_them(real_lab: Lab, real_store) -> None:
    """Device OS 1.5.2 prints "Validation failed: 0x44" (the dependency checks, as flags); 2.x prints
    -1340. Both are the named dependency failure (protocols §3.3)."""
    board = real_lab.add_board("p", "photon", "1.5.2")
    con = console(real_lab, board)
    part2 = real_store.get("photon", "2.3.1").system_parts[1].module.data  # needs part 1 v2302
    con.command("f", until=b"\r\n")
    line = _Recording(con.port)
    with pytest.raises(DependencyCheckFailedError):
        YmodemSender(line, real_lab.clock).send("part2.bin", part2, wait_for_c=False)
    assert b"\x18\x18Validation failed: 0x44\r\n" in line.received  # what the board said
    real_lab.settle(5)
    assert board.mode == Mode.LISTENING  # 1.x resets only when listening mode ends
    con.write(b"x")
    real_lab.settle(5)
    assert (
        board.mode == Mode.NORMAL
        and b"reset: serial firmware update (rejected)" in "".join(t for _, t in board.log).encode()
    )


@pytest.mark.parametrize(
    ("flags", "code"), [(0x44, -1340), (0x04, -1340), (0x02, -1330), (0x10, -1360), (0x5E, -1350), (0x0, -1320)]
)
def test_failed_checks_map_to_the_2x_result_codes(flags: int, code: int) -> None:
    assert result_of_failed_checks(flags) == code


class _Recording:
    """A serial line that keeps what the board sent."""

    def __init__(self, port) -> None:
        self.port = port
        self.received = b""

    def read(self, size: int = 1) -> bytes:
        data = self.port.read(size)
        self.received += data
        return data

    def __getattr__(self, name: str):
        return getattr(self.port, name)


class _GarbleEveryFirstTry:
    """A serial line that garbles the first copy of every data packet (its ~seq byte)."""

    def __init__(self, port) -> None:
        self.port = port
        self.seen: set[bytes] = set()

    def write(self, data: bytes) -> int:
        if len(data) > 3 and data[0] in (0x01, 0x02) and data[1] != 0 and data[:2] not in self.seen:
            self.seen.add(data[:2])
            data = data[:2] + bytes([data[2] ^ 0xFF]) + data[3:]
        return self.port.write(data)

    def __getattr__(self, name: str):
        return getattr(self.port, name)


def test_a_good_packet_resets_the_receivers_error_count(lab: Lab) -> None:
    """One garbled packet before every good one: far more than 5 errors in all, never 6 in a row,
    so the board takes the file (Device OS resets its error count after each good packet)."""
    board = lab.add_board("p", "photon", "2.3.1")
    con = console(lab, board)
    app = build(user_app("photon", 2302, size=20_000))
    con.command("f", until=b"\r\n")
    report = YmodemSender(_GarbleEveryFirstTry(con.port), lab.clock).send("app.bin", app, wait_for_c=False)
    assert report.retries >= 20 and b"Downloaded file successfully!" in report.tail


@pytest.mark.skipif(shutil.which("rb") is None, reason="lrzsz is not installed (apt-get install lrzsz)")
def test_ymodem_to_lrzsz_rb(tmp_path: Path) -> None:
    """The sender against a standard receiver. lrzsz's rb purges its input right after each ACK,
    'C' or NAK it sends; FdPort gives it the time a line would (without it, a descheduled rb lost a
    block in about one of eight and 70 KB took 3 minutes); a block still lost costs rb's 5-13 s
    timeout and the sender recovers (resends, longer settle each time). rb reads a pty (its purges
    work as on a serial line) and writes to a pipe: on exit it flushes its tty both ways, and on a pty that
    throws away its last ACK if the sender has not read it yet (a real line has sent it already;
    seen under load as "did not acknowledge the final header" though rb had the whole file).
    A second try, with a fresh rb, is allowed and both are reported.
    """
    data = os.urandom(70_000)
    failures = []
    for attempt in range(2):
        folder = tmp_path / f"try{attempt}"
        folder.mkdir()
        master, slave = pty.openpty()
        tty.setraw(slave)
        from_rb, to_us = os.pipe()
        proc = subprocess.Popen(["rb"], stdin=slave, stdout=to_us, stderr=subprocess.PIPE, cwd=folder)
        os.close(to_us)
        try:
            port = FdPort(from_rb, master, proc.pid)
            report = YmodemSender(port, SystemClock()).send("image.bin", data, start_timeout=60)
            proc.wait(timeout=60)  # a real rb in real time: generous for a loaded CI machine
        except (YmodemError, TimeoutError_) as exc:
            failures.append(str(exc))
            continue
        finally:
            proc.kill()
            proc.wait(timeout=60)
            for fd in (slave, master, from_rb):
                os.close(fd)
        assert proc.returncode == 0 and report.blocks == 69
        assert (folder / "image.bin").read_bytes() == data  # rb checked our CRC-16 on every block
        return
    pytest.fail(f"two transfers to rb failed: {failures}")
