"""The `rig` command: parses the command line (rig/cli/parser.py), then imports and runs the one
command asked for, so that a command loads only what it uses.

Every error a user can cause ends as one sentence on stderr and a non-zero exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import cast

from rich.console import Console

from rig import signals
from rig.cli.parser import build_parser
from rig.errors import EXIT_INTERRUPTED, RigError

Command = Callable[[argparse.Namespace, Console], int]


def command(where: str) -> Command:
    """The function a "module:function" of the parser names."""
    module, _, name = where.partition(":")
    return cast(Command, getattr(importlib.import_module(module), name))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `rig` console script."""
    args = build_parser().parse_args(argv)
    args.argv = list(argv) if argv is not None else sys.argv[1:]
    out = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    saved = signals.stop_on_signals()  # SIGTERM/SIGHUP as Ctrl-C: a port switched off is switched on
    try:
        code = command(args.func)(args, out)
    except RigError as exc:
        err.print(f"rig: error: {exc}", markup=False)
        return exc.exit_code
    except KeyboardInterrupt:
        by = f" by {signals.STOPPED_BY[0]}" if signals.STOPPED_BY else ""
        err.print(f"rig: interrupted{by}.", markup=False)
        return EXIT_INTERRUPTED
    finally:
        signals.restore(saved)
    return code


if __name__ == "__main__":
    sys.exit(main())
