"""Simulated dfu-util, pyocd and particle programs: argv in, what the real program prints out.

dfu-util drives the board's own DfuSe state machine (rig.sim.dfu), so its writes are raw and
unvalidated exactly like the rig's own DFU path; pyocd programs an Intel HEX through the "debug
port" (raw writes to flash, then a reset); particle covers the few commands the rig uses.
"""

from __future__ import annotations

import os
import struct
import tempfile
from collections.abc import Callable
from pathlib import Path

from intelhex import IntelHex

from rig.firmware.module import ModuleError
from rig.firmware.parse import read_modules
from rig.sim.board import Board, Mode
from rig.sim.dfu import DNLOAD, GETSTATUS, DfuSe, memory_map
from rig.sim.hub import UhubctlResult

CLI_NOT_IN_DFU = (  # particle-cli 3.51, `flash --usb` with no board in DFU mode (stdout, exit 1)
    "!!! The device needs to be in DFU mode for this command.\n\n> To put your device in DFU manually, please:\n\n"
    "1) Press and hold both the RESET and MODE/SETUP buttons simultaneously.\n\n"
    "2) Release only the RESET button while continuing to hold the MODE/SETUP button.\n\n"
    "3) Release the MODE/SETUP button once the device begins to blink yellow.\n\nNo devices found\n"
)
DFU_UTIL_BANNER = (
    "dfu-util 0.11\n\nCopyright 2005-2009 Weston Schmidt, Harald Welte and OpenMoko Inc.\n"
    "Copyright 2010-2021 Tormod Volden and Stefan Schmidt\n"
    "This program is Free Software and has ABSOLUTELY NO WARRANTY\n"
    "Please report bugs to http://sourceforge.net/p/dfu-util/tickets/\n\n"
)


def _opts(argv: list[str], with_value: str) -> tuple[dict[str, str], list[str]]:
    opts: dict[str, str] = {}
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("-") and len(arg) >= 2 and arg[1] in with_value and len(arg) == 2 and i + 1 < len(argv):
            opts[arg[1]] = argv[i + 1]
            i += 2
            continue
        if arg.startswith("-") and len(arg) == 2:
            opts[arg[1]] = ""
        else:
            rest.append(arg)
        i += 1
    return opts, rest


