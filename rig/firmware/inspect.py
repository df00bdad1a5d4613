"""`rig binary inspect`: what a firmware file is, for people (text) and machines (JSON)."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rig import platforms
from rig.firmware import versions
from rig.firmware.format import ExtensionType, ModuleFlag
from rig.firmware.format import ModuleFunction as F
from rig.firmware.module import Extension, Module, ModuleError
from rig.firmware.parse import problems, read_file, read_modules


@dataclass(frozen=True)
class Inspection:
    """One file: its modules if it has any, and the first thing wrong with it."""

    path: Path
    size: int | None
    modules: tuple[Module, ...]
    error: str | None
    readable: bool


def inspect_file(path: Path) -> Inspection:
    """Read one file leniently: a bad CRC is reported, not raised."""
    try:
        data = read_file(path)
    except ModuleError as exc:
        return Inspection(path, None, (), str(exc), readable=False)
    try:
        modules = tuple(read_modules(data, path.name))
    except ModuleError as exc:
        return Inspection(path, len(data), (), str(exc), readable=True)
    errors = [str(e) for m in modules for e in problems(m, path.name)]
    return Inspection(path, len(data), modules, errors[0] if errors else None, readable=True)


def _device_os(m: Module) -> str | None:
    if m.function == F.SYSTEM_PART:
        return versions.device_os_or_none(m.version)
    return None


def as_json(result: Inspection) -> dict[str, Any]:
    """The JSON object of one file (keys as documented in the README)."""
    obj: dict[str, Any] = {
        "file": result.path.name,
        "size": result.size,
        "module": bool(result.modules),
        "error": result.error,
    }
    m = result.modules[0] if result.modules else None
    plat = platforms.by_id(m.platform_id) if m else None
    obj.update(
        prefix_offset=m.prefix_offset if m else None,
        start=m.start if m else None,
        end=m.end if m else None,
        flags=int(m.flags) if m else None,
        function=int(m.function) if m else None,
        function_name=m.function.label if m else None,
        index=m.index if m else None,
        platform_id=m.platform_id if m else None,
        platform=plat.name if plat else None,
        version=m.version if m else None,
        dependencies=[
            {"function": int(d.function), "index": d.index, "version": d.version} for d in m.real_dependencies
        ]
        if m
        else None,
        product_id=m.product_id if m else None,
        product_version=m.product_version if m else None,
        suffix_size=m.suffix_size if m else None,
        sha256=m.sha256.hex() if m else None,
        crc_ok=m.crc_ok if m else None,
        uncompressed_size=m.uncompressed_size if m else None,
        modules_in_file=len(result.modules),
        device_os=_device_os(m) if m else None,
        extensions=[
            {"where": w, "type": e.name, "size": len(e.body)}
            for w, exts in (("prefix", m.prefix_extensions), ("suffix", m.suffix_extensions))
            for e in exts
        ]
        if m
        else None,
    )
    return obj


def flag_names(m: Module) -> str:
    """The set flags by name, e.g. 'DROP_MODULE_INFO|COMPRESSED'."""
    return "|".join(f.name or "" for f in ModuleFlag if f and f in m.flags)


def _ext_text(e: Extension) -> str:
    """One extension for people: its name and, for the common ones, its decoded value."""
    if e.type == ExtensionType.NAME:
        return f"NAME '{e.body.decode(errors='replace')}'"
    if e.type == ExtensionType.PRODUCT_DATA and len(e.body) >= 6:
        pid, ver = struct.unpack_from("<IH", e.body)
        return f"PRODUCT_DATA id {pid >> 16} version {ver}"
    if e.type == ExtensionType.DYNAMIC_LOCATION and len(e.body) >= 12:
        return "DYNAMIC_LOCATION " + " ".join(f"0x{v:x}" for v in struct.unpack_from("<III", e.body))
    return f"{e.name} ({len(e.body)} bytes)"


def _module_lines(m: Module) -> list[str]:
    plat = platforms.by_id(m.platform_id)
    dos = _device_os(m)
    lines = [
        f" CRC is {'ok' if m.crc_ok else 'WRONG'} ({m.stored_crc:08x})",
        f" Compiled for {plat.name} (platform {plat.id}, {plat.display_name})",
        f" This is a {m.function.label} module number {m.index} at version {m.version}"
        + (f" (Device OS {dos})" if dos else ""),
        f" Address range 0x{m.start:x}-0x{m.end:x}, prefix at 0x{m.prefix_offset:x}, flags 0x{int(m.flags):02x}"
        + (f" ({flag_names(m)})" if m.flags else ""),
    ]
    if not plat.flashable:
        lines.append(
            f" The {plat.display_name} is a historic platform: the rig parses its firmware but never flashes it"
        )
    if m.uncompressed_size is not None:
        lines.append(f" Compressed: {m.size} bytes, {m.uncompressed_size} bytes inflated")
    if m.product_id is not None:
        lines.append(f" Product id {m.product_id}, product version {m.product_version}")
    for where, exts in (("prefix", m.prefix_extensions), ("suffix", m.suffix_extensions)):
        if exts:
            lines.append(f" {where.capitalize()} extensions: " + ", ".join(_ext_text(e) for e in exts))
    lines.append(f" SHA-256 {m.sha256.hex()}{'' if m.sha_ok else ' (does NOT match the contents)'}")
    for d in m.real_dependencies:
        lines.append(f" It depends on a {d.function.label} module number {d.index} at version {d.version}")
    return lines


def as_text(result: Inspection) -> str:
    """Human-readable report of one file."""
    lines = [result.path.name]
    if not result.modules:
        lines.append(f" Not a module: {result.error}")
        return "\n".join(lines)
    for i, m in enumerate(result.modules):
        if len(result.modules) > 1:
            lines.append(f" Module {i + 1} of {len(result.modules)} (combined):")
        lines += _module_lines(m)
    if result.error:
        lines.append(f" Problem: {result.error}")
    return "\n".join(lines)
