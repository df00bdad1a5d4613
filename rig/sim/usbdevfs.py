"""usbdevfs, the Linux USB device-node interface, answered for programs under umockdev.

libusb drives a device through ioctls on /dev/bus/usb/BBB/DDD (linux/usbdevice_fs.h): control
transfers as URBs (SUBMITURB, then REAPURBNDELAY once the fd polls writable) or synchronously
(CONTROL), SETINTERFACE, CLAIMINTERFACE and the queries around them. umockdev forwards each ioctl
of a node to a handler with the client's memory to read and write (`IoctlData.resolve`,
`update`, `set_ptr`); this module decodes them and hands every transfer to a `UsbNode` (a board
or a hub of the bench in a box). A submitted URB is complete when its SUBMIT returns: the next REAP
finds it. Transfers take their modelled time, and they and SETINTERFACE need the lab lock, so they
are answered off umockdev's one worker thread (whose handlers must not block, umockdev-ioctl.vala
at 0.17.16), each client's in its own lane: a busy board keeps no other board waiting, and the
worker never waits for the lab lock (the in-process bus changes its tree holding it).
"""

from __future__ import annotations

import errno
import struct
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol


def _ioc(direction: int, number: int, size: int) -> int:
    return (direction << 30) | (size << 16) | (ord("U") << 8) | number


# usbdevfs ioctls on x86_64 and aarch64 (linux/usbdevice_fs.h); direction 1 write, 2 read
CONTROL, SETINTERFACE, SETCONFIGURATION = _ioc(3, 0, 24), _ioc(2, 4, 8), _ioc(2, 5, 4)
GETDRIVER, SUBMITURB, DISCARDURB = _ioc(1, 8, 260), _ioc(2, 10, 56), _ioc(0, 11, 0)
REAPURB, REAPURBNDELAY, CLAIMINTERFACE = _ioc(1, 12, 8), _ioc(1, 13, 8), _ioc(2, 15, 4)
RELEASEINTERFACE, CONNECTINFO, IOCTL = _ioc(2, 16, 4), _ioc(1, 17, 8), _ioc(3, 18, 16)
RESET, CLEAR_HALT, GET_CAPABILITIES = _ioc(0, 20, 0), _ioc(2, 21, 4), _ioc(2, 26, 4)
DISCONNECT_CLAIM, GET_SPEED = _ioc(2, 27, 264), _ioc(0, 31, 0)
URB_SIZE, URB_TYPE_CONTROL = 56, 2
CAPS = 0x01 | 0x04 | 0x08  # ZERO_PACKET, NO_PACKET_SIZE_LIM, BULK_SCATTER_GATHER
USB_SPEED_FULL = 2
ACCEPTED = {SETCONFIGURATION, CLAIMINTERFACE, RELEASEINTERFACE, RESET, CLEAR_HALT, DISCONNECT_CLAIM}
TRANSFERS = {CONTROL, SUBMITURB, SETINTERFACE}  # the ioctls that take modelled time or the lab lock
LANES = 64  # transfers in flight at once, one per waiting client (a client waits for each of its own)


class UsbNode(Protocol):
    """What sits behind a device node."""

    @property
    def devnum(self) -> int:
        """The node's USB address."""
        ...

    def transfer(self, setup: bytes, data: bytes) -> bytes:
        """One control transfer: the 8-byte setup and any OUT data; raises OSError (EPIPE, ENODEV)."""
        ...

    def set_interface(self, interface: int, alt: int) -> None:
        """SETINTERFACE; raises OSError."""
        ...


