"""Stand-ins for external programs (pyocd, particle; uhubctl and dfu-util where the host lacks them).

Each is a tiny executable first on PATH that sends its argv over a Unix socket to the lab and
prints what the lab answers, with its exit code (python-stack §3: sh resolves programs on PATH,
so the rig's real `sh` calls, timeouts and error handling run unchanged).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from rig.sim.hub import UhubctlResult

SOCKET_ENV = "RIG_SIM_SOCKET"
Handler = Callable[[list[str]], UhubctlResult]

# -IS: the script needs the standard library only, so its interpreter skips site-packages (and
# the editable installs' path hooks) and PYTHON* variables: a cheaper start at every call
_SCRIPT = """#!{python} -IS
# Simulated {tool}: forwards argv to the particle-rig simulated lab (rig/sim/tools.py).
import json, os, socket, sys
path = os.environ.get("{env}")
if not path:
    sys.stderr.write("{tool} (simulated): no simulated lab is running ({env} is not set)\\n")
    sys.exit(1)
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(path)
except OSError as exc:
    sys.stderr.write("{tool} (simulated): cannot reach the lab at " + path + ": " + str(exc) + "\\n")
    sys.exit(1)
s.sendall(json.dumps({{"tool": "{tool}", "argv": sys.argv[1:]}}).encode() + b"\\n")
reply = s.makefile().readline()
if not reply:
    sys.exit(1)
r = json.loads(reply)
sys.stdout.write(r["stdout"])
sys.stderr.write(r["stderr"])
sys.exit(r["rc"])
"""


class ToolServer:
    """Serves the fake programs' requests from a thread."""

    def __init__(self, handlers: dict[str, Handler]) -> None:
        self.handlers = handlers
        self._dir = Path(tempfile.mkdtemp(prefix="rig-sim-"))
        self.bin = self._dir / "bin"
        self.socket_path = str(self._dir / "lab.sock")
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False

    def start(self) -> None:
        """Write the executables and start listening."""
        self.bin.mkdir(parents=True, exist_ok=True)
        for tool in self.handlers:
            script = self.bin / tool
            script.write_text(_SCRIPT.format(python=sys.executable, tool=tool, env=SOCKET_ENV))
            script.chmod(0o755)
        self._sock = socket.socket(socket.AF_UNIX)
        self._sock.bind(self.socket_path)
        self._sock.listen(16)
        self._thread = threading.Thread(target=self._serve, name="rig-sim-tools", daemon=True)
        self._thread.start()

    @staticmethod
    def is_stand_in_folder(folder: str) -> bool:
        """Whether a PATH entry is a running lab's folder of stand-ins."""
        path = Path(folder)
        return path.name == "bin" and path.parent.name.startswith("rig-sim-") and (path.parent / "lab.sock").exists()

    def environment(self) -> dict[str, str]:
        """PATH (fakes first) and the socket variable, for os.environ or a child process."""
        return {"PATH": f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}", SOCKET_ENV: self.socket_path}

    def _serve(self) -> None:
        assert self._sock is not None
        while not self._stopping:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            try:
                request = json.loads(conn.makefile().readline())
                handler = self.handlers[request["tool"]]
                result = handler([str(a) for a in request["argv"]])
            except Exception as exc:  # a bug in the simulator must not hang the rig
                result = UhubctlResult(stderr=f"simulated tool failed: {exc}\n", rc=70)
            reply = {"stdout": result.stdout, "stderr": result.stderr, "rc": result.rc}
            with contextlib.suppress(OSError):  # the program was killed (timeout) before we answered
                conn.sendall(json.dumps(reply).encode() + b"\n")

    def stop(self) -> None:
        """Stop serving and remove the files."""
        self._stopping = True
        if self._sock is not None:
            # close() alone does not wake a thread blocked in accept() on Linux: the thread, and the
            # lab its handlers reach, would live on (the unit suite grew by a lab per test)
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
            self._sock.close()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        shutil.rmtree(self._dir, ignore_errors=True)
