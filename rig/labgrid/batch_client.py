"""The rig's side of rig/labgrid/batch.py: one labgrid client process per rig process that runs the
rig's labgrid-client calls one after another, each with its timeout (docs/multi-host.md).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import threading
import time
from pathlib import Path

import sh

from rig.errors import ConfigError
from rig.transport.errors import TimeoutError_, ToolError
from rig.transport.tools import tool_failed

BATCH = Path(__file__).with_name("batch.py")


def labgrid_python(client_program: str) -> str:
    """The Python labgrid-client runs with (batch.py and agent.py import labgrid): the one its
    `#!` line names, else the `python` next to it (a venv's).
    """
    found = sh.which(client_program) if os.sep not in client_program else client_program
    if not found:
        raise ConfigError(f"{client_program} is not installed: run tools/labgrid/install.")
    with contextlib.suppress(OSError), open(str(found), "rb") as script:
        first = script.readline(512)
        words = first[2:].decode(errors="replace").split() if first.startswith(b"#!") and b"python" in first else []
        if len(words) > 1 and Path(words[0]).name == "env":  # #!/usr/bin/env python3
            return str(sh.which(words[1]) or words[1])
        if words:
            return words[0]
    return str(Path(str(found)).resolve().parent / "python")


class LabgridBatch:
    """A batch.py process for one labgrid-client program, started on first use (again after a failure)."""

    def __init__(self, program: str) -> None:
        self.program = program
        self.lock = threading.Lock()
        self.process: subprocess.Popen[bytes] | None = None
        self.pid = os.getpid()  # a forked child starts its own

    def call(self, args: list[str], env: dict[str, str], timeout: float) -> str:
        """labgrid-client ARGS with these LG_* variables: its stdout, or ToolError / TimeoutError_ as `run` gives."""
        with self.lock:
            process = self._process()
            assert process.stdin is not None and process.stdout is not None
            try:
                process.stdin.write(json.dumps({"args": args, "env": env}).encode() + b"\n")
                process.stdin.flush()
                line = _line(process.stdout.fileno(), time.monotonic() + timeout)
            except BrokenPipeError:
                line = b""
            except TimeoutError:
                self._stop()
                raise TimeoutError_(f"{self.program} did not finish within {timeout:g} s.") from None
            except BaseException:  # Ctrl-C, SIGTERM, a watchdog: its answer would be read by the next call
                self._stop()
                raise
            if not line:
                said = self._stop()
                raise ToolError(f"{self.program} failed: labgrid's client process ended: {said}")
        answer = json.loads(line)
        if answer["code"] != 0:
            raise tool_failed(self.program, int(answer["code"]), str(answer["err"]))
        return str(answer["out"])

    def _process(self) -> subprocess.Popen[bytes]:
        if self.process is None or self.process.poll() is not None or self.pid != os.getpid():
            self.pid = os.getpid()
            python = labgrid_python(self.program)
            if not Path(python).exists():
                raise ToolError(f"{self.program} failed: its Python {python} is missing; run tools/labgrid/install.")
            # its own session: Ctrl-C reaches the rig, which still has calls to make; on stderr only the
            # process's own failure (each call's stderr comes in its answer)
            self.process = subprocess.Popen(
                [python, "-I", str(BATCH), Path(self.program).name],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )  # fmt: skip
        return self.process

    def _stop(self) -> str:
        """End the process; the last line it wrote on stderr (why it ended, when it did on its own)."""
        said = ""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired, ValueError, OSError):
                _, err = self.process.communicate(timeout=10)
                said = (err.decode(errors="replace").strip().splitlines() or [""])[-1]
            self.process = None
        return said or f"no reason given; is labgrid installed whole next to {self.program}?"


def _line(fd: int, end: float) -> bytes:
    """One line from `fd` by `end` (monotonic): TimeoutError after it; what came before EOF."""
    data = b""
    while not data.endswith(b"\n"):
        left = end - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise TimeoutError
        chunk = os.read(fd, 65536)
        if not chunk:
            return b""
        data += chunk
    return data


_BATCHES: dict[str, LabgridBatch] = {}
_BATCHES_LOCK = threading.Lock()


def batch_for(program: str) -> LabgridBatch:
    """The batch process of this rig process for `program` (one, shared by every LabgridClient)."""
    with _BATCHES_LOCK:
        return _BATCHES.setdefault(program, LabgridBatch(program))