class Usbdevfs:
    """The ioctls of every node of a bench, with the URBs each open file has yet to reap."""

    def __init__(self, testbed: Any = None) -> None:
        self.testbed = testbed  # the umockdev test bed whose nodes `attach` serves
        self._handlers: dict[str, Any] = {}  # by node: the umockdev IoctlBase serving it
        self._urbs: dict[int, list[Any]] = {}  # by client: a GObject's hash is its address
        self._urbs_lock = threading.Lock()  # submitted in lanes, reaped on umockdev's thread
        self._lanes = ThreadPoolExecutor(LANES, thread_name_prefix="usbdevfs")

    def attach(self, devnode: str, device: UsbNode, handler: Any) -> None:
        """Serve the ioctls of the test bed's `devnode` for `device` through `handler` (an IoctlBase)."""
        self.detach(devnode)  # the address is used again: its old handler goes
        handler.connect("handle-ioctl", lambda _h, client: self.handle(device, client))
        handler.connect("client-connected", lambda _h, client: self._follow(client))
        self.testbed.attach_ioctl(devnode, handler)
        self._handlers[devnode] = handler

    def detach(self, devnode: str) -> None:
        """Stop serving `devnode` (nothing when it is not served)."""
        if self._handlers.pop(devnode, None) is not None:
            self.testbed.detach_ioctl(devnode)

    def _follow(self, client: Any) -> None:
        """A new client starts with no URBs; a client that disconnects leaves none (no client-vanished here)."""
        # URBs are kept by the client's address. A program killed inside a transfer never shows as
        # disconnected (umockdev reads its socket again only after the completion, which fails), so
        # its URBs stayed; the next client umockdev allocated at that address reaped one and its
        # ioctl was never answered (the program hung, or a third aborted on EOF)
        self.forget(client)

        def changed(conn: Any, _spec: Any) -> None:
            if not conn.props.connected:
                self.forget(conn)

        client.connect("notify::connected", changed)

    def forget(self, client: Any) -> None:
        """A client closed its node: drop what it never reaped."""
        with self._urbs_lock:
            self._urbs.pop(hash(client), None)

    def close(self) -> None:
        """Stop serving every node, and finish the transfers in flight; none is taken after."""
        for devnode in list(self._handlers):
            self.detach(devnode)
        self._lanes.shutdown(wait=True)

    def handle(self, device: UsbNode, client: Any) -> bool:
        """Take one ioctl of a umockdev client on `device`'s node: a transfer in a lane, the rest at once."""
        if client.get_request() in TRANSFERS:
            try:
                self._lanes.submit(self._complete, device, client)
                return True
            except RuntimeError:  # the bench is stopping
                client.complete(-1, errno.ENODEV)
                return True
        return self._complete(device, client)

    def _complete(self, device: UsbNode, client: Any) -> bool:
        """Answer one ioctl and complete it (umockdev's complete() may be called from any thread)."""
        request = client.get_request()
        try:
            result = self._answer(device, client, request)
        except OSError as exc:
            client.complete(-1, exc.errno or errno.EIO)
            return True
        except Exception:  # a dying client (GLib.Error) or a bug: an errno, not a traceback in the server
            client.complete(-1, errno.EIO)
            return True
        client.complete(result, 0)
        return True

    def _answer(self, device: UsbNode, client: Any, request: int) -> int:
        arg = client.get_arg()
        if request == GET_CAPABILITIES:
            arg.resolve(0, 4).update(0, struct.pack("<I", CAPS))
            return 0
        if request in ACCEPTED:
            return 0
        if request in (GETDRIVER, IOCTL):
            raise OSError(errno.ENODATA, "no driver")
        if request == GET_SPEED:
            return USB_SPEED_FULL
        if request == CONNECTINFO:
            arg.resolve(0, 8).update(0, struct.pack("<IB3x", device.devnum, 0))
            return 0
        if request == SETINTERFACE:
            interface, alt = struct.unpack("<II", bytes(arg.resolve(0, 8).retrieve()))
            device.set_interface(interface, alt)
            return 0
        if request == CONTROL:
            return self._sync_control(device, arg)
        if request == SUBMITURB:
            return self._submit(device, client, arg)
        if request in (REAPURB, REAPURBNDELAY):
            return self._reap(client, arg)
        if request == DISCARDURB:
            raise OSError(errno.EINVAL, "already completed")
        raise OSError(errno.ENOTTY, "not a usbdevfs ioctl the bridge knows")

    def _sync_control(self, device: UsbNode, arg: Any) -> int:
        ctrl = arg.resolve(0, 24)
        raw = bytes(ctrl.retrieve())
        setup, length = raw[:8], int(struct.unpack_from("<H", raw, 6)[0])
        data = ctrl.resolve(16, length) if length else None
        reply = device.transfer(setup, bytes(data.retrieve()) if data is not None and not raw[0] & 0x80 else b"")
        if raw[0] & 0x80 and data is not None:
            data.update(0, reply[:length])
            return min(len(reply), length)
        return length

    def _submit(self, device: UsbNode, client: Any, arg: Any) -> int:
        urb = arg.resolve(0, URB_SIZE)
        head = bytes(urb.retrieve())
        kind, _endpoint, buffer_length = head[0], head[1], struct.unpack_from("<i", head, 24)[0]
        if kind != URB_TYPE_CONTROL:
            raise OSError(errno.EINVAL, "only control transfers reach a simulated board")
        if buffer_length < 8:
            raise OSError(errno.EINVAL, "a control URB starts with its 8-byte setup packet")
        buffer = urb.resolve(16, buffer_length)
        raw = bytes(buffer.retrieve())
        status, actual = 0, 0
        try:
            reply = device.transfer(raw[:8], raw[8:])
            if raw[0] & 0x80:
                actual = min(len(reply), buffer_length - 8)
                buffer.update(8, reply[:actual])
            else:
                actual = buffer_length - 8
        except OSError as exc:
            status = -(exc.errno or errno.EIO)
        urb.update(4, struct.pack("<i", status))
        urb.update(28, struct.pack("<i", actual))
        with self._urbs_lock:
            self._urbs.setdefault(hash(client), []).append(urb)  # complete when SUBMIT returns: reaped in order
        return 0

    def _reap(self, client: Any, arg: Any) -> int:
        with self._urbs_lock:
            done = self._urbs.get(hash(client))  # a GObject's hash is its address: one entry per open file
            if not done:
                raise OSError(errno.EAGAIN, "nothing to reap")
            urb = done.pop(0)
        arg.resolve(0, 8).set_ptr(0, urb)
        return 0
