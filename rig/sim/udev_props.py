"""The properties udev would add to the bench in a box's devices (there is no udevd in the box):
udev 252's path_id (`ID_PATH`), usb_id (`ID_VENDOR_ID`, `ID_MODEL_ID`, `ID_BUS`, and on a tty its
USB parent's ids and interface) and the kernel driver bound to an interface (`DRIVER`). labgrid's
exporter matches on these (docs/bench-in-a-box.md, docs/multi-host.md).
"""

from __future__ import annotations

from typing import Any

ID_PATH_HOST = "platform-rig-sim.0"  # the box's host controller, as udev's path_id names a platform device
DRIVERS = {9: "hub", 2: "cdc_acm", 10: "cdc_acm"}  # interface class -> the kernel driver that binds it


def id_path(sysname: str) -> str:
    """The udev ID_PATH of a USB device or interface of the box: the controller, then `usb-0:<ports>`."""
    ports = sysname.partition("-")[2]  # "1-1.2" -> "1.2", "1-1.2:1.0" -> "1.2:1.0"; a root hub has none
    return f"{ID_PATH_HOST}-usb-0:{ports}" if ports else ID_PATH_HOST


def usb_device(sysname: str, descriptor: dict[str, Any]) -> dict[str, str]:
    """A USB device's: its path and the ids of its device descriptor."""
    ids = {"ID_VENDOR_ID": f"{descriptor['idVendor']:04x}", "ID_MODEL_ID": f"{descriptor['idProduct']:04x}"}
    return {"ID_PATH": id_path(sysname), "ID_BUS": "usb", **ids}


def interface(sysname: str, interface_class: int) -> dict[str, str]:
    """An interface's: its path, and the driver the kernel binds to it (hub, cdc_acm), if any."""
    driver = {"DRIVER": DRIVERS[interface_class]} if interface_class in DRIVERS else {}
    return {"ID_PATH": id_path(sysname), **driver}


def tty(interface_sysname: str, device: dict[str, str]) -> dict[str, str]:
    """A CDC tty's: its USB device's ids (`device`), its own path (its interface's) and interface number."""
    own = {"ID_PATH": id_path(interface_sysname), "ID_USB_INTERFACE_NUM": "00", "ID_USB_DRIVER": "cdc_acm"}
    return device | own
