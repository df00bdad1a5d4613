"""The bench in a box: a simulated lab's boards on "real" USB through umockdev (docs/bench-in-a-box.md).

umockdev fakes only the kernel: a sysfs tree and /dev/bus/usb nodes in a test bed folder, seen by
any program started with its preload library (`rig sim exec`). This module puts each board (and
each hub of devices.yaml, both halves of a USB 3 one, and the root hubs) into that tree with the
descriptors of its current mode, answers every usbdevfs ioctl on a board's node (synchronous
control transfers and URBs, as libusb submits them) through `usb_backend.wire_transfer`, and
re-enumerates a board (new address, remove and add uevents) whenever it resets, changes mode or
loses power. The boards know nothing of umockdev: this module only watches them and forwards
transfers.
"""

from __future__ import annotations

import errno
import os
import queue
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rig.signals import held
from rig.sim import hub_usb, udev_props, usb_sysfs
from rig.sim import usb_descriptors as usbd
from rig.sim.board import Board
from rig.sim.box_env import PRELOAD, preloaded
from rig.sim.control import Stall
from rig.sim.dfu import DfuStall
from rig.sim.hub import Hub
from rig.sim.pty_bridge import PtyBridge
from rig.sim.usb_backend import BoardGone, SimUsbDevice, wire_transfer
from rig.sim.usbdevfs import Usbdevfs

if TYPE_CHECKING:
    from rig.sim.lab import Lab, SimSlot

ROOT_HUB = usb_sysfs.ROOT_HUB
SETTLE_TIMEOUT = 30.0  # wall seconds for the bus to catch up with its boards


class _NodePort:
    """A node's side of usbdevfs: its transfers go to the board or hub behind it."""

    def __init__(self, bridge: UsbBridge, name: str, generation: int) -> None:
        self.bridge, self.name, self.generation = bridge, name, generation  # the enumeration it belongs to

    @property
    def devnum(self) -> int:
        """The node's address now."""
        return self.bridge._nodes[self.name].devnum

    def transfer(self, setup: bytes, data: bytes) -> bytes:
        """One control transfer."""
        return self.bridge._transfer(self.name, self.generation, setup, data)

    def set_interface(self, interface: int, alt: int) -> None:
        """SETINTERFACE."""
        self.bridge._set_interface(self.name, self.generation, interface, alt)


@dataclass
class _Node:
    """One device on the fake bus: where it is in sysfs and /dev, and its current enumeration."""

    key: str  # the board's name in the lab, or the hub's location
    name: str  # sysfs name, e.g. 1-1.3
    parent: str | None  # sysfs path of the parent
    syspath: str | None = None
    devnode: str | None = None
    generation: int = -1
    devnum: int = 0
    tty: tuple[str, int, PtyBridge] | None = None  # sysfs path, ACM number, the pump behind its pty


