"""The `rig` command line: every sub-command's arguments, and the module and function that runs it.

This module imports only what the arguments need, so `rig` starts without loading the simulator,
pytest or the device layer; `rig.cli.app.main` imports a command's module when that command runs.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from rig import __version__
from rig.board_mode import Mode
from rig.lock_folder import CLAIM_TIMEOUT
from rig.methods import METHODS, Via
from rig.schedule_kind import Schedule

if TYPE_CHECKING:  # argparse's class is generic only to type checkers
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

RELEASES_ENV = "RIG_RELEASES"
DEVICES_ENV = "RIG_DEVICES"  # a bench host's devices.yaml, also for commands a client runs there (docs/multi-host.md)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `rig` command; each command's `func` is "module:function"."""
    parser = argparse.ArgumentParser(prog="rig", description="Hardware-in-the-loop rig for Particle devices.")
    parser.add_argument("--version", action="version", version=f"particle-rig {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _firmware_commands(sub)
    _sim_commands(sub)
    _device_commands(sub)
    _matrix_command(sub)
    _path_commands(sub)
    _labgrid_commands(sub)
    _check_app_command(sub)
    sub.add_parser("platforms", help="show the platform table").set_defaults(func="rig.cli.firmware:cmd_platforms")
    sub.add_parser("versions", help="show the Device OS version table").set_defaults(
        func="rig.cli.firmware:cmd_versions"
    )
    return parser


def _firmware_commands(sub: Subparsers) -> None:
    releases_dir = f"release directory (default ${RELEASES_ENV} or ./releases)"
    binary = sub.add_parser("binary", help="firmware files").add_subparsers(dest="binary_command", required=True)
    p = binary.add_parser("inspect", help="show what firmware files are")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--json", action="store_true", help="one JSON array, one object per file")
    p.set_defaults(func="rig.cli.firmware:cmd_inspect")

    rel = sub.add_parser("releases", help="Device OS release stores").add_subparsers(
        dest="releases_command", required=True
    )
    p = rel.add_parser("list", help="show the releases a directory holds")
    p.add_argument("dir", nargs="?", help=releases_dir)
    p.set_defaults(func="rig.cli.firmware:cmd_releases_list")
    p = rel.add_parser("fetch", help="download the assets of a Device OS release")
    p.add_argument("version")
    p.add_argument("--platform", required=True)
    p.add_argument("--dest", help=f"where to put the files (default ${RELEASES_ENV} or ./releases)")
    p.add_argument(
        "--base-url", help="release download base URL (default: GitHub device-os releases, or $RIG_RELEASES_BASE_URL)"
    )
    p.add_argument("--cache", help="download cache (default ~/.cache/particle-rig/releases)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per request (default 30)")
    p.set_defaults(func="rig.cli.firmware:cmd_releases_fetch")

    p = sub.add_parser("hex", help="build an Intel HEX restore image for SWD/JTAG")
    p.add_argument("--platform", required=True)
    p.add_argument("--version", required=True, dest="version")
    p.add_argument("--user", help="user firmware to put in place of the default app")
    p.add_argument("--releases", help=releases_dir)
    p.add_argument("-o", "--output", required=True)
    p.set_defaults(func="rig.cli.firmware:cmd_hex")

    p = sub.add_parser("plan", help="show the steps of an upgrade or downgrade path")
    p.add_argument("--releases", help=releases_dir)
    p.add_argument("--platform", required=True)
    p.add_argument("--from", dest="from_version", help="Device OS on the board now (default: an empty board)")
    p.add_argument("--to", required=True)
    p.add_argument("--method", required=True, help=f"{', '.join(METHODS)} or particle-update@CLI_VERSION")
    p.add_argument("--user", help="user firmware to install instead of the default app")
    p.add_argument("--device-mode", choices=["normal", "dfu"], default="normal")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func="rig.cli.firmware:cmd_plan")


