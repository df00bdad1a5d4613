"""Constants of the Particle module binary format (particle-protocols.md §1)."""

from __future__ import annotations

from enum import IntEnum, IntFlag

PREFIX_SIZE = 24  # module_info_t, §1.2
SUFFIX_BASE_SIZE = 36  # reserved u16 + SHA-256 + suffix size u16, §1.5
SUFFIX_WITH_PRODUCT_SIZE = 40  # base + product id u16 + product version u16
CRC_SIZE = 4
SHA_TAIL = 38  # SHA-256 covers [0, len - 38), §1.6
COMPRESSED_HEADER_SIZE = 8  # compressed_module_header, §1.7
MIN_MODULE_SIZE = PREFIX_SIZE + SUFFIX_BASE_SIZE + CRC_SIZE
# Offsets where a module prefix may sit, in the order tried (§1.4); 0x10C is the Core's.
PREFIX_OFFSETS = (0x0, 0x200, 0x184, 0x10C)


# Nordic SoftDevice info structure (nRF5 SDK nrf_sdm.h): at SoftDevice base + 0x2000, a u32
# size word (0xFFFFFF2C), magic 0x51B1E5DB, u32 flash size, u16 FWID, then the SoftDevice id and
# version. The FWID is the radio-stack module version Device OS reports (S140 7.0.1 = 0xCA = 202,
# §6.8); verified on the real *-softdevice@*.bin files.
SD_INFO_OFFSET = 0x2000
SD_MAGIC = 0x51B1E5DB


class ModuleFunction(IntEnum):
    """module_function_t (§1.2)."""

    NONE = 0
    RESOURCE = 1
    BOOTLOADER = 2
    MONO_FIRMWARE = 3
    SYSTEM_PART = 4
    USER_PART = 5
    SETTINGS = 6
    NCP_FIRMWARE = 7
    RADIO_STACK = 8
    ASSET = 9

    @property
    def label(self) -> str:
        """Human name as particle-cli prints it."""
        return _FUNCTION_LABELS[self]

    @property
    def char(self) -> str:
        """One-letter code used by the describe JSON and the listening-mode `s` output."""
        return "nrbmsu_cat"[self.value]


_FUNCTION_LABELS = {
    ModuleFunction.NONE: "none",
    ModuleFunction.RESOURCE: "resource",
    ModuleFunction.BOOTLOADER: "bootloader",
    ModuleFunction.MONO_FIRMWARE: "monolithic firmware",
    ModuleFunction.SYSTEM_PART: "system part",
    ModuleFunction.USER_PART: "user part",
    ModuleFunction.SETTINGS: "settings",
    ModuleFunction.NCP_FIRMWARE: "NCP firmware",
    ModuleFunction.RADIO_STACK: "radio stack",
    ModuleFunction.ASSET: "asset",
}


class ModuleFlag(IntFlag):
    """module_info_flags_t (§1.7)."""

    NONE = 0
    DROP_MODULE_INFO = 0x01
    COMPRESSED = 0x02
    COMBINED = 0x04
    ENCRYPTED = 0x08
    PREFIX_EXTENSIONS = 0x10


KNOWN_FLAGS = 0x1F


class ExtensionType(IntEnum):
    """Module info extension types (TLV, §1.8)."""

    END = 0x0000
    PRODUCT_DATA = 0x0001
    DYNAMIC_LOCATION = 0x0002
    DEPENDENCY = 0x0003
    HASH = 0x0010
    NAME = 0x0011
    ASSET_DEPENDENCY = 0x0012
    SECURITY_MODE = 0x0013
    ASSET_TYPE = 0x0014
    INVALID = 0xFFFF


class ValidationFlag(IntFlag):
    """module_validation_flags_t (§1.2), used by describes and the simulator."""

    PASSED = 0
    INTEGRITY = 0x02
    DEPENDENCIES = 0x04
    RANGE = 0x08
    PLATFORM = 0x10
    PRODUCT = 0x20
    DEPENDENCIES_FULL = 0x40
