"""External programs through `sh`: dfu-util with particle-cli's command lines (§5.5) and pyocd
for Intel HEX images (python-stack §7). Resolved on PATH when called, always with a timeout; a
missing program is one sentence naming the package to install.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from dataclasses import dataclass
from typing import Any

import sh

from rig import signals
from rig.transport.errors import TimeoutError_, ToolError, ToolMissingError

POLL_SECONDS = 0.01  # how often `finished` looks whether a program has ended
_FOUND = re.compile(r'Found DFU: \[([0-9a-f]{4}:[0-9a-f]{4})\].*?alt=(\d+), name="([^"]*)", serial="([^"]*)"')


def command(program: str, install_hint: str) -> sh.Command:
    """The program on PATH, or a ToolError saying how to install it."""
    try:
        return sh.Command(program)
    except sh.CommandNotFound:
        raise ToolMissingError(f"{program} is not installed: {install_hint}.") from None


def run(
    program: str,
    install_hint: str,
    args: list[str],
    timeout: float,
    ok_text: str | None = None,
    cwd: str | None = None,
    env: dict[str, str] | None = None,
) -> str:
    """Run a program; stdout on success (or when `ok_text` appears), else a one-sentence ToolError."""
    cmd = command(program, install_hint)
    full_env = {**os.environ, **env} if env else None  # None: the rig's own environment
    try:
        return finished(cmd, args, timeout, _cwd=cwd, _env=full_env)
    except sh.TimeoutException:
        raise TimeoutError_(f"{program} did not finish within {timeout:g} s.") from None
    except sh.ErrorReturnCode as exc:
        out = exc.stdout.decode(errors="replace")
        if ok_text and ok_text in out:
            return out  # particle-cli treats this text as success even on a non-zero exit (§5.5)
        said = exc.stderr.decode(errors="replace") or out  # particle-cli says why on stdout
        raise tool_failed(program, exc.exit_code, said) from None


def finished(cmd: sh.Command, args: list[str] | tuple[str, ...], timeout: float, **options: Any) -> str:
    """`cmd ARGS` to its end within `timeout` wall seconds (sh's exceptions); its whole stdout. A
    timeout, Ctrl-C or SIGTERM ends the program too. Not sh's `_timeout` (its timer thread, left by
    an interrupted wait, holds the interpreter's exit until it fires) nor `wait(timeout)` (it returns
    before sh's reader threads have all of a fast program's output): poll, then a plain `wait()`.
    """
    proc: sh.RunningCommand | None = None
    try:
        with signals.held():  # Ctrl-C or SIGTERM during the launch comes once `proc` holds the program
            proc = cmd(*args, _tty_out=False, _bg=True, _bg_exc=False, _preexec_fn=signals.unheld_in_child, **options)
        end = time.monotonic() + timeout
        while proc.is_alive():
            if time.monotonic() >= end:
                raise sh.TimeoutException(None, proc.ran)
            time.sleep(POLL_SECONDS)
        proc.wait()  # the reader threads joined: the output is whole; a failure's ErrorReturnCode
    except sh.ErrorReturnCode:
        raise
    except BaseException:  # sh.TimeoutException, KeyboardInterrupt, SystemExit
        if proc is not None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            with contextlib.suppress(Exception):
                proc.wait(timeout=5)
        raise
    return str(proc)


def tool_failed(program: str, exit_code: int, stderr: str) -> ToolError:
    """The one-sentence error of a program that failed: the last line it said, else its exit code."""
    err = stderr.strip().splitlines()
    reason = err[-1] if err else f"exit code {exit_code}"
    return ToolError(f"{program} failed: {reason.removeprefix(program + ': ')}")


@dataclass(frozen=True)
class DfuListing:
    """One `Found DFU:` line of `dfu-util -l`."""

    vid_pid: str
    alt: int
    name: str
    serial: str


class DfuUtil:
    """dfu-util as particle-cli 2.x/3.x calls it."""

    HINT = "install it (apt-get install dfu-util)"

    def __init__(self, program: str = "dfu-util", timeout: float = 300.0) -> None:
        self.program = program
        self.timeout = timeout

    def list(self) -> list[DfuListing]:
        """`dfu-util -l` (6 s timeout, as particle-cli)."""
        out = run(self.program, self.HINT, ["-l"], 6.0)
        return [DfuListing(m.group(1), int(m.group(2)), m.group(3), m.group(4).lower()) for m in _FOUND.finditer(out)]

    def download(
        self, vid_pid: str, alt: int, address: int, path: str, leave: bool = False, serial: str | None = None
    ) -> str:
        """`dfu-util -d VID:PID -a ALT -i 0 -s ADDR[:leave] -D FILE [-S SERIAL]`."""
        args = [
            "-d",
            vid_pid,
            "-a",
            str(alt),
            "-i",
            "0",
            "-s",
            f"0x{address:08X}{':leave' if leave else ''}",
            "-D",
            path,
        ]
        if serial:
            args += ["-S", serial]
        return run(self.program, self.HINT, args, self.timeout, ok_text="File downloaded successfully")


class PyOcd:
    """pyocd flashing an Intel HEX image through a debug probe."""

    HINT = "install the swd extra (pip install 'particle-rig[swd]')"

    def __init__(self, program: str = "pyocd", timeout: float = 600.0) -> None:
        self.program = program
        self.timeout = timeout

    def flash(self, hex_path: str, target: str, probe: str, pack: str | None = None) -> str:
        """`pyocd flash -t TARGET -u PROBE [--pack PACK] IMAGE.hex`."""
        args = ["flash", "-t", target, "-u", probe] + (["--pack", pack] if pack else []) + [hex_path]
        return run(self.program, self.HINT, args, self.timeout)


class ParticleCli:
    """The Particle CLI: the installed `particle`, or a CLI source folder run with `npm start`."""

    HINT = "install it (npm install -g particle-cli) or pass a CLI source folder"

    def __init__(self, program: str = "particle", source_dir: str | None = None, timeout: float = 300.0) -> None:
        self.program = program
        self.source_dir = source_dir
        self.timeout = timeout

    def _run(self, args: list[str], ok_text: str | None = None) -> str:
        if self.source_dir:
            return run(
                "npm",
                "install Node.js and npm (apt-get install npm)",
                ["start", "--silent", "--", *args],
                self.timeout,
                ok_text,
                cwd=self.source_dir,
            )
        return run(self.program, self.HINT, args, self.timeout, ok_text)

    def version(self) -> str:
        """`particle --version`."""
        return self._run(["--version"]).strip()

    def flash_usb(self, path: str) -> str:
        """`particle flash --usb FILE` (the board in DFU mode)."""
        return self._run(["flash", "--usb", path], ok_text="Flash success!")