class FakeTools:
    """Handlers for the lab's tool server; `boards()` lists the lab's boards, `probes` maps SWD ids."""

    def __init__(
        self,
        boards: Callable[[], list[Board]],
        lock: object,
        probes: Callable[[], dict[str, Board]],
        locate: Callable[[Board], str],
    ) -> None:
        self.boards = boards
        self.lock = lock
        self.probes = probes
        self.locate = locate  # a board's USB location (1-1.2)

    # ---- dfu-util --------------------------------------------------------------------------

    def dfu_util(self, argv: list[str]) -> UhubctlResult:
        """dfu-util -l | -d VID:PID [-S SERIAL] -a ALT [-i 0] -s ADDR[:leave] -D FILE | -U FILE."""
        opts, _ = _opts(argv, "daisDUS")
        with self.lock:  # type: ignore[attr-defined]
            dfu_boards = [b for b in self.boards() if b.powered and b.mode == Mode.DFU]
            if "l" in opts:
                return UhubctlResult(stdout=DFU_UTIL_BANNER + "".join(self._found(b) for b in dfu_boards))
            if "D" in opts and not os.access(opts["D"], os.R_OK):  # EX_NOINPUT, before any device is looked at
                why = "No such file or directory" if not os.path.exists(opts["D"]) else "Permission denied"
                return UhubctlResult(
                    stdout=DFU_UTIL_BANNER,
                    stderr=f"dfu-util: Could not open file {opts['D']} for reading: {why}\n",
                    rc=66,
                )
            wanted = [b for b in dfu_boards if self._matches(b, opts.get("d"), opts.get("S"))]
            if not wanted:
                return UhubctlResult(
                    stdout=DFU_UTIL_BANNER, stderr="dfu-util: No DFU capable USB device available\n", rc=74
                )
            if len(wanted) > 1:
                return UhubctlResult(
                    stdout=DFU_UTIL_BANNER,
                    rc=74,
                    stderr="dfu-util: More than one DFU capable USB device found! Try `--list' "
                    "and specify the serial number or disconnect all but one device\n",
                )
            return self._download(wanted[0], opts)

    def _found(self, b: Board) -> str:
        lines = []
        for alt in sorted(b.platform.dfu_alts, key=lambda a: -a.alt):  # dfu-util 0.11 lists the last alt first
            serial = b.usb_serial_number
            lines.append(
                f"Found DFU: [{b.platform.usb_vid:04x}:{b.platform.dfu_pid:04x}] ver=0251, devnum=5, cfg=1, "
                f'intf=0, path="{self.locate(b)}", alt={alt.alt}, name="{memory_map(b, alt.alt)}", serial="{serial}"\n'
            )
        return "".join(lines)

    @staticmethod
    def _matches(b: Board, vid_pid: str | None, serial: str | None) -> bool:
        """dfu-util 0.11's matching of a board in DFU mode: `-d RUNTIME[,DFU]` restricts DFU-mode devices
        only by the part after the comma (dfu-util.c `parse_vendprod`), and `-S` compares as it is.
        """
        dfu_ids = vid_pid.partition(",")[2] if vid_pid and "," in vid_pid else ""
        if dfu_ids and dfu_ids.lower() != f"{b.platform.usb_vid:04x}:{b.platform.dfu_pid:04x}":
            return False
        return not serial or serial == b.usb_serial_number

    def _download(self, board: Board, opts: dict[str, str]) -> UhubctlResult:
        if "D" not in opts or "s" not in opts:
            return UhubctlResult(stderr="dfu-util: You need to specify one of -D or -U\n", rc=64)
        data = Path(opts["D"]).read_bytes()  # readable: dfu-util opens it before it looks for a device
        spec = opts["s"]
        leave = spec.endswith(":leave")
        address = int(spec.removesuffix(":leave"), 0)
        alt = int(opts.get("a", "0"))
        dfu = DfuSe(board)
        out = [
            DFU_UTIL_BANNER,
            "Opening DFU capable USB device...\n",
            f"Device ID {board.platform.usb_vid:04x}:{board.platform.dfu_pid:04x}\n",
            f"Setting Alternate Interface #{alt} ...\n",
            "Device returned transfer size 4096\n",
            f"Downloading element to address = 0x{address:08x}, size = {len(data)}\n",
        ]
        try:
            dfu.select_alt(alt)
        except Exception:
            return UhubctlResult(stdout="".join(out), stderr=f"dfu-util: Cannot set alternate interface {alt}\n", rc=74)
        for sector in dfu.erasable_sectors(address, len(data)):
            if not self._step(dfu, bytes([0x41]) + struct.pack("<I", sector), 0):
                return self._fail(out, dfu, "ERASE_PAGE not correctly executed")
        out.append(f"Erase           [=========================] 100% {len(data):>14} bytes\nErase    done.\n")
        for off in range(0, len(data), 4096):
            if not self._step(dfu, bytes([0x21]) + struct.pack("<I", address + off), 0) or not self._step(
                dfu, data[off : off + 4096], 2
            ):
                return self._fail(out, dfu, "Error during download get_status")
        out.append(
            f"Download        [=========================] 100% {len(data):>14} bytes\nDownload done.\n"
            "File downloaded successfully\n"
        )
        if leave:
            out.append("Submitting leave request...\nTransitioning to dfuMANIFEST state\n")
            dfu.control_out(DNLOAD, 2, b"")
            dfu.control_in(GETSTATUS, 0, 6)
        board.clock.busy(board.take_cost())
        return UhubctlResult(stdout="".join(out))

    @staticmethod
    def _step(dfu: DfuSe, data: bytes, block: int) -> bool:
        dfu.control_out(DNLOAD, block, data)
        dfu.control_in(GETSTATUS, 0, 6)
        dfu.control_in(GETSTATUS, 0, 6)
        return dfu.status == 0

    @staticmethod
    def _fail(out: list[str], dfu: DfuSe, text: str) -> UhubctlResult:
        return UhubctlResult(stdout="".join(out), stderr=f"dfu-util: {text} (status {dfu.status})\n", rc=74)

    # ---- pyocd -------------------------------------------------------------------------------

    def pyocd(self, argv: list[str]) -> UhubctlResult:
        """Pyocd flash -t TARGET -u PROBE [--pack PACK] FILE.hex; pyocd list."""
        if argv[:1] == ["list"]:
            return UhubctlResult(
                stdout="".join(
                    f"  {i}  {uid}  Particle Debugger (sim)\n" for i, uid in enumerate(sorted(self.probes()))
                )
            )
        if argv[:1] != ["flash"]:
            return UhubctlResult(stderr="pyocd: only `flash` and `list` are simulated\n", rc=2)
        opts, rest = _opts(argv[1:], "tu")
        pack = "--pack" in argv
        target = opts.get("t", "")
        if target == "stm32f205rg" and not pack:
            return UhubctlResult(
                stderr="0000531 C Target type stm32f205rg not recognized. Use 'pyocd list --targets' "
                "to see currently available target types. [__main__]\n",
                rc=1,
            )
        files = [r for r in rest if r.endswith(".hex")]
        with self.lock:  # type: ignore[attr-defined]
            board = self.probes().get(opts.get("u", ""))
            if board is None:
                return UhubctlResult(
                    stderr=f"0000412 C No connected debug probe matches unique ID '{opts.get('u', '')}' [__main__]\n",
                    rc=1,
                )
            expected = "nrf52840" if board.platform.family == "nrf52840" else "stm32f205rg"
            if target != expected or not files:
                return UhubctlResult(stderr=f"0000500 C target {target!r} does not match the connected chip\n", rc=1)
            image = IntelHex(files[0])
            for start, end in image.segments():
                chunk = image.tobinstr(start=start, size=end - start)
                bank = board.mem.bank_for(start, len(chunk))
                board.spend(bank.erase_range(start, len(chunk)) + bank.program(start, chunk))
            board.powered = True
            board.reset("SWD programming done", delay=board.take_cost())
        return UhubctlResult(stdout=f"[====================] 100%\n0001234 I Programmed {len(image)} bytes\n")

    # ---- particle ----------------------------------------------------------------------------

    def particle(self, argv: list[str]) -> UhubctlResult:
        """Particle --version | flash --usb FILE (CLI 3.51's words: DFU write at the module's address)."""
        if argv[:1] == ["--version"]:
            return UhubctlResult(stdout="3.51.0\n")
        if argv[:2] != ["flash", "--usb"] or len(argv) < 3:
            return UhubctlResult(stderr=f"particle (simulated): unsupported command {' '.join(argv)}\n", rc=1)
        try:
            data = Path(argv[2]).read_bytes()
            module = read_modules(data, argv[2])[0]
        except (OSError, ModuleError) as exc:
            return UhubctlResult(stderr=f"{exc}\n", rc=1)
        with self.lock:  # type: ignore[attr-defined]
            dfu_boards = [b for b in self.boards() if b.powered and b.mode == Mode.DFU]
            if not dfu_boards:
                return UhubctlResult(stdout=CLI_NOT_IN_DFU, rc=1)
            board = dfu_boards[0]
        if module.platform_id != board.platform.id:
            return UhubctlResult(stderr=f"Module is not compatible with platform {board.platform.name}\n", rc=1)
        with tempfile.TemporaryDirectory() as tmp:
            image = Path(tmp) / "image.bin"
            image.write_bytes(module.flash_data)
            vid_pid = f"{board.platform.usb_vid:04x}:{board.platform.dfu_pid:04x}"
            result = self.dfu_util(
                ["-d", vid_pid, "-a", "0", "-i", "0", "-s", f"0x{module.start:x}:leave", "-D", str(image)]
            )
        if result.rc != 0:
            return result
        said = f"Flashing {board.platform.name} device {board.device_id}\nFlashing {Path(argv[2]).name}\n"
        return UhubctlResult(stdout=said + "Flash success!\n")
