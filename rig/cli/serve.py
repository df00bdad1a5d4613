"""`rig sim serve`: a simulated bench in the foreground, its boards on ptys, uhubctl and a cloud, and
with --usb on a umockdev USB bus (docs/bench-in-a-box.md).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from rich.console import Console

from rig import assemble
from rig.errors import ConfigError
from rig.firmware.release import ReleaseStore
from rig.inventory import load_inventory
from rig.sim import box_env
from rig.sim.lab import Lab
from rig.sim.serve import serve_forever


def served_lab(devices: str | None, time_scale: float, releases: str | None) -> Lab:
    """The lab `rig sim serve` runs: the boards of devices.yaml (or a small default bench)."""
    store = ReleaseStore.scan(Path(releases)) if releases else None
    specs = load_inventory(Path(devices)).devices if devices else assemble.serve_bench()
    return assemble.simulated_lab(specs, time_scale, store)


def cmd_sim_serve(args: argparse.Namespace, out: Console) -> int:
    """`rig sim serve [devices.yaml] [--usb --env-file FILE]`."""
    if not args.time_scale > 0:
        raise ConfigError("--time-scale must be above 0 for a served bench (external programs run in real time).")
    env_file = Path(args.env_file).absolute() if args.env_file else None
    if args.usb and not box_env.preloaded():  # umockdev's test bed needs its preload library in this process
        if not box_env.preload_available():
            raise ConfigError("--usb needs umockdev: install the Debian packages umockdev and gir1.2-umockdev-1.0.")
        env = box_env.with_preload(dict(os.environ))
        rerun = "import sys, rig.cli; sys.exit(rig.cli.main())"
        os.execve(sys.executable, [sys.executable, "-c", rerun, *args.argv], env)
    lab = served_lab(args.devices, args.time_scale, args.releases)
    serve_forever(lab, lambda line: out.print(line, markup=False), usb=args.usb, env_file=env_file)
    return 0
