"""`rig sim exec`: run a program so that it sees a bench `rig sim serve --usb` serves (umockdev's
preload and the bench's settings); light, since it starts before every such program.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from rich.console import Console

from rig.errors import ConfigError
from rig.sim import box_env


def cmd_sim_exec(args: argparse.Namespace, out: Console) -> int:
    """`rig sim exec --env-file FILE -- COMMAND [ARGS...]`: run a program that sees the served USB bench."""
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise ConfigError("rig sim exec needs a command after --, e.g. rig sim exec --env-file bench.env -- lsusb")
    env = box_env.with_preload({**os.environ, **box_env.read_env_file(Path(args.env_file))})
    box_env.spread_event_sockets(env["UMOCKDEV_DIR"])
    try:
        os.execvpe(command[0], command, env)
    except FileNotFoundError:
        raise ConfigError(f"{command[0]}: no such program on PATH.") from None
    except OSError as exc:
        raise ConfigError(f"{command[0]} cannot be run ({exc.strerror}).") from None
    return 127  # not reached
