"""`rig labgrid export` and `rig labgrid places`: a bench's labgrid configuration from devices.yaml
(rig/labgrid, docs/multi-host.md).
"""

from __future__ import annotations

import argparse
import socket
from pathlib import Path

from rich.console import Console

from rig.errors import ConfigError
from rig.inventory import load_inventory
from rig.labgrid import export
from rig.labgrid.client import LabgridClient
from rig.report.journal import write_whole


def cmd_export(args: argparse.Namespace, out: Console) -> int:
    """`rig labgrid export DEVICES.yaml [--name EXPORTER] [--out DIR]`, run on the bench's own host."""
    source = Path(args.devices)
    inventory = load_inventory(source)
    name = args.name or socket.gethostname()
    config = export.exporter_config(inventory)  # udev first: nothing is written for a host it does not fit
    found = export.places(inventory, name)
    folder = Path(args.out)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_whole(folder / "exporter.yaml", export.render_exporter(config, source))
        write_whole(folder / "places.yaml", export.render_places(found, name))
    except OSError as exc:
        raise ConfigError(f"cannot write into {folder} ({exc.strerror}); choose another --out.") from None
    out.print(f"{folder / 'exporter.yaml'}: {len(config)} resource groups (labgrid-exporter -n {name} FILE)")
    out.print(f"{folder / 'places.yaml'}: {len(found)} places (rig labgrid places FILE --coordinator HOST:PORT)")
    return 0


def cmd_places(args: argparse.Namespace, out: Console) -> int:
    """`rig labgrid places PLACES.yaml --coordinator HOST:PORT [--move]`: make the exporter's places so."""
    exporter, wanted = export.read_places(Path(args.places))
    for line in LabgridClient(args.coordinator).apply(wanted, exporter, move=args.move):
        out.print(line, markup=False)
    return 0


def add_labgrid_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The `rig labgrid` sub-commands."""
    lg = sub.add_parser("labgrid", help="labgrid configuration for benches on many hosts")
    cmds = lg.add_subparsers(dest="labgrid_command", required=True)
    p = cmds.add_parser("export", help="the exporter's resources and the places of this host's devices.yaml")
    p.add_argument("devices", help="devices.yaml of the boards on this host")
    p.add_argument("--name", help="the exporter's name (default: this host's name)")
    p.add_argument("--out", default="labgrid", help="folder for exporter.yaml and places.yaml (default: labgrid)")
    p.set_defaults(func=cmd_export)
    p = cmds.add_parser("places", help="create or update the places of a places.yaml on a coordinator")
    p.add_argument("places", help="places.yaml made by rig labgrid export")
    p.add_argument("--coordinator", required=True, help="the coordinator, HOST:PORT")
    p.add_argument("--move", action="store_true", help="take over places another exporter had (boards moved here)")
    p.set_defaults(func=cmd_places)
