"""Run a command on the host of an acquired labgrid place, with files copied there first: the client
half of a remote path (docs/multi-host.md). This file runs under labgrid's own Python
(tools/labgrid/venv: its pyserial fork must not meet the rig's pyserial), so it imports labgrid and
the standard library only; rig/labgrid/remote.py starts it.

    python agent.py --coordinator HOST:PORT --place NAME [--file PATH]... [--timeout S] [--stop-on-eof] -- CMD ARG...

- The place must be acquired by this user (`LG_USERNAME`, as labgrid-client acquired it); its
  resources name the exporter host, and the command runs there through labgrid's SSH prefix
  (`NetworkResource.wrap_command`: one master connection per host, keys only).
- Each `--file` goes over through labgrid's `ManagedFile` (rsync, into
  /var/cache/labgrid/USER/SHA256/: a file already there is not sent again), and is linked into one
  folder per set of contents; `{files}` in the command is replaced by that folder. labgrid's NFS
  shortcut (a host that sees the client's own file uses it in place) is off: another client's
  link to a file of a run that has ended would dangle.
- The command's stdout and stderr pass through, and its exit code is this program's (ssh's own
  failure: 255). A failure of the agent itself is one sentence on stderr and exit code 125.
- With `--stop-on-eof` the agent ends as on SIGTERM when its stdin reaches its end: the client keeps
  the only write end of that pipe, so a client that dies (`kill -9`) takes its agent, the agent's
  ssh and so the host's command (which reads EOF in turn) with it.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import re
import signal
import subprocess
import sys
import threading
from typing import Any

AGENT_FAILED = 125  # the place, the coordinator or the copy failed: the command never ran
FILES = "{files}"
SAFE_NAME = re.compile(r"^[A-Za-z0-9@_+][A-Za-z0-9@._+-]*$")


def _fail(text: str) -> int:
    print(f"labgrid agent: {text}", file=sys.stderr, flush=True)
    return AGENT_FAILED


def _network_resource(coordinator: str, place: str) -> Any:
    """A resource of the place on its exporter host (it carries the host and the SSH prefix)."""
    from labgrid import Target
    from labgrid.resource.common import NetworkResource
    from labgrid.resource.remote import RemotePlace

    os.environ["LG_COORDINATOR"] = coordinator
    target = Target(f"rig-{place}")
    RemotePlace(target, name=place)
    found = [r for r in target.resources if isinstance(r, NetworkResource)]
    if not found:
        raise LookupError(f"place {place} has no resource on an exporter (is its exporter running?)")
    return found[0]


def _sync(resource: Any, files: list[str]) -> str:
    """Copy the files to the resource's host (labgrid's ManagedFile) and link them into one folder."""
    from labgrid.util.helper import get_user
    from labgrid.util.managedfile import ManagedFile

    # never the NFS shortcut: a link to the client's own file would dangle once that client's run ends
    names = [os.path.basename(path) for path in files]
    unsafe = sorted({n for n in names if not SAFE_NAME.match(n)} | {n for n in names if names.count(n) > 1})
    if unsafe:  # labgrid's ln and test commands take the names unquoted, and one folder holds them all
        raise ValueError(f"release files must have distinct plain names (letters, digits, @._+-): {', '.join(unsafe)}")
    managed = {os.path.basename(path): ManagedFile(path, resource, detect_nfs=False) for path in files}
    contents = "".join(f"{m.get_hash()} {name}\n" for name, m in sorted(managed.items()))
    folder = f"/var/cache/labgrid/{get_user()}/rig-files-{hashlib.sha256(contents.encode()).hexdigest()[:16]}"
    if _synced(resource, folder, sorted(managed)):
        return folder
    for name, m in managed.items():
        m.sync_to_resource(symlink=f"{folder}/{name}")
    return folder


def _synced(resource: Any, folder: str, names: list[str]) -> bool:
    """Whether an earlier try left every file in `folder` on the host (one command instead of five per
    file: the folder is named after the files' contents, and each link leads to labgrid's copy under
    its SHA-256, so a link that resolves to a file is that content; a copy cleaned away since breaks it).
    """
    from labgrid.util.ssh import sshmanager

    _, _, code = sshmanager.open(resource.host).run(" && ".join(f"test -f {folder}/{name}" for name in names))
    return bool(code == 0)


def _sentence(exc: Exception, coordinator: str) -> str:
    """The labgrid error in short: a Place's whole repr becomes its name, ssh's arguments are left out,
    a coordinator that did not answer is named.
    """
    text = re.sub(r"place Place\(name='([^']+)'.*\) has an", r"place \1 has an", str(exc).replace("\n", " "))
    text = re.sub(r" with args \[[^]]*\]", "", text)
    text = re.sub(r"Could not connect to coordinator$", f"Could not connect to coordinator {coordinator}", text)
    return f"{type(exc).__name__}: {text}"


def main(argv: list[str]) -> int:
    """Parse the arguments, copy the files, run the command on the place's host."""
    parser = argparse.ArgumentParser(prog="agent.py")
    parser.add_argument("--coordinator", required=True)
    parser.add_argument("--place", required=True)
    parser.add_argument("--file", action="append", default=[])
    parser.add_argument("--timeout", type=float, default=None)
    parser.add_argument("--stop-on-eof", action="store_true")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        return _fail("no command given after --")
    if args.stop_on_eof:
        _stop_when_stdin_closes()
    try:
        resource = _network_resource(args.coordinator, args.place)
        folder = _sync(resource, args.file) if args.file else ""
        wrapped = resource.wrap_command([folder if a == FILES else a for a in command])
    except Exception as exc:  # labgrid's errors are many kinds; each ends here as one sentence
        return _fail(_sentence(exc, args.coordinator))
    # stdin stays open and unused: when this agent or its ssh ends, the host's command reads EOF and
    # stops (`rig path run --stop-on-eof`), handing its board back
    process = subprocess.Popen(wrapped, stdin=subprocess.PIPE)
    try:
        return process.wait(timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return _fail(f"{' '.join(command[:3])} on {resource.host} did not end within {args.timeout:g} s")
    finally:  # also on SIGTERM (below): ssh goes, and labgrid's exit handlers close its connection
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def _stop_when_stdin_closes() -> None:
    """SIGTERM to this process once stdin reaches its end (the client that started it is gone)."""

    def watch() -> None:
        with contextlib.suppress(OSError):
            while os.read(0, 4096):
                pass
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="stop-on-eof", daemon=True).start()


def _terminated(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminated)
    sys.exit(main(sys.argv[1:]))
