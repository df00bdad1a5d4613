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