class UsbBridge:
    """A lab's boards and hubs in a umockdev test bed, kept in step with the boards."""

    def __init__(self, lab: Lab, ttys: bool = True) -> None:
        self.lab = lab
        self.ttys = ttys  # CDC ports as /dev/ttyACM<N> (off where the lab's sim:// ports serve them)
        self._events = preloaded()  # umockdev sends uevents only from a process under its preload
        self._umockdev = usb_sysfs.umockdev()
        self.testbed = usb_sysfs.take_testbed(self._umockdev)
        self._nodes: dict[str, _Node] = {}
        self._twins: dict[str, str] = {}  # a USB 3 twin's location: the location of its hub (USB 2.0 half)
        self._superspeed: set[str] = set()  # the numbers of the buses that hold twins
        self.usbdevfs = Usbdevfs(self.testbed)
        self._next_devnum = 2
        self._next_acm = 0
        self._changes: queue.Queue[str | None] = queue.Queue()
        self._answering = threading.local()  # `now` while this thread answers an ioctl
        self._listeners: list[Callable[[Board], None]] = []
        self._pending = 0  # changes queued and not yet made to the tree
        self.failure = ""  # a change the following thread could not make
        self._settled = threading.Condition()
        self._thread = threading.Thread(target=self._follow, name="usb-bridge", daemon=True)

    # ---- the fake bus -------------------------------------------------------------------

    @property
    def root(self) -> str:
        """The test bed folder (UMOCKDEV_DIR)."""
        return str(self.testbed.get_root_dir())

    def environment(self) -> dict[str, str]:
        """What a program needs to see this bus."""
        return {"LD_PRELOAD": PRELOAD, "UMOCKDEV_DIR": self.root}

    def start(self) -> None:
        """Build the tree (root hub, hubs, present boards) and follow the boards from now on."""
        self._add_hub(ROOT_HUB, None, ports=hub_usb.ROOT_PORTS)
        for location in sorted(self.lab.hubs.hubs):  # a hub with no board behind it too
            self._hub_node(location)
        for name in list(self.lab.slots):
            self.plug(name)
        with held():  # a stop signal during start() would leave a thread that stop() cannot see alive
            self._thread.start()

    def plug(self, name: str) -> None:
        """Put a board of the lab (and the hubs above it) on the bus, and follow it from now on."""
        with self.lab.clock.lock:  # every change to the tree is made holding the lab lock
            slot = self.lab.slots[name]
            listener = self._watch(name)
            self._listeners.append(listener)
            slot.board.listeners.append(listener)
            self._sync(name)

    def admit_other_users(self) -> None:
        """Let programs of other users use the bus, each device node writable by root only (as on a host
        without udev rules for the boards: their open of a node for writing fails with EACCES).
        """
        with self.lab.clock.lock:
            usb_sysfs.admit_other_users(self.root)

    def _hub_node(self, hub: str) -> str:
        """The sysfs path of a devices.yaml hub, added (with the hubs above it) on first use."""
        if hub not in self._nodes:  # a hub behind another (1-1.4) means that one (1-1) is there too
            root = f"usb{hub.partition('-')[0]}"
            if root not in self._nodes:  # a bus of its own
                self._add_hub(root, None, ports=hub_usb.ROOT_PORTS)
            parent = self._hub_node(hub.rpartition(".")[0]) if "." in hub else str(self._nodes[root].syspath)
            model = self._hub(hub)[0]
            self._add_hub(hub, parent, ports=hub_usb.ROOT_PORTS if model is None else model.ports)
            if model is not None and model.usb3_twin and model.location == hub:  # its SuperSpeed half too
                self._twins[model.usb3_twin] = hub
                self._superspeed.add(model.usb3_twin.partition("-")[0])
                self._hub_node(model.usb3_twin)  # with the hubs in between (ganged, so uhubctl leaves them)
        return str(self._nodes[hub].syspath)

    def stop(self) -> None:
        """Stop following the boards, stop the tty pumps and empty the test bed (removed at exit)."""
        with self.lab.clock.lock:
            for slot in self.lab.slots.values():
                slot.board.listeners[:] = [f for f in slot.board.listeners if f not in self._listeners]
        self._changes.put(None)
        if self._thread.is_alive():
            self._thread.join()  # a sync in progress finishes first: the tree is never changed by two threads
        for node in self._nodes.values():
            if node.tty is not None:
                node.tty[2].stop()
        self.usbdevfs.close()
        usb_sysfs.give_back(self.testbed)
        del self.testbed

    def _add_hub(self, name: str, parent: str | None, ports: int) -> str:
        node = _Node(name, name, parent)
        self._nodes[name] = node
        devnum = 1 if name.startswith("usb") else self._take_devnum()
        hub, usb3 = self._hub(name)
        device, config = hub_usb.device_descriptor(hub, usb3), hub_usb.configuration_descriptor()
        attrs = {"maxchild": str(ports)} | ({"product": hub.product} if hub else {})
        node.syspath = self._add_usb(node, devnum, device, config, attrs, {})
        return str(node.syspath)

    def _take_devnum(self) -> int:
        used = {n.devnum for n in self._nodes.values()}
        while self._next_devnum in used or self._next_devnum < 2:
            self._next_devnum = self._next_devnum % 127 + 1
        devnum, self._next_devnum = self._next_devnum, self._next_devnum % 127 + 1
        return devnum

    def _add_usb(
        self, node: _Node, devnum: int, device: bytes, config: bytes, attrs: dict[str, str], props: dict[str, str]
    ) -> str:
        syspath, devnode, record = usb_sysfs.device_record(node.name, node.parent, devnum, device, config, attrs, props)
        # The ioctl socket first, then the device with its node and descriptors in one go: the one
        # "add" uevent comes last, so a program that reacts to it finds everything in place.
        # a node answers ENODEV once its board re-enumerated
        self.usbdevfs.attach(devnode, _NodePort(self, node.key, node.generation), self._umockdev.IoctlBase())
        self.testbed.add_from_string(record)
        node.syspath, node.devnode, node.devnum = syspath, devnode, devnum
        return syspath

    # ---- following the boards ----------------------------------------------------------

    def _watch(self, name: str) -> Callable[[Board], None]:
        """A board listener (called holding the lab lock). A change made while the bus answers an ioctl
        (that ioctl may still be running on the node) and a served bench's changes (its tty pumps
        cannot be stopped holding the lab lock) are made on the following thread; in-process, the
        rest at once, so a program the rig starts next sees what the rig's own pyusb view sees.
        """

        def changed(_board: Board) -> None:
            if self.ttys or getattr(self._answering, "now", False):
                self._queue(name)
            else:
                with self.lab.clock.lock:
                    self._sync(name)

        return changed

    def _queue(self, name: str) -> None:
        with self._settled:
            self._pending += 1
        self._changes.put(name)

    def settle(self, timeout: float | None = None) -> bool:
        """Wait until the tree shows every change queued so far; False if it did not within `timeout`
        (SETTLE_TIMEOUT) or could not show one (`failure` says which).
        """
        with self._settled:
            done = self._settled.wait_for(lambda: self._pending == 0, SETTLE_TIMEOUT if timeout is None else timeout)
        return done and not self.failure

    def _follow(self) -> None:
        while (name := self._changes.get()) is not None:
            try:
                if self.ttys:  # see _watch
                    self._sync(name)
                else:
                    with self.lab.clock.lock:
                        self._sync(name)
            except Exception as exc:  # the bus goes on following the other boards; settle() names it
                self.failure = f"the USB bus could not follow board {name}: {exc!r}"
            finally:
                with self._settled:
                    self._pending -= 1
                    self._settled.notify_all()

    def _sync(self, name: str) -> None:
        """Make the tree show the board as it is now: gone, or enumerated at its generation."""
        slot = self.lab.slots[name]
        if name not in self._nodes:
            self._nodes[name] = _Node(name, slot.location, self._hub_node(slot.hub))
        node = self._nodes[name]
        with self.lab.clock.lock:
            board = slot.board
            present, generation = board.usb_present, board.usb_generation
            strings = usbd.string_texts(board) if present else {}
            cdc = board.cdc_present
            device = usbd.device_descriptor(board) if present else b""
            config = usbd.configuration_descriptor(board) if present else b""
        if node.syspath is not None and (not present or generation != node.generation):
            self._remove(node)
        if present and node.syspath is None:
            node.generation = generation
            attrs = {"manufacturer": strings[1], "product": strings[2], "serial": strings[3]}
            props = {"ID_SERIAL_SHORT": strings[3], "ID_VENDOR": "Particle"}
            self._add_usb(node, self._take_devnum(), device, config, attrs, props)
            if cdc and self.ttys:
                self._add_tty(node, slot, props | udev_props.usb_device(node.name, usbd.unpack(usbd.DEVICE, device)))

    def _add_tty(self, node: _Node, slot: SimSlot, usb_props: dict[str, str]) -> None:
        """The CDC port as /dev/ttyACM<N> under interface 0, as cdc_acm registers it: umockdev
        backs the node with a pty, and a PtyBridge carries bytes between it and the board's console.
        Unlike the kernel, N is never used twice (umockdev keeps a removed pty node's name).
        """
        number, self._next_acm = self._next_acm, self._next_acm + 1  # umockdev cannot make a pty node twice
        name = f"ttyACM{number}"
        path, record = usb_sysfs.tty_record(str(node.syspath), node.name, number, usb_props)
        self.testbed.add_from_string(record)
        pump = PtyBridge(slot.board, slot.serial, master=self.testbed.get_dev_fd(f"/dev/{name}"), path=f"/dev/{name}")
        pump.start()
        node.tty = (path, number, pump)

    def _remove(self, node: _Node) -> None:
        """Unplug: interfaces first (umockdev leaves their bus links otherwise), then the device and
        its /dev node. The node's ioctl handler stays, answering ENODEV to anyone who still has it
        open, as the kernel does, until the address is used again.
        """
        if node.tty is not None:  # the tty goes first, and its holders see a hangup, as with cdc_acm
            path, number, pump = node.tty
            pump.stop()
            link = Path(self.root) / "dev" / f"ttyACM{number}"
            pts = os.readlink(link) if link.is_symlink() else ""
            self._uevent(path, "remove")  # before its folder goes (see the interfaces below)
            self.testbed.remove_device(path)
            os.close(pump.master)  # umockdev never closes it
            link.unlink(missing_ok=True)
            if pts:  # or umockdev aborts when it maps a new pty of the same number
                (Path(self.root) / "dev" / ".ptymap" / pts.replace("/", "_")).unlink(missing_ok=True)
            node.tty = None
        if node.syspath:
            folder = Path(self.root) / node.syspath.lstrip("/")
            for child in sorted(folder.glob(f"{node.name}:*")):  # the kernel's order: interfaces, then the device
                self._uevent(f"{node.syspath}/{child.name}", "remove")  # while its properties are there
                self.testbed.remove_device(f"{node.syspath}/{child.name}")
            self._uevent(node.syspath, "remove")
            self.testbed.remove_device(node.syspath)
        if node.devnode:
            (Path(self.root) / node.devnode.lstrip("/")).unlink(missing_ok=True)
        node.syspath = node.devnode = None
        node.devnum = 0

    def _uevent(self, syspath: str, action: str) -> None:
        if self._events:
            self.testbed.uevent(syspath, action)

    # ---- usbdevfs on a node ------------------------------------------------------------

    def _device(self, name: str) -> SimUsbDevice | None:
        slot: SimSlot | None = self.lab.slots.get(name)
        return None if slot is None else slot.usb

    @contextmanager
    def _board(self, name: str) -> Iterator[SimUsbDevice | None]:
        with self.lab.clock.lock:
            yield self._device(name)

    def _transfer(self, name: str, generation: int, setup: bytes, out_data: bytes) -> bytes:
        """One control transfer to the board or hub behind `name`, as enumerated at `generation`."""
        if len(setup) < 8:
            raise OSError(errno.EINVAL, "a control URB starts with its 8-byte setup packet")
        rt, req, value, index, length = struct.unpack("<BBHHH", setup[:8])
        self._answering.now = True
        try:
            with self._board(name) as dev:
                if dev is None:
                    return self._hub_transfer(name, rt, req, value, index)
                try:
                    return wire_transfer(dev, generation, rt, req, value, index, out_data, length)
                except BoardGone:
                    raise OSError(errno.ENODEV, "gone") from None
                except (Stall, DfuStall):
                    raise OSError(errno.EPIPE, "stall") from None
        except hub_usb.HubHangs:
            self.lab.hubs.stick()  # without the lab lock: the rest of the bench goes on
            raise OSError(errno.ENODEV, "the hub never answered") from None
        finally:
            self._answering.now = False

    def _hub(self, name: str) -> tuple[Hub | None, bool]:
        """The hub model behind a node (None for a root hub, or a hub in between on a SuperSpeed bus),
        and whether the node is on a SuperSpeed bus (one that holds a hub's USB 3 twin).
        """
        if name in self._twins:
            return self.lab.hubs.hub(self._twins[name]), True
        root = name.startswith("usb")
        usb3 = (name[3:] if root else name.partition("-")[0]) in self._superspeed
        return (None if usb3 or root else self.lab.hubs.hub(name)), usb3

    def _hub_transfer(self, name: str, rt: int, req: int, value: int, index: int) -> bytes:
        try:
            return hub_usb.control(self.lab.hubs, *self._hub(name), rt, req, value, index)
        except hub_usb.HubStall:
            raise OSError(errno.EPIPE, "stall") from None

    def _set_interface(self, name: str, generation: int, interface: int, alt: int) -> None:
        self._answering.now = True
        try:
            self._select_alt(name, generation, alt)
        finally:
            self._answering.now = False

    def _select_alt(self, name: str, generation: int, alt: int) -> None:
        with self._board(name) as dev:
            if dev is None:  # a hub: one alt setting
                if alt != 0:
                    raise OSError(errno.EINVAL, "no such alt setting")
                return
            if dev.board.usb_generation != generation:
                raise OSError(errno.ENODEV, "gone")
            if dev.board.mode.value == "dfu":
                try:
                    dev.dfu.select_alt(alt)
                except Exception:
                    raise OSError(errno.EINVAL, "no such alt setting") from None
            elif alt != 0:
                raise OSError(errno.EINVAL, "no such alt setting")
