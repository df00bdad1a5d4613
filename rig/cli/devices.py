"""Board commands: devices, identify, modules, mode, power, flash, setup-done (real or --sim)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table

from rig.assemble import Bench
from rig.cli.bench import command_bench
from rig.device import Device, Mode
from rig.device.flash import flash
from rig.device.identify import identify
from rig.device.modes import cycle, enter, mark_setup_done, power_off, power_on
from rig.errors import RigError
from rig.firmware.format import ModuleFunction
from rig.firmware.parse import read_file

Command = Callable[[argparse.Namespace, Bench, Console], int]


def _on_bench(handler: Command) -> Callable[[argparse.Namespace, Console], int]:
    """The command as `rig` runs it: open the bench, run it, always remove the simulated lab's seams."""

    def run(args: argparse.Namespace, out: Console) -> int:
        bench = command_bench(args.devices, args.sim, args.time_scale, args.releases)
        try:
            return handler(args, bench, out)
        finally:
            bench.close()

    return run


@_on_bench
def cmd_devices(args: argparse.Namespace, bench: Bench, out: Console) -> int:
    """`rig devices`: one row per board of devices.yaml."""
    table = Table(title="Boards" + (" (simulated)" if bench.lab else ""))
    for col in ("name", "platform", "device id", "mode", "Device OS", "hub port", "online"):
        table.add_column(col)
    for name, dev in sorted(bench.devices.items()):
        mode, version, online = "off", "-", "-"
        try:
            m = dev.mode()
            mode = str(m)
            if m not in (Mode.OFF, Mode.DFU):
                version = dev.device_os(dev.modules())
            if dev.cloud is not None:
                online = "yes" if dev.cloud.device(dev.device_id).get("online") else "no"
        except RigError as exc:
            mode = f"error: {exc}"
        hub = f"{dev.hub.location} port {dev.hub.port}" if dev.hub else "-"
        table.add_row(name, dev.platform.name, dev.device_id, mode, version, hub, online)
    out.print(table)
    return 0


@_on_bench
def cmd_identify(args: argparse.Namespace, bench: Bench, out: Console) -> int:
    """`rig identify NAME`."""
    ident = identify(bench.device(args.name))
    out.print(f"Your device id is {ident.device_id}")
    if ident.imei:
        out.print(f"Your IMEI is {ident.imei}")
    if ident.iccid:
        out.print(f"Your ICCID is {ident.iccid}")
    out.print(f"Your system firmware version is {ident.device_os}")
    out.print(f"Platform: {ident.platform}, mode: {ident.mode}")
    return 0


@_on_bench
def cmd_modules(args: argparse.Namespace, bench: Bench, out: Console) -> int:
    """`rig modules NAME`."""
    ident = identify(bench.device(args.name), cellular_details=False)
    table = Table(title=f"Modules of {args.name} (Device OS {ident.device_os}, {ident.mode} mode)")
    for col in ("module", "size", "valid", "depends on"):
        table.add_column(col)
    for m in ident.modules:
        deps = ", ".join(f"{ModuleFunction(f).label} {i} >= {v}" for f, i, v in m.dependencies) or "-"
        table.add_row(m.label, str(m.size), "yes" if m.valid else "NO", deps)
    out.print(table)
    return 0


@_on_bench
def cmd_mode(args: argparse.Namespace, bench: Bench, out: Console) -> int:
    """`rig mode NAME MODE`."""
    dev = bench.device(args.name)
    steps = enter(dev, Mode(args.mode))
    out.print(f"{args.name} is in {args.mode} mode" + (f" (via {', '.join(steps)})" if steps else " (already)"))
    return 0


@_on_bench
def cmd_power(args: argparse.Namespace, bench: Bench, out: Console) -> int:
    """`rig power NAME on|off|cycle`."""
    dev = bench.device(args.name)
    {"on": power_on, "off": power_off, "cycle": cycle}[args.action](dev)
    out.print(f"{args.name}: power {args.action} done")
    return 0


@_on_bench
def cmd_flash(args: argparse.Namespace, bench: Bench, out: Console) -> int:
    """`rig flash NAME FILE --via PATH`."""
    dev: Device = bench.device(args.name)
    data = read_file(Path(args.file))
    result = flash(dev, data, args.via, Path(args.file).name, force=args.force)
    out.print(
        f"{args.name}: flashed {result.module} ({result.bytes_sent} bytes) via {result.via} in "
        f"{result.wall_seconds:.1f} s wall, {result.clock_seconds:.1f} s on the bench clock; "
        f"now in {result.final_mode} mode"
    )
    return 0


@_on_bench
def cmd_setup_done(args: argparse.Namespace, bench: Bench, out: Console) -> int:
    """`rig setup-done NAME [--reset]`: Gen 3 below 4.0.0 (§6.10); then leave listening mode."""
    dev = bench.device(args.name)
    mark_setup_done(dev, done=not args.reset)
    out.print("Done.")
    return 0
