"""The `rig` command: firmware inspection, release stores, HEX restore images, platforms.

Every error a user can cause ends as one sentence on stderr and a non-zero exit code.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn
from rich.table import Table

from rig import __version__, platforms, signals
from rig.cli.bench import served_lab
from rig.cli.check_app import add_check_app_command
from rig.cli.devices import add_device_commands
from rig.cli.labgrid import add_labgrid_commands
from rig.cli.matrix import add_matrix_commands
from rig.cli.path import add_path_commands
from rig.errors import EXIT_INTERRUPTED, ConfigError, RigError
from rig.firmware import versions
from rig.firmware.fetch import fetch_release
from rig.firmware.hexfile import release_image, write_image
from rig.firmware.inspect import as_json, as_text, inspect_file
from rig.firmware.parse import parse_file
from rig.firmware.release import ReleaseError, ReleaseStore
from rig.plan import METHODS, InstalledModule, Target, installed_release, plan
from rig.sim import box_env
from rig.sim.serve import serve_forever

RELEASES_ENV = "RIG_RELEASES"


def _releases_dir(given: str | None) -> Path:
    return Path(given or os.environ.get(RELEASES_ENV) or "releases")


def cmd_inspect(args: argparse.Namespace, out: Console) -> int:
    """`rig binary inspect FILE...`."""
    results = [inspect_file(Path(f)) for f in args.files]
    if args.json:
        print(json.dumps([as_json(r) for r in results], indent=2))
    else:
        out.print("\n\n".join(as_text(r) for r in results), highlight=False, markup=False)
    return 0 if all(r.readable for r in results) else 1


def cmd_releases_list(args: argparse.Namespace, out: Console) -> int:
    """`rig releases list [DIR]`."""
    root = _releases_dir(args.dir)
    store = ReleaseStore.scan(root)
    if not store.releases:
        out.print(f"No Device OS releases in {root} ({len(store.skipped)} files skipped).")
    table = Table(title=f"Releases in {root}")
    for col in ("platform", "Device OS", "bootloader", "SoftDevice", "system parts", "default app", "status"):
        table.add_column(col)
    for r in store.sorted_releases():
        status = "complete" if r.complete else "; ".join(r.problems)
        if r.notes:
            status += f" ({'; '.join(r.notes)})"
        table.add_row(
            r.platform.name,
            r.version,
            str(r.bootloader.module.version) if r.bootloader else "-",
            str(r.softdevice.module.version) if r.softdevice else "-",
            ", ".join(
                f"{s.module.index}:{s.module.version}" for s in sorted(r.system_parts, key=lambda s: s.module.index)
            ),
            r.user_app.name if r.user_app else "-",
            status,
        )
    if store.releases:
        out.print(table)
    for path, why in store.skipped:
        out.print(f"skipped {path.name}: {why}", highlight=False, markup=False)
    return 0


def cmd_releases_fetch(args: argparse.Namespace, out: Console) -> int:
    """`rig releases fetch VERSION --platform P`."""
    dest = _releases_dir(args.dest)
    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), console=out, transient=True) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(name: str, done: int, total: int | None) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(name, total=total)
            bar.update(tasks[name], completed=done)

        result = fetch_release(
            args.version,
            args.platform,
            dest=dest,
            base_url=args.base_url,
            cache_dir=Path(args.cache) if args.cache else None,
            timeout=args.timeout,
            progress=progress,
        )
    for warning in result.warnings:
        out.print(f"warning: {warning}")
    for name in result.downloaded:
        out.print(f"downloaded {name}")
    for name in result.cached:
        out.print(f"cached     {name}")
    for name in result.absent:
        out.print(f"not in this release: {name}")
    out.print(f"{len(result.files)} files in {dest}")
    return 0


def cmd_hex(args: argparse.Namespace, out: Console) -> int:
    """`rig hex --platform P --version V [--user app.bin] -o out.hex`."""
    store = ReleaseStore.scan(_releases_dir(args.releases))
    release = store.get(args.platform, args.version)
    user = None
    if args.user:
        modules = parse_file(Path(args.user))
        if len(modules) != 1:
            raise ReleaseError(f"{args.user} combines {len(modules)} modules; give a single user app.")
        user = modules[0]
    image = release_image(release, user, Path(args.user).name if args.user else "user app")
    write_image(image, Path(args.output))
    segments = ", ".join(f"0x{a:x}-0x{b:x}" for a, b in image.segments())
    out.print(f"wrote {args.output}: {len(image)} bytes in {len(image.segments())} segments ({segments})")
    return 0


def cmd_platforms(args: argparse.Namespace, out: Console) -> int:
    """`rig platforms`: the platform table."""
    table = Table(title="Particle platforms")
    for col in ("id", "name", "display", "gen", "MCU", "USB", "DFU", "system parts", "SoftDevice", "NCP", "paths"):
        table.add_column(col)
    for p in platforms.PLATFORMS:
        table.add_row(
            str(p.id),
            p.name,
            p.display_name,
            str(p.generation),
            p.mcu,
            f"{p.usb_vid:04x}:{p.usb_pid:04x}",
            f"{p.usb_vid:04x}:{p.dfu_pid:04x}",
            str(p.system_part_count),
            "yes" if p.has_softdevice else "-",
            "yes" if p.has_ncp else "-",
            " ".join(sorted(p.methods)) or "(not flashable)",
        )
    out.print(table)
    return 0


def cmd_versions(args: argparse.Namespace, out: Console) -> int:
    """`rig versions`: the Device OS <-> module version table."""
    table = Table(title="Device OS versions")
    for col in ("Device OS", "system part", "bootloader"):
        table.add_column(col)
    for v in versions.VERSIONS:
        table.add_row(v.semver, str(v.system), str(v.bootloader) if v.bootloader is not None else "-")
    out.print(table)
    return 0


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


def cmd_plan(args: argparse.Namespace, out: Console) -> int:
    """`rig plan --releases DIR --platform P [--from V] --to V --method M [--user app.bin]`."""
    store = ReleaseStore.scan(_releases_dir(args.releases))
    target = store.get(args.platform, args.to)
    installed: list[InstalledModule] = []
    if args.from_version:
        source = store.get(args.platform, args.from_version)
        installed = installed_release(source)
    user = None
    if args.user:
        modules = parse_file(Path(args.user))
        user = Target(Path(args.user).name, modules[0])
    result = plan(installed, target, args.method, user, args.device_mode)
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
        return 0
    out.print(
        f"{args.method}: {args.platform} {args.from_version or '(empty)'} -> {target.version}, "
        f"{len(result.flash_steps())} writes, about {result.modelled_seconds:.0f} s of hardware time"
    )
    for i, step in enumerate(result.steps, 1):
        out.print(f"  {i:2}. {step.describe()}")
    for name, why in result.skipped:
        out.print(f"  skip {name}: {why}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `rig` command."""
    parser = argparse.ArgumentParser(prog="rig", description="Hardware-in-the-loop rig for Particle devices.")
    parser.add_argument("--version", action="version", version=f"particle-rig {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    binary = sub.add_parser("binary", help="firmware files").add_subparsers(dest="binary_command", required=True)
    p = binary.add_parser("inspect", help="show what firmware files are")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--json", action="store_true", help="one JSON array, one object per file")
    p.set_defaults(func=cmd_inspect)

    rel = sub.add_parser("releases", help="Device OS release stores").add_subparsers(
        dest="releases_command", required=True
    )
    p = rel.add_parser("list", help="show the releases a directory holds")
    p.add_argument("dir", nargs="?", help=f"release directory (default ${RELEASES_ENV} or ./releases)")
    p.set_defaults(func=cmd_releases_list)
    p = rel.add_parser("fetch", help="download the assets of a Device OS release")
    p.add_argument("version")
    p.add_argument("--platform", required=True)
    p.add_argument("--dest", help=f"where to put the files (default ${RELEASES_ENV} or ./releases)")
    p.add_argument(
        "--base-url", help="release download base URL (default: GitHub device-os releases, or $RIG_RELEASES_BASE_URL)"
    )
    p.add_argument("--cache", help="download cache (default ~/.cache/particle-rig/releases)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per request (default 30)")
    p.set_defaults(func=cmd_releases_fetch)

    p = sub.add_parser("hex", help="build an Intel HEX restore image for SWD/JTAG")
    p.add_argument("--platform", required=True)
    p.add_argument("--version", required=True, dest="version")
    p.add_argument("--user", help="user firmware to put in place of the default app")
    p.add_argument("--releases", help=f"release directory (default ${RELEASES_ENV} or ./releases)")
    p.add_argument("-o", "--output", required=True)
    p.set_defaults(func=cmd_hex)

    sim = sub.add_parser("sim", help="the simulated lab").add_subparsers(dest="sim_command", required=True)
    p = sim.add_parser("serve", help="run a simulated bench in the foreground (ptys, uhubctl, cloud)")
    p.add_argument("devices", nargs="?", help="devices.yaml (default: one Boron and one Photon)")
    p.add_argument("--time-scale", type=float, default=1.0, help="wall seconds per modelled second (default 1)")
    p.add_argument("--releases", help="a release directory to provision boards from (default: synthetic)")
    p.add_argument("--usb", action="store_true", help="also put the boards on a umockdev USB bus (bench in a box)")
    p.add_argument("--env-file", help="write the settings other programs need here once the bench is up")
    p.set_defaults(func=cmd_sim_serve)
    p = sim.add_parser("exec", help="run a program that sees a bench served with --usb (lsusb, dfu-util, rig ...)")
    p.add_argument("--env-file", required=True, help="the file `rig sim serve --usb --env-file` wrote")
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]")
    p.set_defaults(func=cmd_sim_exec)

    p = sub.add_parser("plan", help="show the steps of an upgrade or downgrade path")
    p.add_argument("--releases", help=f"release directory (default ${RELEASES_ENV} or ./releases)")
    p.add_argument("--platform", required=True)
    p.add_argument("--from", dest="from_version", help="Device OS on the board now (default: an empty board)")
    p.add_argument("--to", required=True)
    p.add_argument("--method", required=True, help=f"{', '.join(METHODS)} or particle-update@CLI_VERSION")
    p.add_argument("--user", help="user firmware to install instead of the default app")
    p.add_argument("--device-mode", choices=["normal", "dfu"], default="normal")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_plan)

    add_device_commands(sub)
    add_matrix_commands(sub)
    add_path_commands(sub)
    add_labgrid_commands(sub)
    add_check_app_command(sub)
    sub.add_parser("platforms", help="show the platform table").set_defaults(func=cmd_platforms)
    sub.add_parser("versions", help="show the Device OS version table").set_defaults(func=cmd_versions)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `rig` console script."""
    args = build_parser().parse_args(argv)
    args.argv = list(argv) if argv is not None else sys.argv[1:]
    out = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    saved = signals.stop_on_signals()  # SIGTERM/SIGHUP as Ctrl-C: a port switched off is switched on
    try:
        code: int = args.func(args, out)
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
