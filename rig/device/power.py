"""A board's power supply as a small interface, and the one owner of "off is always followed by on".

`PowerPort` is what the rig needs from a switchable supply: a uhubctl hub port today
(`rig.transport.hub.UhubctlPort`), a remote one later. `power_cut` switches it off for a block
and on again however the block ends (an error, a timeout, Ctrl-C); `power_off` verifies the cut
and keeps the port off only when that is what was asked; `cycle` is off, wait, on, verified.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

from rig.clock import Clock, wait_for
from rig.transport.errors import TransportError


class PowerError(TransportError):
    """The supply did not do what was asked."""


class PortNotCutError(PowerError):
    """The port was switched off but the board stayed on USB."""


class BoardNotBackError(PowerError):
    """The port was switched on but the board did not re-enumerate."""


class PowerPort(Protocol):
    """One board's switchable supply."""

    @property
    def where(self) -> str:
        """For people, e.g. 'hub 1-1 port 3'."""
        ...

    def switch(self, on: bool) -> None:
        """Switch the supply on or off (TransportError when the switch failed or hung)."""
        ...

    def is_on(self) -> bool:
        """Whether the supply is on now (TransportError when that cannot be known)."""
        ...


class PowerCut:
    """The handle of a `power_cut` block."""

    def __init__(self, port: PowerPort) -> None:
        self.port = port
        self.keep = False

    def keep_off(self) -> None:
        """Leave the port off when the block ends without an error (a deliberate `power off`)."""
        self.keep = True


@contextmanager
def power_cut(port: PowerPort) -> Iterator[PowerCut]:
    """The port off for the block, on again when it ends; after a failed or hung switch-off too
    (a killed uhubctl may have switched the port already).
    """
    cut = PowerCut(port)
    failed = True
    try:
        port.switch(False)
        yield cut
        failed = False
    finally:
        if failed or not cut.keep:
            _on_again(port, quiet=failed)


def _on_again(port: PowerPort, quiet: bool) -> None:
    """Switch on; when an error is already on its way, a failure here does not hide it."""
    try:
        port.switch(True)
    except TransportError:
        if not quiet:
            raise


def _verify_cut(port: PowerPort, present: Callable[[], bool], clock: Clock, timeout: float) -> None:
    if not wait_for(lambda: not present(), clock, timeout):
        raise PortNotCutError(
            f"{port.where.capitalize()} did not cut power: check that the hub supports per-port power switching."
        )


def power_off(port: PowerPort, present: Callable[[], bool], clock: Clock, timeout: float) -> None:
    """Switch off and verify the board left USB; if it did not, the port is switched on again."""
    with power_cut(port) as cut:
        _verify_cut(port, present, clock, timeout)
        cut.keep_off()


def cycle(
    port: PowerPort,
    clock: Clock,
    present: Callable[[], bool],
    off_seconds: float = 2.0,
    timeout: float = 15.0,
) -> None:
    """Power off, wait, power on, verifying both; the port is on again whatever happens."""
    with power_cut(port):
        _verify_cut(port, present, clock, timeout)
        clock.sleep(off_seconds)
    if not wait_for(present, clock, timeout):
        raise BoardNotBackError(
            f"The board on {port.where} did not come back on USB within {timeout:g} s after power on."
        )
