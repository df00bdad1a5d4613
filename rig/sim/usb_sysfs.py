"""What the kernel shows of a USB device in sysfs, as umockdev records, and umockdev's test bed itself.

A record (umockdev's `add_from_string` format: `P:` path, `N:` node, `E:` properties, `A:`
attributes, `H:` binary attributes, `L:` links) holds a device with its attributes and its
interfaces as the kernel lists them, and the properties udev would add (rig.sim.udev_props):
the bench in a box has no udevd.
"""

from __future__ import annotations

import atexit
import gc
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

from rig.sim import udev_props
from rig.sim import usb_descriptors as usbd
from rig.sim.box_env import BridgeError, preloaded

ROOT_HUB = "usb1"  # the first bus's root hub
RAM_FOLDER = "/dev/shm"
_POOL_LOCK = threading.Lock()
_FREE: list[Any] = []  # emptied test beds, for this process's next bus
_MADE: list[str] = []  # the folders of the test beds this process made


def umockdev() -> Any:
    """The GObject introspection module of umockdev; BridgeError when it cannot be loaded."""
    try:
        import gi

        gi.require_version("UMockdev", "1.0")
        from gi.repository import UMockdev
    except (ImportError, ValueError) as exc:
        raise BridgeError(
            f"umockdev is not available ({exc}): install the Debian packages umockdev and "
            "gir1.2-umockdev-1.0 and the project's 'bench' extra (PyGObject)."
        ) from None
    return UMockdev


def bed_folder() -> str:
    """Where test beds go: TMPDIR when it is set, else a RAM folder where there is one (a board's files
    are written anew at every re-enumeration: on this machine's disk-backed /tmp a re-enumeration
    cost 19 ms of system time, in /dev/shm 2 ms), else the temp folder.
    """
    if os.environ.get("TMPDIR"):
        return tempfile.gettempdir()
    if os.path.isdir(RAM_FOLDER) and os.access(RAM_FOLDER, os.W_OK | os.X_OK):
        return RAM_FOLDER
    return tempfile.gettempdir()


def take_testbed(module: Any) -> Any:
    """An empty umockdev test bed: one this process gave back, else a new one in `bed_folder()`.

    umockdev 0.17 does not free a test bed's file descriptors when it goes (two per test bed), and
    a process that makes a lab per test (the unit suite) ran out of them: test beds are kept for
    the process's next bus instead, and their folders removed when it exits.
    """
    with _POOL_LOCK:
        bed = _FREE.pop() if _FREE else None
    if bed is None:
        before = os.environ.get("TMPDIR")
        os.environ["TMPDIR"] = bed_folder()  # GLib takes its temp folder from TMPDIR, once per process
        try:
            bed = module.Testbed.new()
        finally:
            if before is None:
                os.environ.pop("TMPDIR", None)
            else:
                os.environ["TMPDIR"] = before
        with _POOL_LOCK:
            if not _MADE:
                atexit.register(_remove_folders)
            _MADE.append(str(bed.get_root_dir()))
    if preloaded():  # this process's own /sys and /dev are this test bed's (a served bench)
        os.environ["UMOCKDEV_DIR"] = str(bed.get_root_dir())
    else:  # Testbed.new() set it for the whole process; the programs the rig starts get it explicitly
        os.unsetenv("UMOCKDEV_DIR")
    return bed


def give_back(bed: Any) -> None:
    """An emptied test bed (its devices removed, no ioctl handler attached) for the process's next bus.

    umockdev's `clear()` also takes the default ioctl socket: a program of the next bus that opens a
    /dev node without a socket of its own is ended by the preload. Every node the bridge makes has one.
    """
    bed.clear()
    root = Path(bed.get_root_dir())
    root.chmod(0o700)  # as umockdev made it: a bus opened to other users is not handed on open
    for leftover in root.iterdir():  # the tree umockdev keeps: sockets, pty links, ticket files
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)
    with _POOL_LOCK:
        _FREE.append(bed)


def admit_other_users(root: str) -> None:
    """Let programs of other users on the bus of test bed `root`, as a host without udev rules for
    the boards has it: sysfs and /dev readable by everyone, each device node writable by root only
    (0644), so a program of another user that opens one for writing gets EACCES from the kernel.

    umockdev's preload binds each program's uevent socket in the root folder (1777, like /tmp) and
    connects to a node's ioctl socket to emulate it (0777; uhubctl opens a hub's node read-only).
    A node made later (a board that re-enumerates) keeps its socket to root.
    """
    for folder, _subfolders, files in os.walk(root):
        os.chmod(folder, 0o755)
        top = Path(folder).relative_to(root).parts[:1]
        for name in files if top in (("ioctl",), ("dev",)) else []:
            path = os.path.join(folder, name)
            if not os.path.islink(path):  # a node 0644 whatever the umask it was made under
                os.chmod(path, 0o777 if top == ("ioctl",) else 0o644)
    os.chmod(root, 0o1777)


def _remove_folders() -> None:
    """At exit: the kept test beds go, and umockdev removes their folders (it aborts the process
    when one it still holds was removed under it, so the folders are left to it).
    """
    with _POOL_LOCK:
        _FREE.clear()
    gc.collect()


