"""Read Particle firmware modules from bytes (particle-protocols.md §1).

`read_modules` is lenient about checksums and address ranges (it reports them, for `inspect`);
`parse_modules` / `parse_module` / `parse_file` are strict and raise the rig's ModuleError types.
Only the file format is checked here; device-side rules belong to the simulator and planner.
"""

from __future__ import annotations

import stat
import struct
import zlib
from dataclasses import replace
from pathlib import Path

from rig import platforms
from rig.firmware.checksum import crc_of, seal, sha_matches
from rig.firmware.format import (
    COMPRESSED_HEADER_SIZE,
    CRC_SIZE,
    KNOWN_FLAGS,
    MIN_MODULE_SIZE,
    PREFIX_OFFSETS,
    PREFIX_SIZE,
    SHA_TAIL,
    SUFFIX_BASE_SIZE,
    SUFFIX_WITH_PRODUCT_SIZE,
    ExtensionType,
    ModuleFlag,
    ModuleFunction,
)
from rig.firmware.module import (
    ChecksumError,
    Dependency,
    Extension,
    Module,
    ModuleError,
    ModuleFormatError,
    ModuleRangeError,
    NotAModuleError,
    TruncatedModuleError,
)

_PREFIX = struct.Struct("<IIBBHHBBBBHBBH")
_KNOWN_FUNCTIONS = {f.value for f in ModuleFunction}
OTA_FLAG_BYTE = b"\xa5"  # ota-flag-a5.bin (§5.7)
MAX_COMBINED = 16  # far above what Device OS applies (2, §1.7); stops runaway chains


def _header_at(data: bytes, offset: int) -> tuple[int, ...] | None:
    """The prefix fields at `offset` if they pass BVR's sanity checks (§1.4), else None.

    The module the fields describe (end - start + CRC bytes) may be longer than `data`: the
    caller tells a truncated file from a complete one.
    """
    if offset + PREFIX_SIZE > len(data):
        return None
    f = _PREFIX.unpack_from(data, offset)
    start, end, _mcu, flags, _ver, platform_id, func, _idx, d1f, d1i, d1v, d2f, d2i, d2v = f
    size = end - start + CRC_SIZE
    if not (start < end and offset + PREFIX_SIZE <= size):
        return None
    if not (flags & ModuleFlag.COMBINED) and size < len(data):
        return None
    if func == 0 or func not in _KNOWN_FUNCTIONS or flags & ~KNOWN_FLAGS:
        return None
    for df, di, dv in ((d1f, d1i, d1v), (d2f, d2i, d2v)):
        if df not in _KNOWN_FUNCTIONS or (df == 0 and (di or dv)):
            return None
    if not platforms.is_known_id(platform_id):
        return None
    return f


def _extensions(data: bytes, pos: int, stop: int, where: str, need_end: bool) -> list[Extension]:
    """TLV extensions in data[pos:stop]; stops after END (§1.8)."""
    out: list[Extension] = []
    while pos + 4 <= stop:
        ext_type, length = struct.unpack_from("<HH", data, pos)
        if ext_type == ExtensionType.INVALID:
            break
        if length < 4 or pos + length > stop:
            raise ModuleFormatError(f"A {where} extension at byte {pos} has a bad length ({length}).")
        out.append(Extension(ext_type, bytes(data[pos + 4 : pos + length])))
        pos += length
        if ext_type == ExtensionType.END:
            return out
    if need_end:
        raise ModuleFormatError(f"The {where} extensions do not end with an END extension.")
    if pos != stop:
        raise ModuleFormatError(f"The {where} extensions leave {stop - pos} stray bytes.")
    return out


def _product_from_extensions(exts: list[Extension]) -> tuple[int | None, int | None]:
    for e in exts:
        if e.type == ExtensionType.PRODUCT_DATA and len(e.body) >= 6:
            pid, pver = struct.unpack_from("<IH", e.body)
            return pid >> 16, pver
    return None, None


