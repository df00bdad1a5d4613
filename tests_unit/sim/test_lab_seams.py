"""The lab's seams go in and come out cleanly; the clock models time at any scale."""

from __future__ import annotations

import gc
import os
import threading
import time
import weakref

import serial
import serial.tools.list_ports
import usb.backend.libusb1
import usb.core

from rig.sim import registry
from rig.sim.clock import SimClock
from rig.sim.lab import CLOUD_URL_ENV, Lab


def test_install_and_uninstall_restore_everything() -> None:
    before = (
        usb.backend.libusb1.get_backend,
        serial.tools.list_ports.comports,
        os.environ.get("PATH"),
        os.environ.get(CLOUD_URL_ENV),
    )
    lab = Lab()
    board = lab.add_board("b", "boron", "2.3.1")
    with lab:
        assert usb.core.find(idVendor=0x2B04) is not None
        assert registry.lookup(board.device_id) is not None
        assert os.environ["PATH"].split(os.pathsep)[0].endswith("/bin") and os.environ[CLOUD_URL_ENV]
        tools_dir = lab.tools.bin if lab.tools else None
    after = (
        usb.backend.libusb1.get_backend,
        serial.tools.list_ports.comports,
        os.environ.get("PATH"),
        os.environ.get(CLOUD_URL_ENV),
    )
    assert after == before
    assert registry.lookup(board.device_id) is None
    assert tools_dir is not None and not tools_dir.exists()


def test_a_closed_lab_is_freed_with_its_boards() -> None:
    # a lab left alive by its own server threads kept every board's flash: the unit suite grew by
    # megabytes per lab, past a gigabyte per worker
    with Lab() as lab:
        lab.add_board("b", "boron", "2.3.1")
        tools = lab.tools
        assert tools is not None
    refs = [weakref.ref(lab), weakref.ref(lab.board("b")), weakref.ref(tools)]
    del lab, tools
    gc.collect()
    assert [r() for r in refs] == [None, None, None]


def test_virtual_clock_runs_events_in_order_without_waiting() -> None:
    clock = SimClock(0)
    fired: list[tuple[str, float]] = []
    clock.schedule(5, lambda: fired.append(("b", clock.now())))
    clock.schedule(1, lambda: fired.append(("a", clock.now())))
    cancelled = clock.schedule(2, lambda: fired.append(("x", clock.now())))
    cancelled.cancel()
    start = time.perf_counter()
    clock.sleep(3600)
    assert time.perf_counter() - start < 60  # an hour of virtual time, not waited for
    assert fired == [("a", 1.0), ("b", 5.0)] and clock.now() == 3600


def test_scaled_clock_runs_faster_than_real_time() -> None:
    clock = SimClock(0.01)
    fired: list[float] = []
    clock.schedule(2.0, lambda: fired.append(clock.now()))
    start = time.perf_counter()
    clock.sleep(3.0)
    wall = time.perf_counter() - start
    # 3 modelled s at 0.01 wall s each: at least 0.03 s, far less than 3 s; the event fired once its
    # time had come (a loaded machine may run it late, never early)
    assert 0.02 <= wall < 3.0 and fired and fired[0] >= 2.0


def test_a_busy_board_lets_the_lab_lock_go_so_other_boards_go_on() -> None:
    clock = SimClock(1.0)
    busy = threading.Event()

    def write() -> None:  # a board busy in a 2 s flash write, as a transfer runs: with the lab lock held
        with clock.lock:
            busy.set()
            clock.busy(2.0)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        assert busy.wait(10)
        got = clock.lock.acquire(timeout=1.5)  # another board's transfer meanwhile
        if got:
            clock.lock.release()
        assert got, "the lab lock stayed held for the whole of another board's busy time"
    finally:
        writer.join(10)
    assert not writer.is_alive()


def test_boards_keep_working_at_real_time_scale() -> None:
    with Lab(time_scale=0.01) as lab:
        board = lab.add_board("p", "photon", "2.3.1")
        port = serial.serial_for_url(f"sim://{board.device_id}", baudrate=28800, timeout=500)  # 5 wall s
        port.write(b"v")
        assert port.read_until(b"\r\n") == b"system firmware version: 2.3.1\n\r\n"
