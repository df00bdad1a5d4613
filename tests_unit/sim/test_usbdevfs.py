"""The usbdevfs handler answers a board's transfers off umockdev's worker thread, so a busy board
keeps no other board waiting (umockdev: handlers must not block its context; complete() may be
called from any thread).
"""

from __future__ import annotations

import queue
import struct
import threading

from rig.sim.usbdevfs import CONTROL, GET_SPEED, USB_SPEED_FULL, Usbdevfs


class _Memory:
    """A block of the client's memory, as umockdev's IoctlData gives it."""

    def __init__(self, data: bytes) -> None:
        self.data = bytearray(data)

    def resolve(self, offset: int, length: int) -> _Memory:
        return self if offset == 0 else _Memory(bytes(length))

    def retrieve(self) -> bytes:
        return bytes(self.data)

    def update(self, offset: int, data: bytes) -> None:
        self.data[offset : offset + len(data)] = data


class _Client:
    """One ioctl of a umockdev client; complete() reports to `done`."""

    def __init__(self, name: str, request: int, arg: bytes, done: queue.Queue[tuple[str, int, int]]) -> None:
        self.name, self.request, self.arg, self.done = name, request, _Memory(arg), done

    def get_request(self) -> int:
        return self.request

    def get_arg(self) -> _Memory:
        return self.arg

    def complete(self, result: int, errno: int) -> None:
        self.done.put((self.name, result, errno))


class _Board:
    """A node whose transfers wait until `go` is set (a board busy in a long write)."""

    devnum = 5

    def __init__(self, go: threading.Event | None = None) -> None:
        self.go = go

    def transfer(self, setup: bytes, data: bytes) -> bytes:
        if self.go is not None and not self.go.wait(10):
            raise OSError(110, "never let go")
        return b""

    def set_interface(self, interface: int, alt: int) -> None:
        raise AssertionError("not asked")


def _control_out() -> bytes:
    """A usbdevfs_ctrltransfer of a vendor OUT request without data."""
    return struct.pack("<BBHHHI4xQ", 0x40, 1, 0, 0, 0, 1000, 0)


def test_a_busy_board_keeps_no_other_board_waiting() -> None:
    done: queue.Queue[tuple[str, int, int]] = queue.Queue()
    go = threading.Event()
    busy, idle = _Board(go), _Board()
    usbdevfs = Usbdevfs()

    def umockdev_worker() -> None:  # the one thread on which umockdev emits every node's ioctls
        usbdevfs.handle(busy, _Client("busy", CONTROL, _control_out(), done))
        usbdevfs.handle(idle, _Client("idle", CONTROL, _control_out(), done))
        usbdevfs.handle(idle, _Client("speed", GET_SPEED, b"", done))

    worker = threading.Thread(target=umockdev_worker)
    worker.start()
    try:
        first = [done.get(timeout=10) for _ in range(2)]
        assert sorted(first) == [("idle", 0, 0), ("speed", USB_SPEED_FULL, 0)]  # while the busy board works
        go.set()
        assert done.get(timeout=10) == ("busy", 0, 0)
    finally:
        go.set()
        worker.join(10)
        usbdevfs.close()


def test_a_transfer_that_arrives_as_the_bench_stops_is_answered_as_gone() -> None:
    done: queue.Queue[tuple[str, int, int]] = queue.Queue()
    usbdevfs = Usbdevfs()
    usbdevfs.close()
    usbdevfs.handle(_Board(), _Client("late", CONTROL, _control_out(), done))
    assert done.get(timeout=10) == ("late", -1, 19)  # ENODEV
