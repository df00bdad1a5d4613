"""pyserial URL handler `sim://<device id>`: a simulated board's USB serial port (python-stack §2a).

Registered by the lab (`serial.protocol_handler_packages.append("rig.sim")`), so the rig's
`serial.serial_for_url(...)` opens it unchanged. Baud changes reach the board synchronously as
SET_LINE_CODING (14400 -> DFU, 28800 -> listening, §3.5). A board that resets or loses power
fails reads and writes with pyserial's native texts.
"""

from __future__ import annotations

import errno
from typing import Any

from serial.serialutil import PortNotOpenError, SerialBase, SerialException
from typing_extensions import Buffer

from rig.sim import registry

DISCONNECTED = "device reports readiness to read but returned no data (device disconnected or multiple access on port?)"
NO_TIMEOUT_CAP = 3600.0  # a blocking read on a silent port gives up after an hour of modelled time


class Serial(SerialBase):
    """The host end of a simulated board's CDC port."""

    BAUDRATES = (*SerialBase.BAUDRATES, 14400, 28800)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._entry: registry.Entry | None = None
        self._generation = -1
        self._cancel = False
        super().__init__(*args, **kwargs)

    def open(self) -> None:
        """Connect to the board named by the URL."""
        if self.port is None:
            raise SerialException("Port must be configured before it can be used.")
        if self.is_open:
            raise SerialException("Port is already open.")
        device_id = str(self.port).split("://", 1)[-1].split("?")[0]
        entry = registry.lookup(device_id)
        if entry is None or not entry.board.cdc_present:
            raise SerialException(
                errno.ENOENT,
                f"could not open port {self.port}: [Errno 2] No such file or directory: '{self.port}'",
            )
        if entry.board.faults.serial_busy and self.exclusive:  # as pyserial's flock(LOCK_EX | LOCK_NB) fails
            raise SerialException(
                errno.EAGAIN,
                f"Could not exclusively lock port {self.port}: [Errno 11] Resource temporarily unavailable",
            )
        self._entry = entry
        with entry.board.clock.lock:
            self._generation = entry.board.usb_generation
        self.is_open = True
        self._reconfigure_port()

    def from_url(self, url: str) -> str:
        """The URL itself is the port name."""
        return url

    def _board_lock(self) -> Any:
        if not self.is_open or self._entry is None:
            raise PortNotOpenError()
        return self._entry.board.clock.lock

    def _alive(self) -> bool:
        assert self._entry is not None
        board = self._entry.board
        board.clock.run_due()
        return board.cdc_present and board.usb_generation == self._generation

    def _reconfigure_port(self, force_update: bool = False) -> None:
        if self._entry is None or not self.is_open:
            return
        with self._board_lock():
            if self._alive():
                self._entry.port.line_coding(int(self.baudrate))

    def close(self) -> None:
        """Close the port."""
        self.is_open = False
        self._entry = None

    @property
    def in_waiting(self) -> int:
        """Bytes readable now (peeks without consuming)."""
        with self._board_lock():
            assert self._entry is not None
            if not self._alive():
                raise SerialException(DISCONNECTED)
            now = self._entry.board.clock.now()
            return sum(len(d) for at, d in self._entry.port.output if at <= now)

    def read(self, size: int = 1) -> bytes:
        """Read up to `size` bytes, waiting (in modelled time) up to the timeout."""
        lock = self._board_lock()
        assert self._entry is not None
        entry = self._entry
        clock = entry.board.clock
        deadline = clock.now() + (NO_TIMEOUT_CAP if self.timeout is None else self.timeout)
        got = bytearray()
        self._cancel = False
        while True:
            with lock:
                if not self._alive():
                    raise SerialException(DISCONNECTED)
                port = entry.port
                need = size - len(got)
                chunk = port.available()
                got += chunk[:need]
                if len(chunk) > need:
                    port.output.appendleft((clock.now(), chunk[need:]))
                now = clock.now()
                if len(got) >= size or self._cancel or now >= deadline:
                    break
                wake = min(t for t in (deadline, port.next_at(), clock.next_event_at()) if t is not None)
            clock.sleep(max(0.0, wake - now))
        return bytes(got)

    def write(self, data: Buffer) -> int:
        """Send bytes to the board."""
        with self._board_lock():
            assert self._entry is not None
            if not self._alive():
                raise SerialException(f"write failed: [Errno {errno.EIO}] Input/output error")
            payload = bytes(data)
            self._entry.port.feed(payload)
        return len(payload)

    def reset_input_buffer(self) -> None:
        """Drop what the board sent so far."""
        with self._board_lock():
            assert self._entry is not None
            self._entry.port.available()

    def reset_output_buffer(self) -> None:
        """Nothing is buffered on the host side."""

    def flush(self) -> None:
        """Writes are delivered at once."""

    def cancel_read(self) -> None:
        """Make a blocking read return."""
        self._cancel = True

    def _update_dtr_state(self) -> None:
        pass

    def _update_rts_state(self) -> None:
        pass

    def _update_break_state(self) -> None:
        pass

    @property
    def cts(self) -> bool:
        """Always asserted."""
        return True

    @property
    def dsr(self) -> bool:
        """Always asserted."""
        return True

    @property
    def ri(self) -> bool:
        """Never ringing."""
        return False

    @property
    def cd(self) -> bool:
        """Carrier always detected."""
        return True
