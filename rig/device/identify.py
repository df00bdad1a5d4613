"""identify(): device id, platform, Device OS, IMEI/ICCID, modules — over the best channel the
board offers in its current mode (particle-protocols §3.2, §4.3, §4.6, §7.5).

Normal, listening or safe mode: control requests (ICCID/IMEI by request 554 on Device OS ≥ 6,
else from the listening console's `i`). DFU mode: module headers read back from flash with
DfuSe UPLOAD and parsed (the firmware is not running to ask).
"""

from __future__ import annotations

from rig.board_mode import Mode
from rig.device.board import Device, Identity, ModuleRecord
from rig.device.modes import enter
from rig.firmware.format import ModuleFunction as F
from rig.timing import BACK_FROM_RESET
from rig.transport.console import Console, open_port
from rig.transport.errors import BoardGoneError, TimeoutError_, TransportError

DOS_6 = 6000


def identify(dev: Device, cellular_details: bool = True) -> Identity:
    """Everything the rig can learn about the board without changing what is installed; a board
    that is resetting (off USB now, or gone in the middle) is given BACK_FROM_RESET to come back.
    """
    try:
        return _identify(dev, cellular_details)
    except BoardGoneError:
        _wait_back(dev)
        return _identify(dev, cellular_details)


def _wait_back(dev: Device) -> None:
    try:
        dev.wait_usb(timeout=BACK_FROM_RESET)
    except TimeoutError_:
        dev.require_usb()  # the sentence naming the hub port and the fix
        raise


def _identify(dev: Device, cellular_details: bool) -> Identity:
    mode = dev.mode()
    if mode == Mode.OFF:
        _wait_back(dev)
        mode = dev.mode()
    modules = dev.modules()
    if mode == Mode.DFU:
        return Identity(dev.device_id, dev.platform.name, dev.device_os(modules), mode, modules=modules)
    ident = Identity(dev.device_id, dev.platform.name, dev.device_os(modules), mode, modules=modules)
    if cellular_details and _cellular(dev):
        part1 = next((m.version for m in modules if m.function == F.SYSTEM_PART and m.index == 1), 0)
        if part1 >= DOS_6:
            reply = dev.control().get_iccid()
            ident.iccid, ident.imei = reply.iccid or None, reply.imei or None
        else:
            ident.imei, ident.iccid = _from_console(dev, mode)
    return ident


def _cellular(dev: Device) -> bool:
    return dev.platform.name in {
        "electron",
        "boron",
        "bsom",
        "b5som",
        "tracker",
        "esomx",
        "electron2",
        "msom",
        "trackerm",
    }


def _from_console(dev: Device, mode: Mode) -> tuple[str | None, str | None]:
    """IMEI and ICCID from `i` in listening mode; the previous mode is restored."""
    if mode != Mode.LISTENING:
        enter(dev, Mode.LISTENING)
    try:
        ident = Console(open_port(dev.port_url()), dev.clock, dev.serial_log).identify()
        return ident.imei, ident.iccid
    finally:
        if mode == Mode.SAFE:
            _leave_listening(dev)  # back to safe mode ('x' returns to where it was)
        elif mode != Mode.LISTENING:
            enter(dev, mode)


def _leave_listening(dev: Device) -> None:
    try:
        Console(open_port(dev.port_url()), dev.clock, dev.serial_log).leave_listening()
    except TransportError:
        return


def console_identity(dev: Device) -> Identity:
    """Identity from the listening console alone (firmware without control requests)."""
    con = Console(open_port(dev.port_url()), dev.clock, dev.serial_log)
    ident = con.identify()
    modules = [
        ModuleRecord(m.function, m.index, m.version, m.size, m.passed == m.checked, m.dependencies)
        for m in con.modules()
    ]
    return Identity(ident.device_id, dev.platform.name, con.version(), Mode.LISTENING, ident.imei, ident.iccid, modules)


def user_part_hashes(dev: Device) -> dict[tuple[int, int], str]:
    """SHA-256 of the installed user parts, from the listening console's describe (`u`, §3.2);
    the board is put back in its mode afterwards.
    """
    mode = dev.mode()
    if mode not in (Mode.NORMAL, Mode.LISTENING, Mode.SAFE):
        return {}
    if mode != Mode.LISTENING:
        enter(dev, Mode.LISTENING)
    try:
        con = Console(open_port(dev.port_url()), dev.clock, dev.serial_log)
        return {(m.function, m.index): m.hash.lower() for m in con.modules() if m.function == 5 and m.hash}
    finally:
        if mode == Mode.SAFE:
            _leave_listening(dev)
        elif mode != Mode.LISTENING:
            enter(dev, mode)
