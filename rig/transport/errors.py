"""Named errors of the transports; str() is one sentence for the user."""

from __future__ import annotations

from rig.errors import EXIT_FAILED, EXIT_USER_ERROR, RigError


class TransportError(RigError):
    """Talking to a board or a tool failed."""

    exit_code = EXIT_FAILED


class UsbAccessError(TransportError):
    """The board is on USB but cannot be used (permission, libusb missing)."""

    exit_code = EXIT_USER_ERROR  # the set-up: udev rules, libusb


class BoardNotFoundError(TransportError):
    """No board with that device id (or on that port) is connected."""


class BoardGoneError(TransportError):
    """The board disappeared in the middle of an exchange."""


class ControlRequestError(TransportError):
    """A control request failed at the transport level (status, timeout)."""


class DfuError(TransportError):
    """A DfuSe exchange failed; `status` and `state` are the DFU codes."""

    def __init__(self, message: str, status: int = 0, state: int = 0) -> None:
        super().__init__(message)
        self.status = status
        self.state = state


class YmodemError(TransportError):
    """A YMODEM transfer failed or was refused."""


class ConsoleError(TransportError):
    """The listening-mode console did not answer as expected."""


class ToolError(TransportError):
    """An external program failed or is missing."""


class ToolMissingError(ToolError):
    """A program the rig runs is not installed."""

    exit_code = EXIT_USER_ERROR


class TimeoutError_(TransportError):
    """Something did not happen within its timeout."""


class PortBusyError(TransportError):
    """Another program holds the board's serial port."""

    exit_code = EXIT_USER_ERROR  # close the terminal program that holds it
