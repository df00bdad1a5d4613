"""`rig binary inspect`, `rig releases list|fetch`, `rig hex`, `rig plan`, `rig platforms` and
`rig versions`: firmware files, release stores and the tables the rig works from.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn
from rich.table import Table

from rig import platforms
from rig.cli.parser import RELEASES_ENV
from rig.firmware import versions
from rig.firmware.fetch import fetch_release
from rig.firmware.hexfile import release_image, write_image
from rig.firmware.inspect import as_json, as_text, inspect_file
from rig.firmware.parse import parse_file
from rig.firmware.release import ReleaseError, ReleaseStore
from rig.plan import InstalledModule, Target, installed_release, plan


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
