"""Device OS result codes (`system_error_t`, particle-protocols §4.5) as named Python errors."""

from __future__ import annotations

from rig.errors import EXIT_FAILED, EXIT_USER_ERROR
from rig.transport.errors import TransportError


class DeviceResultError(TransportError):
    """The board answered a request with a negative result code."""

    code = -100
    text = "unknown error"

    def __init__(self, request: str, code: int | None = None) -> None:
        self.request = request
        if code is not None:
            self.code = code
        super().__init__(f"The board refused {request}: {self.text} ({self.code}).")


MODULE_REFUSALS = range(-1370, -1299)  # -1300 … -1370: the module given does not fit this board (user input)


def _error(name: str, code: int, text: str) -> type[DeviceResultError]:
    exit_code = EXIT_USER_ERROR if code in MODULE_REFUSALS else EXIT_FAILED
    fields = {"code": code, "text": text, "exit_code": exit_code, "__doc__": f"Result code {code}: {text}."}
    return type(name, (DeviceResultError,), fields)


UnknownError = _error("UnknownError", -100, "unknown error")
BusyError = _error("BusyError", -110, "busy")
NotSupportedError = _error("NotSupportedError", -120, "not supported")
NotAllowedError = _error("NotAllowedError", -130, "not allowed")
CancelledError = _error("CancelledError", -140, "cancelled")
DeviceTimeoutError = _error("DeviceTimeoutError", -160, "timeout")
NotFoundError = _error("NotFoundError", -170, "not found")
TooLargeError = _error("TooLargeError", -190, "too large")
InvalidStateError = _error("InvalidStateError", -210, "invalid state")
FlashIoError = _error("FlashIoError", -219, "flash I/O error")
NoMemoryError = _error("NoMemoryError", -260, "out of memory")
InvalidArgumentError = _error("InvalidArgumentError", -270, "invalid argument")
BadDataError = _error("BadDataError", -280, "bad data")
OutOfRangeError = _error("OutOfRangeError", -290, "out of range")
ModuleNotFoundError_ = _error("ModuleNotFoundError_", -1300, "module not found")
UnsupportedModuleError = _error("UnsupportedModuleError", -1310, "unsupported module")
ValidationFailedError = _error("ValidationFailedError", -1320, "validation failed")
IntegrityCheckFailedError = _error("IntegrityCheckFailedError", -1330, "integrity check failed (bad CRC)")
DependencyCheckFailedError = _error(
    "DependencyCheckFailedError", -1340, "dependency check failed (flash the modules it depends on first)"
)
InvalidAddressError = _error("InvalidAddressError", -1350, "invalid address for this Device OS")
InvalidSizeError = _error("InvalidSizeError", -1351, "invalid size")
InvalidPlatformError = _error("InvalidPlatformError", -1360, "built for another platform")
InvalidFormatError = _error("InvalidFormatError", -1370, "invalid module format")
UpdatesDisabledError = _error("UpdatesDisabledError", -1380, "updates are disabled")
OtaError = _error("OtaError", -1390, "OTA error")

BY_CODE: dict[int, type[DeviceResultError]] = {
    cls.code: cls
    for cls in (
        UnknownError,
        BusyError,
        NotSupportedError,
        NotAllowedError,
        CancelledError,
        DeviceTimeoutError,
        NotFoundError,
        TooLargeError,
        InvalidStateError,
        FlashIoError,
        NoMemoryError,
        InvalidArgumentError,
        BadDataError,
        OutOfRangeError,
        ModuleNotFoundError_,
        UnsupportedModuleError,
        ValidationFailedError,
        IntegrityCheckFailedError,
        DependencyCheckFailedError,
        InvalidAddressError,
        InvalidSizeError,
        InvalidPlatformError,
        InvalidFormatError,
        UpdatesDisabledError,
        OtaError,
    )
}


# MODULE_VALIDATION_* flags (v1.5.2 hal/inc/ota_flash_hal.h), as Device OS 1.x prints the checks that
# failed; a failed range check leaves every result bit clear, so it is looked at first (§3.3)
VALIDATION_RANGE, VALIDATION_INTEGRITY, VALIDATION_DEPENDENCIES, VALIDATION_PLATFORM = 0x08, 0x02, 0x44, 0x10


def result_of_failed_checks(flags: int) -> int:
    """The Device OS 2.x result code for the failed validation checks a 1.x board prints."""
    if flags & VALIDATION_RANGE:
        return -1350
    if flags & VALIDATION_INTEGRITY:
        return -1330
    if flags & VALIDATION_DEPENDENCIES:
        return -1340
    if flags & VALIDATION_PLATFORM:
        return -1360
    return -1320


def raise_for(code: int, request: str) -> None:
    """Raise the named error of a negative result code."""
    if code >= 0:
        return
    cls = BY_CODE.get(code, DeviceResultError)
    raise cls(request, code)