def _inflate(m: Module, body: bytes, name: str) -> Module:
    """The inflated module of a COMPRESSED one (layout as BVR `compressModule`)."""
    pos = m.prefix_size
    if m.prefix_offset != 0:
        raise ModuleFormatError(f"{name} is compressed but its prefix is not at offset 0.")
    hsize, method, window, usize = struct.unpack_from("<HBBI", body, pos)
    if hsize < COMPRESSED_HEADER_SIZE or method != 0 or not (window == 0 or 8 <= window <= 15):
        raise ModuleFormatError(f"{name} has an unknown compression header (method {method}).")
    stream = body[pos + hsize : len(body) - m.suffix_size - CRC_SIZE]
    try:
        inflater = zlib.decompressobj(-(window or 15))
        raw = inflater.decompress(stream, usize + 1)
    except zlib.error as exc:
        raise ModuleFormatError(f"{name}: the compressed data does not inflate ({exc}).") from None
    if len(raw) != usize or not inflater.eof:
        raise ModuleFormatError(f"{name}: the compressed data inflates to {len(raw)} bytes, not the announced {usize}.")
    flags = int(m.flags) & ~(ModuleFlag.COMPRESSED | ModuleFlag.COMBINED)
    if m.flags & ModuleFlag.DROP_MODULE_INFO:
        # prefix and suffix live outside the compressed stream: rebuild the original module
        prefix = bytearray(body[: m.prefix_size])
        tail = body[len(body) - m.suffix_size - CRC_SIZE : len(body) - CRC_SIZE]
        struct.pack_into("<I", prefix, 4, m.start + len(prefix) + len(raw) + len(tail))
        prefix[9] = flags
        raw = seal(bytes(prefix) + raw + tail, drop_module_info=True)
    inner = read_modules(raw, name)
    if len(inner) != 1 or inner[0].flags & ModuleFlag.COMPRESSED:
        raise ModuleFormatError(f"{name}: the inflated data is not one plain module.")
    return inner[0]


def _read_one(data: bytes, pos: int, name: str) -> Module:
    """The module starting at data[pos:]."""
    rest = data[pos:]
    if rest == OTA_FLAG_BYTE:
        raise NotAModuleError(
            f"{name} is the one-byte OTA flag (0xA5), not a module: it is written raw to DCT "
            "offset 1753 over DFU alt 1, never flashed as firmware."
        )
    if len(rest) < MIN_MODULE_SIZE:
        raise TruncatedModuleError(
            f"{name} is {len(rest)} bytes, too short for a module (at least {MIN_MODULE_SIZE}): the file is truncated."
        )
    cut: int | None = None  # size of a module whose header is there but whose bytes are not all there
    for offset in PREFIX_OFFSETS:
        fields = _header_at(rest, offset)
        if fields is None:
            continue
        size = fields[1] - fields[0] + CRC_SIZE
        if size <= len(rest):
            break
        cut = size if cut is None else cut
    else:
        if cut is not None:
            where = "the file" if pos == 0 else f"the module at byte {pos}"
            raise TruncatedModuleError(
                f"{name} is truncated: {where} has {len(rest)} of the {cut} bytes its module header "
                f"describes ({cut - len(rest)} bytes missing); download it again."
            )
        raise NotAModuleError(
            f"{name} has no Particle module header at offset "
            f"{', '.join(hex(o) for o in PREFIX_OFFSETS)} (truncated, or not Device OS firmware)."
        )
    start, end, mcu, flags, version, platform_id, func, idx, d1f, d1i, d1v, d2f, d2i, d2v = fields
    body = bytes(rest[: end - start + CRC_SIZE])
    pext: list[Extension] = []
    prefix_end = offset + PREFIX_SIZE
    suffix_size = struct.unpack_from("<H", body, len(body) - 6)[0]
    suffix_start = len(body) - CRC_SIZE - suffix_size
    if flags & ModuleFlag.PREFIX_EXTENSIONS:
        pext = _extensions(body, prefix_end, suffix_start, "prefix", need_end=True)
        prefix_end += sum(len(e.encoded) for e in pext)
    if (
        suffix_size < SUFFIX_BASE_SIZE
        or suffix_start < prefix_end
        or (SUFFIX_BASE_SIZE < suffix_size < SUFFIX_WITH_PRODUCT_SIZE)
    ):
        raise ModuleFormatError(f"{name} has an impossible suffix size ({suffix_size} bytes).")
    sext: list[Extension] = []
    product: tuple[int | None, int | None] = (None, None)
    if suffix_size == SUFFIX_WITH_PRODUCT_SIZE:
        product = struct.unpack_from("<HH", body, suffix_start)
    elif suffix_size > SUFFIX_WITH_PRODUCT_SIZE:
        sext = _extensions(body, suffix_start, len(body) - 40, "suffix", need_end=False)
        product = _product_from_extensions(sext)
    sha = body[len(body) - SHA_TAIL : len(body) - 6]
    stored_crc = int.from_bytes(body[-4:], "big")
    module = Module(
        platform_id=platform_id,
        function=ModuleFunction(func),
        index=idx,
        version=version,
        start=start,
        end=end,
        flags=ModuleFlag(flags),
        mcu_target=mcu,
        dependencies=(
            Dependency(ModuleFunction(d1f), d1i, d1v),
            Dependency(ModuleFunction(d2f), d2i, d2v),
        ),
        prefix_offset=offset,
        prefix_extensions=tuple(pext),
        suffix_extensions=tuple(sext),
        product_id=product[0],
        product_version=product[1],
        suffix_size=suffix_size,
        sha256=sha,
        stored_crc=stored_crc,
        crc_ok=crc_of(body) == stored_crc,
        sha_ok=sha_matches(body, bool(flags & ModuleFlag.DROP_MODULE_INFO)),
        data=body,
    )
    if flags & ModuleFlag.COMPRESSED:
        inner = _inflate(module, body, name)
        hsize_usize = struct.unpack_from("<I", body, module.prefix_size + 4)[0]
        module = replace(module, inner=inner, uncompressed_size=hsize_usize)
    return module


