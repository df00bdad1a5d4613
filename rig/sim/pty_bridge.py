"""A simulated board's USB serial port on a pseudo-terminal, for external programs (screen,
lrzsz, particle serial ...) that cannot use the sim:// URL handler (python-stack §2b).

The master side is served by a thread: host bytes go to the board's console, the board's output
goes back, and the slave's baud rate (read from the master with TCGETS2, polled) reaches the
board as line coding, so opening the pty at 14400 or 28800 baud works as on a real board.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import struct
import threading
import tty
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rig.sim.board import Board
    from rig.sim.console import SerialPort

TCGETS2 = 0x802C542A  # asm-generic (x86-64, ARM); struct termios2 is 44 bytes, c_ospeed at 40
POLL_SECONDS = 0.01


class PtyBridge:
    """One board's serial port as /dev/pts/N."""

    def __init__(self, board: Board, port: SerialPort, master: int | None = None, path: str = "") -> None:
        """A new pty, or the master side of one made elsewhere (umockdev's /dev/ttyACM<N>)."""
        self.board = board
        self.port = port
        self._owned = master is None
        if master is None:
            master, slave = os.openpty()
            tty.setraw(slave)
            path = os.ttyname(slave)
            os.close(slave)  # so that POLLHUP tells whether a host has the port open
        self.master, self.path = master, path
        self._stop = threading.Event()
        self._baud = 0
        self._thread = threading.Thread(target=self._run, name=f"pty-{board.device_id}", daemon=True)

    def start(self) -> None:
        """Serve the pty from a thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the master side."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        if self._owned:
            os.close(self.master)

    def _slave_baud(self) -> int:
        buf = bytearray(44)
        try:
            fcntl.ioctl(self.master, TCGETS2, buf)
        except OSError:
            return 0
        return int(struct.unpack_from("<I", buf, 40)[0])

    def _run(self) -> None:
        poller = select.poll()
        poller.register(self.master, select.POLLIN)
        while not self._stop.is_set():
            events = dict(poller.poll(POLL_SECONDS * 1000))
            lock = self.board.clock.lock
            host_open = not events.get(self.master, 0) & select.POLLHUP
            with lock:
                self.board.clock.run_due()
                live = self.board.cdc_present
                if host_open and live:
                    baud = self._slave_baud()
                    if baud and baud != self._baud:
                        self._baud = baud
                        self.port.line_coding(baud)
                elif not host_open:
                    self._baud = 0
                outgoing = self.port.available() if live else b""
            if events.get(self.master, 0) & select.POLLIN:
                try:
                    data = os.read(self.master, 4096)
                except OSError:
                    data = b""
                if data and live:
                    with lock:
                        self.port.feed(data)
            if outgoing and host_open:
                with contextlib.suppress(OSError):
                    os.write(self.master, outgoing)
            if not host_open:
                self._stop.wait(POLL_SECONDS)  # nobody has the port open: poll() reports HUP at once