def device_record(
    name: str,
    parent: str | None,
    devnum: int,
    device: bytes,
    config: bytes,
    attrs: dict[str, str],
    props: dict[str, str],
) -> tuple[str, str, str]:
    """A USB device `name` (1-1.2) at address `devnum` under `parent`: its sysfs path, node and record."""
    dev = usbd.unpack(usbd.DEVICE, device)
    cfg = usbd.unpack(usbd.CONFIGURATION, config)
    root = name.startswith("usb")
    bus = int(name[3:]) if root else int(name.partition("-")[0])
    devnode = f"/dev/bus/usb/{bus:03d}/{devnum:03d}"
    devpath = "0" if root else name.partition("-")[2]
    bcd = dev["bcdUSB"]
    attributes = {
        "busnum": str(bus),
        "devnum": str(devnum),
        "devpath": devpath,
        "speed": "5000" if bcd >= 0x0300 else "480" if root else "12",
        "version": f"{bcd >> 8:2x}.{bcd & 0xFF:02x}",
        "idVendor": f"{dev['idVendor']:04x}",
        "idProduct": f"{dev['idProduct']:04x}",
        "bcdDevice": f"{dev['bcdDevice']:04x}",
        "bDeviceClass": f"{dev['bDeviceClass']:02x}",
        "bDeviceSubClass": f"{dev['bDeviceSubClass']:02x}",
        "bDeviceProtocol": f"{dev['bDeviceProtocol']:02x}",
        "bMaxPacketSize0": str(dev["bMaxPacketSize0"]),
        "bNumConfigurations": "1",
        "bConfigurationValue": "1",
        "bNumInterfaces": f"{cfg['bNumInterfaces']:2d}",
        "bmAttributes": f"{cfg['bmAttributes']:02x}",
        "bMaxPower": f"{cfg['bMaxPower'] * 2}mA",
        "maxchild": "0",
        "removable": "removable",
        "configuration": "",
        "rx_lanes": "1",
        "tx_lanes": "1",
        "dev": f"189:{(bus - 1) * 128 + devnum - 1}",
        **attrs,
    }
    properties = {
        "DEVNAME": devnode,
        "DEVTYPE": "usb_device",
        "BUSNUM": f"{bus:03d}",
        "DEVNUM": f"{devnum:03d}",
        "MAJOR": "189",
        "MINOR": str((bus - 1) * 128 + devnum - 1),
        "PRODUCT": f"{dev['idVendor']:x}/{dev['idProduct']:x}/{dev['bcdDevice']:x}",
        "TYPE": f"{dev['bDeviceClass']}/{dev['bDeviceSubClass']}/{dev['bDeviceProtocol']}",
        **udev_props.usb_device(name, dev),  # udev's own: the box has no udevd to add them
        **props,
    }
    syspath = f"{parent or '/sys/devices'}/{name}"
    record = [f"P: {syspath[4:]}", f"N: {devnode[5:]}", "E: SUBSYSTEM=usb"]
    record += [f"E: {k}={v}" for k, v in properties.items()]
    record += [f"A: {k}={v}\\n" for k, v in attributes.items()]  # sysfs text ends with a newline
    record.append(f"H: descriptors={(device + config).hex()}")
    for alts in usbd.parse_configuration(config)[1]:  # the interfaces, as the kernel lists them
        f = alts[0].fields
        cls = (f["bInterfaceClass"], f["bInterfaceSubClass"], f["bInterfaceProtocol"])
        interface = f"{f'{bus}-0' if root else name}:1.{f['bInterfaceNumber']}"
        record += ["", f"P: {syspath[4:]}/{interface}", "E: SUBSYSTEM=usb"]
        record += ["E: DEVTYPE=usb_interface", f"E: INTERFACE={cls[0]}/{cls[1]}/{cls[2]}"]
        record += [f"E: {k}={v}" for k, v in udev_props.interface(interface, cls[0]).items()]
        record += [
            f"A: bInterfaceNumber={f['bInterfaceNumber']:02x}\\n",
            f"A: bNumEndpoints={f['bNumEndpoints']:02x}\\n",
        ]
        record += [f"A: bInterfaceClass={cls[0]:02x}\\n", f"A: bInterfaceSubClass={cls[1]:02x}\\n"]
        record += [f"A: bInterfaceProtocol={cls[2]:02x}\\n", "A: bAlternateSetting= 0\\n"]
    return syspath, devnode, "\n".join(record) + "\n"


def tty_record(syspath: str, name: str, number: int, usb_props: dict[str, str]) -> tuple[str, str]:
    """The CDC port of device `name` as /dev/ttyACM<number> under its interface 0: its path and record."""
    tty, interface = f"ttyACM{number}", f"{name}:1.0"
    path = f"{syspath}/{interface}/tty/{tty}"
    record = [f"P: {path[4:]}", f"N: {tty}", "E: SUBSYSTEM=tty", f"E: DEVNAME=/dev/{tty}", "E: MAJOR=166"]
    record += [f"E: MINOR={number}", f"A: dev=166:{number}\\n", f"L: device=../../../{interface}"]
    record += [f"E: {k}={v}" for k, v in udev_props.tty(interface, usb_props).items()]
    return path, "\n".join(record) + "\n"
