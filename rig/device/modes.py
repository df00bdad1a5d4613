"""Moving a board between modes with a fallback ladder (particle-protocols §3.1, §3.5, §4.3, §5.3).

Each target is tried by control request first, then by the serial baud trigger, then after a hub
power cycle; every step has a timeout and the final mode is verified. A power-off is always
followed by a power-on.
"""

from __future__ import annotations

from collections.abc import Callable

from rig.board_mode import Mode
from rig.clock import wait_for
from rig.device import power
from rig.device.board import RUNNING, Device
from rig.device.story import timed
from rig.transport.console import DFU_BAUD, LISTEN_BAUD, Console, open_port
from rig.transport.control import ControlChannel
from rig.transport.dfuse import DfuSe
from rig.transport.errors import TimeoutError_, TransportError

STEP_TIMEOUT = 30.0
REBOOT_TIMEOUT = 120.0
LEAVE_DFU_TIMEOUT = 10.0


class ModeChangeError(TransportError):
    """Every way to reach a mode failed."""


def power_on(dev: Device) -> None:
    """Switch the board's hub port on and wait for it; a uhubctl that failed or hung after switching
    the port still counts when the board shows up.
    """
    port = dev.power
    if port is None:
        raise ModeChangeError(f"{dev.name} is off and has no hub port in devices.yaml to power it on.")
    dev.note(f"power on: {port.where} on")
    failure: TransportError | None = None
    try:
        port.switch(True)
    except TransportError as exc:
        dev.note(f"uhubctl failed ({exc}); waiting for the board anyway")
        failure = exc
    try:
        with timed(dev, "power on: the board back on USB"):
            dev.wait_usb(timeout=STEP_TIMEOUT)
    except TransportError:
        if failure is not None:
            raise failure from None
        raise


def power_off(dev: Device) -> None:
    """Switch the board's hub port off and verify it is gone from USB (else it is switched on again)."""
    if dev.power is None:
        raise ModeChangeError(f"{dev.name} has no hub port in devices.yaml.")
    with timed(dev, f"power off: {dev.power.where} off, the board gone from USB"):
        power.power_off(dev.power, dev.present, dev.clock, STEP_TIMEOUT)


def cycle(dev: Device) -> None:
    """Power-cycle the board through its hub port, verified."""
    if dev.power is None:
        raise ModeChangeError(f"{dev.name} has no hub port in devices.yaml, so it cannot be power-cycled.")
    dev.note(f"power cycle: {dev.power.where} off, then on")
    with timed(dev, "power cycle: the board back on USB"):
        power.cycle(dev.power, dev.clock, dev.present, timeout=STEP_TIMEOUT)


def _control(dev: Device) -> ControlChannel:
    return dev.control(timeout=10)


def _baud(dev: Device, baud: int) -> None:
    port = open_port(dev.port_url(), baud)
    port.close()


def _leave(dev: Device) -> None:
    leave_dfu(dev)


def _dfu_safe_mode(dev: Device) -> None:
    DfuSe(dev.require_usb().device, dev.clock).enter_safe_mode()


def _listen(dev: Device, start: bool) -> None:
    if start:
        _control(dev).start_listening()
    else:
        _control(dev).stop_listening()


def _console_exit(dev: Device) -> None:
    Console(open_port(dev.port_url()), dev.clock, dev.serial_log).leave_listening()


def enter(dev: Device, target: Mode) -> list[str]:
    """Put the board in `target` mode; returns the steps that were tried. Raises ModeChangeError."""
    tried: list[str] = []
    current = dev.mode()
    if current == target:
        return tried
    if target == Mode.OFF:
        power_off(dev)
        return ["hub power off"]
    if current == Mode.OFF:
        tried.append("hub power on")
        try:
            power_on(dev)
        except TransportError as exc:
            if dev.power is None:
                raise
            dev.note(f"hub power on failed ({exc}); power cycling")
            tried.append("power cycle")
            try:
                cycle(dev)
            except TransportError as again:
                raise ModeChangeError(
                    f"{dev.name} could not be put in {target} mode (tried: {', '.join(tried)}): {again}"
                ) from None
        current = dev.mode()
        if current == target:
            return tried
    if current == Mode.DFU and target == Mode.SAFE:  # one reset instead of two where the bootloader can
        tried.append("DfuSe 0xFA (safe mode)")
        if _try(dev, tried[-1], lambda: _dfu_safe_mode(dev), target, {Mode.SAFE, Mode.NORMAL}, _reset_seen(dev)):
            return tried
        current = dev.mode()
    if current == Mode.DFU and target != Mode.DFU:
        tried.append("DFU leave")
        _try(dev, "DFU leave", lambda: _leave(dev), Mode.NORMAL, {Mode.NORMAL, Mode.SAFE, Mode.LISTENING})
        current = dev.mode()
        if current == target:
            return tried
    ladder = _ladder(dev, target, current)
    # A requested safe mode cannot be told from normal mode over USB (request 72 does not report
    # it, and the modules are valid): the proof is that the board reset and runs again.
    accept: set[Mode] = {Mode.SAFE, Mode.NORMAL} if target == Mode.SAFE else {target}
    for step, action in ladder:
        tried.append(step)
        if _try(dev, step, action, target, accept, _reset_seen(dev) if target == Mode.SAFE else None):
            return tried
    raise ModeChangeError(
        f"{dev.name} could not be put in {target} mode (tried: {', '.join(tried)}); it is in {dev.mode()} mode."
    )