def read_modules(data: bytes, name: str = "the file") -> list[Module]:
    """Every module in `data` (combined files hold several); checksums reported, not enforced."""
    modules: list[Module] = []
    pos = 0
    while True:
        try:
            m = _read_one(data, pos, name)
        except (struct.error, IndexError, ValueError) as exc:  # defensive: never a traceback
            raise ModuleFormatError(f"{name} is malformed at byte {pos} ({exc}).") from None
        modules.append(m)
        pos += m.size
        if not m.combined:
            break
        if len(modules) >= MAX_COMBINED:
            raise ModuleFormatError(f"{name} chains more than {MAX_COMBINED} combined modules.")
        if pos >= len(data):
            raise TruncatedModuleError(f"{name} says another combined module follows, but the file ends at byte {pos}.")
    if pos != len(data):
        raise ModuleFormatError(f"{name} has {len(data) - pos} stray bytes after its last module.")
    return modules


def problems(m: Module, name: str = "the module") -> list[ModuleError]:
    """What makes a structurally sound module unusable: checksums and address range."""
    found: list[ModuleError] = []
    if not m.crc_ok:
        computed = zlib.crc32(m.data[:-4])
        found.append(
            ChecksumError(
                f"{name}: CRC-32 mismatch (stored {m.stored_crc:08x}, computed {computed:08x}); "
                "the file is corrupt: download it again."
            )
        )
    elif not m.sha_ok:
        found.append(
            ChecksumError(f"{name}: the SHA-256 in the suffix does not match the contents; the file was altered.")
        )
    image = m.image
    plat = platforms.by_id(m.platform_id)
    slots = plat.slots_for(image.function, image.index)
    if not slots:
        found.append(
            ModuleRangeError(f"{name}: the {plat.display_name} has no {image.function.label} with index {image.index}.")
        )
    elif not any(s.contains(image.start, image.end) for s in slots):
        found.append(
            ModuleRangeError(
                f"{name}: address range 0x{image.start:x}-0x{image.end:x} does not fit the "
                f"{plat.display_name}'s {image.function.label} {image.index} slot "
                f"(0x{slots[0].start:x}-0x{slots[0].end:x})."
            )
        )
    if m.inner is not None:
        found += problems(m.inner, name)
    return found


def parse_modules(data: bytes, name: str = "the file") -> list[Module]:
    """Every module in `data`, raising the first ModuleError if any module is unusable."""
    modules = read_modules(data, name)
    for m in modules:
        bad = problems(m, name)
        if bad:
            raise bad[0]
    return modules


def parse_module(data: bytes, name: str = "the file") -> Module:
    """Exactly one usable module from `data`."""
    modules = parse_modules(data, name)
    if len(modules) != 1:
        raise ModuleFormatError(f"{name} combines {len(modules)} modules; give one module.")
    return modules[0]


MAX_FILE_BYTES = 64 * 1024 * 1024  # far above any firmware file (a whole Tracker release is ~2 MB)


def read_file(path: Path) -> bytes:
    """The bytes of a firmware file, with a one-sentence error when unreadable; a FIFO, a device or a
    socket is refused before it is opened (reading one could block for ever).
    """
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode) and not stat.S_ISDIR(info.st_mode):
            raise ModuleError(f"{path} is not a regular file (a pipe, a device or a socket); pass a firmware file.")
        if info.st_size > MAX_FILE_BYTES:
            raise ModuleError(f"{path} is {info.st_size} bytes, far larger than any firmware file.")
        return path.read_bytes()
    except FileNotFoundError:
        raise ModuleError(f"{path}: no such file; check the path.") from None
    except IsADirectoryError:
        raise ModuleError(f"{path} is a directory, not a firmware file.") from None
    except OSError as exc:
        raise ModuleError(f"{path} cannot be read ({exc.strerror}); check its permissions.") from None


def parse_file(path: Path) -> list[Module]:
    """Every module of a firmware file, strictly checked."""
    return parse_modules(read_file(path), path.name)
