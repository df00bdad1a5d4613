"""SHA-256 and CRC-32 of a module, exactly as the Device OS build computes them (§1.6)."""

from __future__ import annotations

import hashlib
import zlib

from rig.firmware.format import CRC_SIZE, PREFIX_SIZE, SHA_TAIL, SUFFIX_BASE_SIZE


def sha_covered(data: bytes, drop_module_info: bool) -> bytes:
    """The bytes the suffix SHA-256 covers in a whole module file (CRC included in `data`)."""
    if drop_module_info:  # SoftDevice: payload only, prefix and base suffix + CRC excluded
        return data[PREFIX_SIZE : len(data) - SUFFIX_BASE_SIZE - CRC_SIZE]
    return data[: len(data) - SHA_TAIL]


def seal(body: bytes, drop_module_info: bool) -> bytes:
    """A whole module file from `body` (the file without its CRC): SHA written, CRC appended."""
    placeholder = body + bytes(CRC_SIZE)
    sha = hashlib.sha256(sha_covered(placeholder, drop_module_info)).digest()
    body = body[: len(body) - (SHA_TAIL - CRC_SIZE)] + sha + body[len(body) - 2 :]
    return body + zlib.crc32(body).to_bytes(CRC_SIZE, "big")


def crc_of(data: bytes) -> int:
    """CRC-32 (zlib/IEEE) over a whole module file except its last four bytes."""
    return zlib.crc32(data[: len(data) - CRC_SIZE])


def sha_matches(data: bytes, drop_module_info: bool) -> bool:
    """True when the stored SHA-256 matches the contents."""
    stored = data[len(data) - SHA_TAIL : len(data) - 6]
    return hashlib.sha256(sha_covered(data, drop_module_info)).digest() == stored
