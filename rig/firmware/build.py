"""Build valid Particle modules (any function, platform, version, dependencies, compressed,
combined) with correct SHA-256 and CRC-32, for tests and for the simulator.

Round trip: `parse_modules(build_combined(specs))` gives modules whose `spec_of()` equals the
specs. Layout rules: §1.1 (layout), §1.5 (suffix), §1.6 (checksums), §1.7 (flags; compression
as BVR `compressModule` does it: raw Deflate of the whole file, or only the payload for
DROP_MODULE_INFO modules).
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from dataclasses import dataclass, field, replace

from rig import platforms
from rig.firmware.checksum import seal
from rig.firmware.format import (
    COMPRESSED_HEADER_SIZE,
    CRC_SIZE,
    PREFIX_SIZE,
    SUFFIX_BASE_SIZE,
    ExtensionType,
    ModuleFlag,
    ModuleFunction,
)
from rig.firmware.module import NO_DEPENDENCY, Dependency, Extension, Module

# Flags a spec sets itself; PREFIX_EXTENSIONS, COMPRESSED and COMBINED follow from the spec.
SPEC_FLAGS = ModuleFlag.DROP_MODULE_INFO | ModuleFlag.ENCRYPTED


@dataclass(frozen=True)
class ModuleSpec:
    """Everything that defines a module; `content` is all its bytes except prefix and suffix.

    content[:prefix_offset] precedes the prefix (the vector table); the rest follows it.
    product_id/product_version None means a 36-byte suffix without product data; with suffix
    extensions they must be None (product data then lives in a PRODUCT_DATA extension).
    """

    platform_id: int
    function: ModuleFunction
    index: int
    version: int
    start: int
    content: bytes = field(repr=False)
    prefix_offset: int = 0
    dependencies: tuple[Dependency, Dependency] = (NO_DEPENDENCY, NO_DEPENDENCY)
    mcu_target: int = 0
    flags: ModuleFlag = ModuleFlag.NONE
    product_id: int | None = 0xFFFF
    product_version: int | None = 0xFFFF
    prefix_extensions: tuple[Extension, ...] = ()
    suffix_extensions: tuple[Extension, ...] = ()
    compressed: bool = False


def _check(spec: ModuleSpec) -> None:
    if spec.flags & ~SPEC_FLAGS:
        raise ValueError("spec.flags may only hold DROP_MODULE_INFO and ENCRYPTED")
    if len(spec.content) < spec.prefix_offset:
        raise ValueError("content is shorter than prefix_offset")
    if spec.prefix_extensions and spec.prefix_extensions[-1].type != ExtensionType.END:
        raise ValueError("prefix extensions must end with an END extension")
    if spec.suffix_extensions and (spec.product_id is not None or spec.product_version is not None):
        raise ValueError("with suffix extensions, product data goes in a PRODUCT_DATA extension")
    if (spec.product_id is None) != (spec.product_version is None):
        raise ValueError("product_id and product_version are set together")
    if spec.compressed and spec.prefix_offset:
        raise ValueError("compressed modules carry their prefix at offset 0 (§1.4)")
    if spec.flags & ModuleFlag.DROP_MODULE_INFO and spec.prefix_offset:
        raise ValueError("DROP_MODULE_INFO modules carry their prefix at offset 0 (§1.7)")


def _prefix(spec: ModuleSpec, end: int, flags: int) -> bytes:
    d1, d2 = spec.dependencies
    return struct.pack(
        "<IIBBHHBBBBHBBH",
        spec.start,
        end,
        spec.mcu_target,
        flags,
        spec.version,
        spec.platform_id,
        spec.function,
        spec.index,
        d1.function,
        d1.index,
        d1.version,
        d2.function,
        d2.index,
        d2.version,
    )


def _suffix_head(spec: ModuleSpec) -> bytes:
    """Suffix bytes before reserved/SHA/size: product data or extensions."""
    if spec.suffix_extensions:
        return b"".join(e.encoded for e in spec.suffix_extensions)
    if spec.product_id is None or spec.product_version is None:
        return b""
    return struct.pack("<HH", spec.product_id, spec.product_version)


def _plain(spec: ModuleSpec, extra_flags: int) -> bytes:
    """The uncompressed module file for `spec`."""
    pext = b"".join(e.encoded for e in spec.prefix_extensions)
    head = _suffix_head(spec)
    suffix_size = SUFFIX_BASE_SIZE + len(head)
    flags = int(spec.flags) | extra_flags | (ModuleFlag.PREFIX_EXTENSIONS if pext else 0)
    total = len(spec.content) + PREFIX_SIZE + len(pext) + suffix_size + CRC_SIZE
    end = spec.start + total - CRC_SIZE
    placeholder = head + b"\x00\x00" + bytes(32) + struct.pack("<H", suffix_size)
    body = (
        spec.content[: spec.prefix_offset]
        + _prefix(spec, end, flags)
        + pext
        + spec.content[spec.prefix_offset :]
        + placeholder
    )
    return seal(body, bool(flags & ModuleFlag.DROP_MODULE_INFO))


def _compress(spec: ModuleSpec, plain: bytes, extra_flags: int) -> bytes:
    pext = b"".join(e.encoded for e in spec.prefix_extensions)
    prefix_size = PREFIX_SIZE + len(pext)
    suffix_size = SUFFIX_BASE_SIZE + len(_suffix_head(spec))
    # DROP_MODULE_INFO: only the payload is compressed; otherwise the whole file (CRC included)
    drop = bool(spec.flags & ModuleFlag.DROP_MODULE_INFO)
    data = plain[prefix_size : len(plain) - suffix_size - CRC_SIZE] if drop else plain
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    stream = packer.compress(data) + packer.flush()
    header = struct.pack("<HBBI", COMPRESSED_HEADER_SIZE, 0, 0, len(data))
    tail = plain[len(plain) - suffix_size - CRC_SIZE : len(plain) - CRC_SIZE]
    total = prefix_size + len(header) + len(stream) + len(tail) + CRC_SIZE
    flags = int(spec.flags) | ModuleFlag.COMPRESSED | extra_flags
    flags |= ModuleFlag.PREFIX_EXTENSIONS if pext else 0
    body = _prefix(spec, spec.start + total - CRC_SIZE, flags) + pext + header + stream + tail
    return seal(body, bool(flags & ModuleFlag.DROP_MODULE_INFO))


def build(spec: ModuleSpec, combined_with_next: bool = False) -> bytes:
    """The bytes of one module file for `spec`."""
    _check(spec)
    extra = ModuleFlag.COMBINED if combined_with_next else 0
    if spec.compressed:
        return _compress(spec, _plain(spec, 0), extra)
    return _plain(spec, extra)


def build_combined(specs: list[ModuleSpec]) -> bytes:
    """One file holding several modules; COMBINED is set on all but the last (§1.7)."""
    if not specs:
        raise ValueError("nothing to combine")
    return b"".join(build(s, i < len(specs) - 1) for i, s in enumerate(specs))


def spec_of(module: Module) -> ModuleSpec:
    """The spec that builds `module` again (inverse of build for modules it produced)."""
    m = module.image
    body = m.data
    content_end = len(body) - m.suffix_size - CRC_SIZE
    content = body[: m.prefix_offset] + body[m.prefix_offset + m.prefix_size : content_end]
    legacy = not m.suffix_extensions
    return ModuleSpec(
        platform_id=m.platform_id,
        function=m.function,
        index=m.index,
        version=m.version,
        start=m.start,
        content=content,
        prefix_offset=m.prefix_offset,
        dependencies=m.dependencies,
        mcu_target=m.mcu_target,
        flags=m.flags & SPEC_FLAGS,
        product_id=m.product_id if legacy else None,
        product_version=m.product_version if legacy else None,
        prefix_extensions=m.prefix_extensions,
        suffix_extensions=m.suffix_extensions,
        compressed=module.inner is not None,
    )


def filler(size: int, seed: int) -> bytes:
    """Deterministic non-trivial bytes (so checksums and compression are exercised): SHAKE-256 of the seed."""
    return hashlib.shake_256(f"filler:{seed}".encode()).digest(size)


def module_spec(
    platform_name: str,
    function: ModuleFunction,
    index: int,
    version: int,
    dependencies: tuple[Dependency, ...] = (),
    size: int = 4096,
    system_version: int | None = None,
    seed: int = 0,
    **overrides: object,
) -> ModuleSpec:
    """A spec placed in the platform's slot for (function, index), with filler content."""
    plat = platforms.by_name(platform_name)
    slot = plat.slot(function, index, system_version)
    deps = tuple(dependencies) + (NO_DEPENDENCY,) * (2 - len(dependencies))
    drop = function == ModuleFunction.RADIO_STACK  # the SoftDevice is DROP_MODULE_INFO (§1.7)
    product = (plat.id, 6) if function == ModuleFunction.USER_PART else (0xFFFF, 0xFFFF)
    fields: dict[str, object] = dict(
        platform_id=plat.id,
        function=function,
        index=index,
        version=version,
        start=slot.start,
        content=filler(max(size, slot.prefix_offset), seed or version * 131 + function * 7 + index),
        prefix_offset=slot.prefix_offset,
        dependencies=(deps[0], deps[1]),
        flags=ModuleFlag.DROP_MODULE_INFO if drop else ModuleFlag.NONE,
        product_id=None if drop else product[0],
        product_version=None if drop else product[1],
    )
    fields.update(overrides)
    spec = ModuleSpec(**fields)  # type: ignore[arg-type]
    if slot.grows_left and "start" not in overrides:  # RTL872x user parts end at the slot end
        spec = replace(spec, start=slot.end - file_size(spec))
    return spec


def file_size(spec: ModuleSpec) -> int:
    """Size of the uncompressed module file that `spec` builds."""
    pext = sum(len(e.encoded) for e in spec.prefix_extensions)
    return len(spec.content) + PREFIX_SIZE + pext + SUFFIX_BASE_SIZE + len(_suffix_head(spec)) + CRC_SIZE
