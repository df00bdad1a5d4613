"""labgrid-client's commands run one after another in one process: the client half of
rig/labgrid/client.py's `LabgridClient.call` (docs/multi-host.md). Starting labgrid-client costs about
0.4 CPU seconds of imports each time, and a claim makes about eight calls; this process imports
labgrid once and runs labgrid's own `labgrid.remote.client.main` for each call. It runs under
labgrid's own Python (its pyserial fork must not meet the rig's), so it imports labgrid and the
standard library only.

    python batch.py PROGRAM

Each line on stdin is a call, `{"args": [...], "env": {"LG_USERNAME": ...}}`; each answer is one
line on stdout, `{"code": EXIT_CODE, "out": STDOUT, "err": STDERR}`, as labgrid-client would have
exited and printed with those arguments and those LG_* variables. EOF on stdin ends the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import io
import json
import logging
import os
import signal
import sys
import traceback
from typing import Any


class _CurrentStderr(io.TextIOBase):
    """Logging's stream: whatever sys.stderr is at the time (each call's own capture)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1


def run_one(program: str, args: list[str], env: dict[str, str]) -> dict[str, Any]:
    """One labgrid-client call in this process: its exit code, stdout and stderr; what the call
    changes in this process (environment, logging, signals, labgrid's step logger, the event loop)
    is put back.
    """
    from labgrid.logging import StepLogger
    from labgrid.remote import client
    from labgrid.util.helper import processwrapper

    environment = dict(os.environ)
    for key in [k for k in os.environ if k.startswith("LG_")]:
        del os.environ[key]
    os.environ.update(env)
    root = logging.getLogger()
    level, formatters = root.level, [(h, h.formatter) for h in root.handlers]
    out, err = io.StringIO(), io.StringIO()
    code = 0
    sys.argv = [program, *args]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                contextvars.Context().run(client.main)  # labgrid stashes its event loop in a context variable
            except SystemExit as exc:
                code = _exit_code(exc)
            except Exception:  # labgrid's main handles its own errors; anything else is reported, not fatal
                traceback.print_exc()
                code = 2
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # main() makes SIGTERM an exit(0) for its call only
        with contextlib.suppress(RuntimeError):  # no loop: the call ended before it made one
            loop = asyncio.get_event_loop_policy().get_event_loop()
            if not loop.is_closed():  # a call whose session did not start leaves its loop open
                loop.close()
        asyncio.set_event_loop(None)
        if StepLogger._started:
            StepLogger.stop()  # main() starts it, and asserts it is not started yet
        processwrapper.disable_logging()
        root.setLevel(level)  # -v and -d raise the root level; labgrid's basicConfig wraps the formatter anew each call
        for handler, formatter in formatters:
            handler.setFormatter(formatter)
        os.environ.clear()
        os.environ.update(environment)
    return {"code": code, "out": out.getvalue(), "err": err.getvalue()}


def main(argv: list[str]) -> int:
    """Answer calls from stdin until EOF."""
    program = argv[0] if argv else "labgrid-client"
    logging.basicConfig(level=logging.WARNING, stream=_CurrentStderr())  # main()'s own basicConfig is then a no-op
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    with open(os.devnull, "wb") as devnull:  # a program labgrid starts cannot write into the answers
        os.dup2(devnull.fileno(), sys.stdout.fileno())
    calls = os.fdopen(os.dup(sys.stdin.fileno()), encoding="utf-8")
    sys.stdout = io.StringIO()  # nothing but the answers reaches the real stdout
    sys.stdin = io.StringIO()  # labgrid's client closes its stdin when a call ends
    for line in calls:
        call = json.loads(line)
        answer = run_one(program, [str(a) for a in call["args"]], {str(k): str(v) for k, v in call["env"].items()})
        answers.write(json.dumps(answer) + "\n")
        answers.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