def _sim_commands(sub: Subparsers) -> None:
    sim = sub.add_parser("sim", help="the simulated lab").add_subparsers(dest="sim_command", required=True)
    p = sim.add_parser("serve", help="run a simulated bench in the foreground (ptys, uhubctl, cloud)")
    p.add_argument("devices", nargs="?", help="devices.yaml (default: one Boron and one Photon)")
    p.add_argument("--time-scale", type=float, default=1.0, help="wall seconds per modelled second (default 1)")
    p.add_argument("--releases", help="a release directory to provision boards from (default: synthetic)")
    p.add_argument("--usb", action="store_true", help="also put the boards on a umockdev USB bus (bench in a box)")
    p.add_argument("--env-file", help="write the settings other programs need here once the bench is up")
    p.set_defaults(func="rig.cli.serve:cmd_sim_serve")
    p = sim.add_parser("exec", help="run a program that sees a bench served with --usb (lsusb, dfu-util, rig ...)")
    p.add_argument("--env-file", required=True, help="the file `rig sim serve --usb --env-file` wrote")
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]")
    p.set_defaults(func="rig.cli.sim_exec:cmd_sim_exec")


def _device_commands(sub: Subparsers) -> None:
    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--devices", help=f"devices.yaml (default ${DEVICES_ENV} or ./devices.yaml)")
        p.add_argument("--sim", action="store_true", help="run on a simulated bench of the same devices.yaml")
        p.add_argument("--time-scale", type=float, default=0.0, help="simulated time scale (default 0: instant)")
        p.add_argument("--releases", help="with --sim: provision boards from this release directory")

    p = sub.add_parser("devices", help="list the boards of devices.yaml with their mode and Device OS")
    common(p)
    p.set_defaults(func="rig.cli.devices:cmd_devices")
    for name, text in (
        ("identify", "device id, Device OS, IMEI/ICCID"),
        ("modules", "installed modules and their validity"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("name")
        common(p)
        p.set_defaults(func=f"rig.cli.devices:cmd_{name}")
    p = sub.add_parser("mode", help="move a board to a mode")
    p.add_argument("name")
    p.add_argument("mode", choices=[m.value for m in Mode])
    common(p)
    p.set_defaults(func="rig.cli.devices:cmd_mode")
    p = sub.add_parser("power", help="switch a board's hub port")
    p.add_argument("name")
    p.add_argument("action", choices=["on", "off", "cycle"])
    common(p)
    p.set_defaults(func="rig.cli.devices:cmd_power")
    p = sub.add_parser("flash", help="flash one module file over one path")
    p.add_argument("name")
    p.add_argument("file")
    p.add_argument("--via", required=True, choices=[str(v) for v in Via])
    p.add_argument("--force", action="store_true", help="flash a user app even if the board's Device OS is too old")
    common(p)
    p.set_defaults(func="rig.cli.devices:cmd_flash")
    p = sub.add_parser("setup-done", help="mark setup done (Gen 3, Device OS < 4.0.0)")
    p.add_argument("name")
    p.add_argument("--reset", action="store_true", help="mark setup as not done and enter listening mode")
    common(p)
    p.set_defaults(func="rig.cli.devices:cmd_setup_done")


def _matrix_command(sub: Subparsers) -> None:
    p = sub.add_parser("matrix", help="run the upgrade/downgrade matrix and write the report")
    p.add_argument("--sim", action="store_true", help="run on the simulated lab")
    p.add_argument("--devices", help="devices.yaml of a real bench (or of the simulated one)")
    p.add_argument(
        "--labgrid",
        metavar="HOST:PORT",
        help="claim boards as places on this labgrid coordinator; without --devices: every place the rig made, "
        "each path run on its host (docs/multi-host.md)",
    )
    p.add_argument(
        "--remote-rig", default="rig", help="with --labgrid alone: the rig command on the hosts (default rig)"
    )
    p.add_argument("--releases", help="release directory (default with --sim: synthetic releases)")
    p.add_argument("--platforms", nargs="+", help="platforms (default: the bench's)")
    p.add_argument("--from", dest="from_versions", nargs="+", help="source Device OS versions")
    p.add_argument("--to", dest="to_versions", nargs="+", help="target Device OS versions")
    p.add_argument("--methods", nargs="+", help="methods (default: dfu serial usb restore ota)")
    p.add_argument("-n", dest="workers", type=int, default=2, help="pytest-xdist workers (default 2)")
    p.add_argument("--report", default="report", help="report directory (default ./report)")
    p.add_argument("--json-out", help="also write one JSON object per path here")
    again = p.add_mutually_exclusive_group()
    again.add_argument(
        "--resume", metavar="DIR", help="finish a stopped run (its folder, or a report folder: its latest run)"
    )
    again.add_argument("--rerun-failed", metavar="DIR", help="a new run of the paths that failed in DIR's run")
    p.add_argument("--time-scale", type=float, default=0.0, help="simulated time scale (default 0)")
    p.add_argument(
        "--path-timeout", type=float, default=1800.0, help="watchdog per path in wall seconds (default 1800)"
    )
    p.add_argument(
        "--retries",
        type=int,
        default=0,
        help="run a failed path up to N more times; one that then passes is reported flaky, never pass (default 0)",
    )
    p.add_argument(
        "--schedule",
        choices=[s.value for s in Schedule],
        default=Schedule.CIRCUIT.value,
        help="circuit: each path starts where the previous one ended, only the first of a chain is set up "
        "(default); naive: sorted, every path sets its board up",
    )
    p.set_defaults(func="rig.cli.matrix:cmd_matrix", default_of=p.get_default)


def _path_commands(sub: Subparsers) -> None:
    group = sub.add_parser("path", help="one path of the matrix on a board of this host").add_subparsers(
        dest="path_command", required=True
    )
    p = group.add_parser(
        "run", help="run one path on a board of this host's bench and print its record as one JSON object"
    )
    p.add_argument(
        "--devices", help=f"devices.yaml of this host's bench (default ${DEVICES_ENV}; with --sim: its simulated lab)"
    )
    p.add_argument("--sim", action="store_true", help="on the simulated lab")
    p.add_argument("--releases", help="release directory (default with --sim: synthetic releases)")
    p.add_argument("--platform", required=True)
    p.add_argument("--from", dest="from_version", required=True, help="the Device OS the board is set up at first")
    p.add_argument("--to", dest="to_version", required=True, help="the Device OS the path goes to")
    p.add_argument("--method", required=True, help="dfu, serial, usb, restore, ota or particle-update@CLI_VERSION")
    p.add_argument("--board", help="this board of devices.yaml (default: any free one the matrix would take)")
    p.add_argument("--time-scale", type=float, default=0.0, help="simulated time scale (default 0)")
    p.add_argument(
        "--claim-timeout",
        type=float,
        default=CLAIM_TIMEOUT,
        help=f"wall seconds to wait for a board another run or command holds (default {CLAIM_TIMEOUT:g})",
    )
    p.add_argument("--json-out", help="also write the record here")
    p.add_argument(
        "--stop-on-eof",
        action="store_true",
        help="stop (as on SIGTERM) when stdin ends: for a client that runs the command over ssh",
    )
    p.set_defaults(func="rig.cli.path:cmd_path_run")


def _labgrid_commands(sub: Subparsers) -> None:
    lg = sub.add_parser("labgrid", help="labgrid configuration for benches on many hosts")
    cmds = lg.add_subparsers(dest="labgrid_command", required=True)
    p = cmds.add_parser("export", help="the exporter's resources and the places of this host's devices.yaml")
    p.add_argument("devices", help="devices.yaml of the boards on this host")
    p.add_argument("--name", help="the exporter's name (default: this host's name)")
    p.add_argument("--out", default="labgrid", help="folder for exporter.yaml and places.yaml (default: labgrid)")
    p.set_defaults(func="rig.cli.labgrid:cmd_export")
    p = cmds.add_parser("places", help="create or update the places of a places.yaml on a coordinator")
    p.add_argument("places", help="places.yaml made by rig labgrid export")
    p.add_argument("--coordinator", required=True, help="the coordinator, HOST:PORT")
    p.add_argument("--move", action="store_true", help="take over places another exporter had (boards moved here)")
    p.set_defaults(func="rig.cli.labgrid:cmd_places")


def _check_app_command(sub: Subparsers) -> None:
    p = sub.add_parser("check-app", help="check one user binary across Device OS versions")
    p.add_argument("app", help="the user firmware .bin")
    p.add_argument(
        "--versions", required=True, help="comma list (1.5.2,2.3.1,4.0.1) or OLD..NEW (every release between)"
    )
    p.add_argument(
        "--bisect",
        action="store_true",
        help="find the first version the app stops running normally on (binary search; checks both ends first)",
    )
    p.add_argument("--sim", action="store_true", help="on the simulated lab")
    p.add_argument("--devices", help="devices.yaml (with --sim optional: a simulated board is made)")
    p.add_argument("--releases", help="release directory (default with --sim: synthetic releases)")
    p.add_argument("--time-scale", type=float, default=0.0)
    p.set_defaults(func="rig.cli.check_app:cmd_check_app")
