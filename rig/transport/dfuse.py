"""DfuSe from the host side, as particle-usb does it (particle-protocols §5.1–§5.4).

The alt settings' memory maps decide what is done: only the sectors a write touches are erased
(none where the map says a segment is not erasable, like the Gen 3 DCT), a read-only start
segment is refused before anything is sent, data goes in transfer-size blocks with GETSTATUS
polling, dfuERROR is cleared before each operation, UPLOAD can verify what was written, and
leave accepts Gen 2's dfuDNLOAD_IDLE quirk.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import usb.core
import usb.util

from rig.clock import Clock, Deadline
from rig.dfu_map import Segment, parse_memory_map
from rig.transport.errors import BoardGoneError, DfuError, TimeoutError_
from rig.transport.usb import control_transfer

DETACH, DNLOAD, UPLOAD, GETSTATUS, CLRSTATUS, GETSTATE, ABORT = range(7)
ST_IDLE, ST_DNBUSY, ST_DNLOAD_IDLE, ST_MANIFEST_SYNC, ST_MANIFEST, ST_UPLOAD_IDLE, ST_ERROR = 2, 4, 5, 6, 7, 9, 10
ST_DNLOAD_SYNC, ST_MANIFEST_WAIT_RESET = 3, 8
SAFE_MODE = 0xFA  # Particle's DfuSe command (nRF52840 bootloader from 6.1.1, §5.9)
STATUS_TEXT = {
    1: "errTARGET (protected or invalid address)",
    2: "errFILE",
    3: "errWRITE",
    4: "errERASE",
    5: "errCHECK_ERASED",
    6: "errPROG",
    7: "errVERIFY",
    8: "errADDRESS",
    9: "errNOTDONE",
    10: "errFIRMWARE",
    11: "errVENDOR",
    12: "errUSBR",
    13: "errPOR",
    14: "errUNKNOWN",
    15: "errSTALLEDPKT",
}
OP_TIMEOUT = 30.0  # one erase or block write
GET_DESCRIPTOR, CONFIGURATION_DESCRIPTOR = 6, 0x0200  # standard request; descriptor type 2, index 0
FUNCTIONAL = 0x21  # DFU functional descriptor type
DEFAULT_TRANSFER_SIZE = 1024


@dataclass(frozen=True)
class DfuStatus:
    """GETSTATUS: bStatus, bwPollTimeout (ms), bState."""

    status: int
    poll_ms: int
    state: int


@dataclass
class WriteReport:
    """What a write did."""

    address: int
    size: int
    erased: list[int]


def functional_transfer_size(descriptors: bytes) -> int | None:
    """The transfer size (wTransferSize) of the first DFU functional descriptor in a run of descriptors."""
    at = 0
    while at + 2 <= len(descriptors):
        length, kind = descriptors[at], descriptors[at + 1]
        if length < 2:
            return None  # malformed: stop rather than loop
        if kind == FUNCTIONAL and length >= 7 and at + 7 <= len(descriptors):
            return int(struct.unpack_from("<H", descriptors, at + 5)[0])
        at += length
    return None


class DfuSe:
    """DfuSe on one board in DFU mode (interface 0)."""

    def __init__(self, device: Any, clock: Clock) -> None:
        self.device = device
        self.clock = clock
        self.alt = -1

    def _xfer(self, request_type: int, request: int, value: int, data: Any) -> Any:
        return control_transfer(
            self.device,
            (request_type, request, value, 0),
            data,
            "DFU request",
            lambda exc: DfuError(f"The board stalled a DFU request ({exc})."),
        )

    def get_status(self) -> DfuStatus:
        """GETSTATUS."""
        raw = bytes(self._xfer(0xA1, GETSTATUS, 0, 6))
        return DfuStatus(raw[0], int.from_bytes(raw[1:4], "little"), raw[4])

    def transfer_size(self, alt: int) -> int:
        """The DFU functional descriptor's wTransferSize. It follows the last alt setting only, so
        libusb gives it to that alt alone (§5.8): the selected alt, then any alt of interface 0,
        then the raw configuration descriptor; 1024 (DFU's usual default) only when none has it.
        """
        config = self.device.get_active_configuration()
        alts = [config[(0, alt)]] + [i for i in config if i.bInterfaceNumber == 0]
        for intf in alts:
            size = functional_transfer_size(bytes(intf.extra_descriptors or b""))
            if size is not None:
                return size
        head = bytes(self._xfer(0x80, GET_DESCRIPTOR, CONFIGURATION_DESCRIPTOR, 9))
        if len(head) >= 4:
            raw = bytes(
                self._xfer(0x80, GET_DESCRIPTOR, CONFIGURATION_DESCRIPTOR, struct.unpack_from("<H", head, 2)[0])
            )
            size = functional_transfer_size(raw)
            if size is not None:
                return size
        return DEFAULT_TRANSFER_SIZE

    def select(self, alt: int) -> tuple[str, list[Segment], int]:
        """Choose an alt setting; returns (name, segments, transfer size) from the descriptors."""
        intf = self.device.get_active_configuration()[(0, alt)]
        name, segments = parse_memory_map(usb.util.get_string(self.device, intf.iInterface))
        size = self.transfer_size(alt)
        try:
            self.device.set_interface_altsetting(0, alt)
        except usb.core.USBError as exc:
            raise DfuError(f"The board refused DFU alt setting {alt} ({exc}).") from None
        self.alt = alt
        self.clear_errors()
        return name, segments, size

    def clear_errors(self) -> None:
        """Leave dfuERROR (CLRSTATUS) and any unfinished state (ABORT) for dfuIDLE."""
        st = self.get_status()
        if st.state == ST_ERROR:
            self._xfer(0x21, CLRSTATUS, 0, None)
            st = self.get_status()
        if st.state not in (ST_IDLE,):
            self._xfer(0x21, ABORT, 0, None)

    def _wait(self, what: str) -> DfuStatus:
        """Poll GETSTATUS (sleeping bwPollTimeout) until the board is no longer busy."""
        deadline = Deadline(self.clock, OP_TIMEOUT)
        while True:
            try:
                st = self.get_status()
            except DfuError:  # Gen 2 refuses by stalling the status request, then carries on (§5.9)
                raise DfuError(f"The board refused to {what} (it stalled the status request).") from None
            if st.status != 0:
                raise DfuError(
                    f"The board failed to {what}: {STATUS_TEXT.get(st.status, st.status)}.", st.status, st.state
                )
            if st.state not in (ST_DNBUSY, ST_DNLOAD_SYNC):
                return st
            if deadline.expired():
                raise TimeoutError_(f"The board stayed busy for {OP_TIMEOUT:g} s trying to {what}.")
            self.clock.sleep(st.poll_ms / 1000)

    def command(self, data: bytes, what: str) -> None:
        """A DfuSe command (DNLOAD with wValue 0, §5.2)."""
        self._xfer(0x21, DNLOAD, 0, data)
        self._wait(what)

    def set_address(self, address: int) -> None:
        """SET_ADDRESS_POINTER."""
        self.command(b"\x21" + struct.pack("<I", address), f"set the address 0x{address:x}")

    def erase(self, address: int) -> None:
        """Erase the sector holding `address`."""
        self.command(b"\x41" + struct.pack("<I", address), f"erase the sector at 0x{address:x}")

    def write(self, alt: int, address: int, data: bytes, erase: bool = True, verify: bool = False) -> WriteReport:
        """Write `data` at `address` of alt `alt`, erasing only the sectors it touches."""
        _name, segments, size = self.select(alt)
        end = address + len(data)
        start_seg = next((s for s in segments if s.start <= address < s.end), None)
        if start_seg is None or not start_seg.writable or end > max(s.end for s in segments):
            raise DfuError(
                f"0x{address:x}-0x{end:x} is not writable over DFU alt {alt} (read-only or outside the memory map)."
            )
        erased = []
        if erase:
            for seg in segments:
                if not seg.erasable:
                    continue
                for i in range(seg.count):
                    sector = seg.start + i * seg.sector_size
                    if sector < end and address < sector + seg.sector_size:
                        self.erase(sector)
                        erased.append(sector)
        for off in range(0, len(data), size):
            self.set_address(address + off)
            self._xfer(0x21, DNLOAD, 2, data[off : off + size])
            self._wait(f"write 0x{address + off:x}")
        if verify and self.read(alt, address, len(data)) != data:
            raise DfuError(f"Read-back of 0x{address:x}-0x{end:x} does not match what was written.")
        return WriteReport(address, len(data), erased)

    def read(self, alt: int, address: int, length: int) -> bytes:
        """UPLOAD `length` bytes from `address`; every block is addressed on its own (block 2 at a
        fresh address pointer), so the result does not depend on how the board numbers blocks (§5.8).
        """
        _name, _segments, size = self.select(alt)
        out = b""
        while len(out) < length:
            self.set_address(address + len(out))
            self._xfer(0x21, ABORT, 0, None)  # dfuDNLOAD_IDLE -> dfuIDLE, where UPLOAD may start
            chunk = bytes(self._xfer(0xA1, UPLOAD, 2, min(size, length - len(out))))
            self._xfer(0x21, ABORT, 0, None)  # dfuUPLOAD_IDLE -> dfuIDLE for the next address
            if not chunk:
                break
            out += chunk
        return out[:length]

    def leave(self) -> None:
        """Leave DFU mode (zero-length DNLOAD, §5.3); Gen 2 answers dfuDNLOAD_IDLE, Gen 3 dfuMANIFEST."""
        self.clear_errors()
        self._xfer(0x21, DNLOAD, 2, b"")
        try:
            st = self.get_status()
        except BoardGoneError:
            return  # it already reset
        if st.state not in (ST_MANIFEST, ST_DNLOAD_IDLE, ST_MANIFEST_SYNC) or st.status != 0:
            raise DfuError(
                f"The board did not leave DFU mode (state {st.state}, status {st.status}).", st.status, st.state
            )

    def commands(self) -> bytes:
        """GET_COMMANDS (UPLOAD of block 0): the DfuSe commands this bootloader supports (§5.9)."""
        self.clear_errors()
        data = bytes(self._xfer(0xA1, UPLOAD, 0, 16))
        self._xfer(0x21, ABORT, 0, None)  # back to dfuIDLE
        return data

    def enter_safe_mode(self) -> None:
        """Particle's 0xFA command: reboot into safe mode. Only nRF52840 bootloaders from Device OS
        6.1.1 have it, so GET_COMMANDS is asked first, as particle-usb does (§5.9).
        """
        self.select(0)
        if SAFE_MODE not in self.commands():
            raise DfuError("The board's bootloader has no safe-mode command (0xFA needs the 6.1.1 bootloader).")
        self._xfer(0x21, DNLOAD, 0, bytes([SAFE_MODE]))
        deadline = Deadline(self.clock, OP_TIMEOUT)
        while not deadline.expired():  # the status after the command, then the leave's (dfuMANIFEST)
            try:
                st = self.get_status()
            except BoardGoneError:
                return  # it already reset
            if st.status != 0:
                raise DfuError(f"The board refused safe mode: {STATUS_TEXT.get(st.status, st.status)}.", st.status)
            if st.state in (ST_MANIFEST, ST_MANIFEST_WAIT_RESET):
                return
            self.clock.sleep(st.poll_ms / 1000)
        raise TimeoutError_(f"The board did not start its safe-mode reset within {OP_TIMEOUT:g} s.")
