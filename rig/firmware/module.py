"""What a parsed Particle firmware module is, and the errors that reading one can raise."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from rig import platforms
from rig.errors import RigError
from rig.firmware.format import PREFIX_SIZE, ExtensionType, ModuleFlag, ModuleFunction


class ModuleError(RigError):
    """A file is not a usable Particle firmware module."""


class NotAModuleError(ModuleError):
    """The bytes do not contain a Particle module header at all."""


class TruncatedModuleError(ModuleError):
    """The header promises more bytes than the file has."""


class ModuleFormatError(ModuleError):
    """The module header is there but some structure in it is malformed."""


class ChecksumError(ModuleError):
    """The stored CRC-32 or SHA-256 does not match the bytes."""


class ModuleRangeError(ModuleError):
    """The module's address range does not fit any slot of its platform."""


@dataclass(frozen=True)
class Dependency:
    """One dependency slot of a module prefix: function, index and minimum version."""

    function: ModuleFunction
    index: int
    version: int

    @property
    def empty(self) -> bool:
        """True for an unused dependency slot (function NONE)."""
        return self.function == ModuleFunction.NONE

    def __str__(self) -> str:
        return f"{self.function.label} {self.index} >= {self.version}"


NO_DEPENDENCY = Dependency(ModuleFunction.NONE, 0, 0)


@dataclass(frozen=True)
class Extension:
    """One TLV module-info extension (§1.8); `body` excludes the 4-byte type/length header."""

    type: int
    body: bytes

    @property
    def encoded(self) -> bytes:
        """The extension as stored: u16 type, u16 total length, body."""
        return struct.pack("<HH", self.type, len(self.body) + 4) + self.body

    @property
    def name(self) -> str:
        """The extension type's name, or its number when unknown."""
        try:
            return ExtensionType(self.type).name
        except ValueError:
            return f"0x{self.type:04x}"


def product_data_extension(product_id: int, product_version: int) -> Extension:
    """A PRODUCT_DATA extension: u32 id with the 16-bit id in the high half (§1.5)."""
    return Extension(ExtensionType.PRODUCT_DATA, struct.pack("<IH", (product_id << 16) | 0xFFFF, product_version))


@dataclass(frozen=True)
class Module:
    """One parsed firmware module; `data` is exactly its bytes in the file (with CRC)."""

    platform_id: int
    function: ModuleFunction
    index: int
    version: int
    start: int
    end: int
    flags: ModuleFlag
    mcu_target: int
    dependencies: tuple[Dependency, Dependency]
    prefix_offset: int
    prefix_extensions: tuple[Extension, ...]
    suffix_extensions: tuple[Extension, ...]
    product_id: int | None
    product_version: int | None
    suffix_size: int
    sha256: bytes
    stored_crc: int
    crc_ok: bool
    sha_ok: bool
    data: bytes = field(repr=False)
    # Compressed modules: the inflated module (its flash image) and the announced size.
    inner: Module | None = field(default=None, repr=False)
    uncompressed_size: int | None = None

    @property
    def platform(self) -> platforms.Platform:
        """The platform the module was built for."""
        return platforms.by_id(self.platform_id)

    @property
    def size(self) -> int:
        """Bytes of the module in its file, CRC included."""
        return len(self.data)

    @property
    def real_dependencies(self) -> tuple[Dependency, ...]:
        """The non-empty dependency slots, in slot order."""
        return tuple(d for d in self.dependencies if not d.empty)

    @property
    def image(self) -> Module:
        """The module as it ends up in flash: the inflated one for a compressed module."""
        return self.inner if self.inner is not None else self

    @property
    def flash_data(self) -> bytes:
        """The bytes as they sit in flash: a DROP_MODULE_INFO module (the SoftDevice) leaves its
        Particle prefix behind (§1.7).
        """
        return self.data[PREFIX_SIZE:] if self.flags & ModuleFlag.DROP_MODULE_INFO else self.data

    @property
    def combined(self) -> bool:
        """True when another module follows this one in the same file."""
        return bool(self.flags & ModuleFlag.COMBINED)

    @property
    def prefix_size(self) -> int:
        """Bytes of the prefix including its extensions (END included)."""
        return 24 + sum(len(e.encoded) for e in self.prefix_extensions)

    def key(self) -> tuple[int, ModuleFunction, int]:
        """(platform id, function, index): what a module replaces on a board."""
        return (self.platform_id, self.function, self.index)

    def describe(self) -> str:
        """One line: platform, kind, index and version."""
        name = self.platform.display_name if platforms.is_known_id(self.platform_id) else "?"
        return f"{name} {self.function.label} {self.index} v{self.version}"

    def satisfies(self, dep: Dependency) -> bool:
        """True when this module meets a dependency (same function and index, version >=)."""
        return self.function == dep.function and self.index == dep.index and self.version >= dep.version