def _ladder(dev: Device, target: Mode, current: Mode) -> list[tuple[str, Callable[[], None]]]:
    def then(first: Callable[[], None], second: Callable[[], None]) -> Callable[[], None]:
        def both() -> None:
            first()
            second()

        return both

    if target == Mode.DFU:
        return [
            ("control request 50 (DFU)", lambda: _control(dev).enter_dfu_mode()),
            ("14400 baud", lambda: _baud(dev, DFU_BAUD)),
            ("power cycle, then control request 50", then(lambda: cycle(dev), lambda: _control(dev).enter_dfu_mode())),
        ]
    if target == Mode.LISTENING:
        return [
            ("control request 70 (listen)", lambda: _listen(dev, True)),
            ("28800 baud", lambda: _baud(dev, LISTEN_BAUD)),
            ("power cycle, then control request 70", then(lambda: cycle(dev), lambda: _listen(dev, True))),
        ]
    if target == Mode.SAFE:
        return [
            ("control request 60 (safe mode)", lambda: _control(dev).enter_safe_mode()),
            ("power cycle, then control request 60", then(lambda: cycle(dev), lambda: _control(dev).enter_safe_mode())),
        ]
    # normal
    if current == Mode.LISTENING:
        return [
            ("control request 71 (stop listening)", lambda: _listen(dev, False)),
            ("console 'x'", lambda: _console_exit(dev)),
            ("control request 40 (reset)", lambda: _control(dev).reset()),
        ]
    return [("control request 40 (reset)", lambda: _control(dev).reset()), ("power cycle", lambda: cycle(dev))]


def _reset_seen(dev: Device) -> Callable[[], bool]:
    """A check that the board re-enumerated (back at a new USB address) since now."""
    before = dev.usb_address()
    return lambda: dev.usb_address() not in (None, before)


def _try(
    dev: Device,
    step: str,
    action: Callable[[], None],
    target: Mode,
    accept: set[Mode],
    also: Callable[[], bool] | None = None,
) -> bool:
    """Run one step and wait (bounded) until the board shows an accepted mode."""
    dev.note(f"{step} -> {target}")
    start = dev.clock.now()
    try:
        action()
    except TransportError as exc:
        dev.note(f"{step} failed: {exc}")
        return False

    def arrived() -> bool:
        try:
            return (also is None or also()) and dev.in_mode(accept)
        except TransportError:
            return False  # re-enumerating

    if wait_for(arrived, dev.clock, STEP_TIMEOUT, interval=0.5):
        dev.note(f"mode: {target} {dev.clock.now() - start:.2f} s after {step}")
        return True
    dev.note(f"mode: not {target} {STEP_TIMEOUT:g} s after {step}")
    return False


def wait_running(dev: Device, timeout: float = REBOOT_TIMEOUT) -> Mode:
    """Wait until the firmware runs again (normal, safe or listening mode); returns that mode."""
    seen: list[Mode] = []

    def running() -> bool:
        try:
            seen.append(dev.mode())
        except TransportError:
            return False
        return seen[-1] in RUNNING

    if not wait_for(running, dev.clock, timeout, interval=0.5):
        raise TimeoutError_(f"{dev.name} did not come back within {timeout:g} s.")
    return seen[-1]


def wait_left_dfu(dev: Device, timeout: float = LEAVE_DFU_TIMEOUT) -> bool:
    """Wait (bounded) until the board is no longer in DFU mode; False if it still is."""

    def left() -> bool:
        board = dev.usb()
        return board is None or not board.dfu

    return wait_for(left, dev.clock, timeout)


def ensure_running(dev: Device, target: Mode = Mode.NORMAL) -> None:
    """Bring the firmware up (in `target` mode) unless it already runs."""
    if not dev.in_mode(RUNNING):
        enter(dev, target)


def leave_dfu(dev: Device) -> bool:
    """End DFU mode if the board is still in it (the bootloader resets); False when it was not."""
    board = dev.usb()
    if board is None or not board.dfu:
        return False
    DfuSe(board.device, dev.clock).leave()
    dev.note("DFU leave: the bootloader resets")
    return True


def mark_setup_done(dev: Device, done: bool = True) -> None:
    """Set (or clear) the setup-done flag of a Gen 3 board (§6.10), then leave (or enter) listening mode."""
    if dev.platform.setup_done_offset is None:
        raise TransportError(f"{dev.name} is a {dev.platform.display_name}: setup done exists on Gen 3 only.")
    mode = dev.mode()
    if mode == Mode.DFU:
        enter(dev, Mode.NORMAL)
    elif mode not in RUNNING:  # rebooting after the last write (or off): wait before anything drastic
        try:
            wait_running(dev)
        except TimeoutError_:
            enter(dev, Mode.NORMAL)
    ctl = dev.control()
    ctl.set_device_setup_done(done)
    if not done:
        ctl.start_listening()
        return
    ctl.stop_listening()
    wait_for(lambda: dev.mode() == Mode.NORMAL, dev.clock, 10.0)
