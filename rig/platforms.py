"""The one table of Particle platform facts: ids, USB ids, flash maps, DFU alts, parts, paths.

Every fact comes from docs/protocols.md §2 (identity §2.1, Gen 2 maps §2.2,
Gen 3 maps §2.3, Gen 4 §2.4, DFU alts §2.5, DCT §2.6) and §1.3/§1.4 (module indices, prefix
offsets). Nothing else in the rig hard-codes these numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rig.errors import RigError
from rig.firmware.format import ModuleFunction as F
from rig.methods import ALL_METHODS

PARTICLE_VID = 0x2B04
# Device OS 3.1.0 moved the Gen 3 user part (§2.3); system-part module version of 3.1.0.
GEN3_USER_PART_MOVE = 3103


class UnknownPlatformError(RigError):
    """A platform name or id that is not in the table."""


@dataclass(frozen=True)
class Slot:
    """Where one module (function, index) lives on a platform."""

    function: F
    index: int
    start: int
    end: int  # exclusive upper bound of the region
    prefix_offset: int  # where the module prefix sits in files for this slot (§1.4)
    asset: str  # release asset stem, e.g. "system-part1" (Electron names lie, §1.10)
    storage: str = "internal"  # internal | external | ncp
    since: int | None = None  # first system-part module version that uses this slot
    until: int | None = None  # first system-part module version that no longer uses it
    grows_left: bool = False  # RTL872x user parts end at `end` (§2.4)

    def used_with(self, system_version: int) -> bool:
        """True when a Device OS with this system-part module version uses the slot."""
        return (self.since is None or system_version >= self.since) and (
            self.until is None or system_version < self.until
        )

    def contains(self, start: int, end: int) -> bool:
        """True when [start, end) lies inside the slot."""
        return self.start <= start < end <= self.end


@dataclass(frozen=True)
class Region:
    """A flash region addressed through one DFU alt setting."""

    start: int
    end: int
    dfu_alt: int
    dfu_address: int  # address as written over DFU (external flash adds 0x80000000)


@dataclass(frozen=True)
class DfuAlt:
    """One DFU alt setting and its DfuSe memory-map string (§2.5)."""

    alt: int
    memory_map: str


@dataclass(frozen=True)
class Platform:
    """Everything the rig knows about one platform."""

    id: int
    name: str  # the rig's and the release assets' name, e.g. "bsom"
    display_name: str
    generation: int
    mcu: str
    family: str  # stm32f1 | stm32f2 | nrf52840 | rtl872x: selects the flash map
    usb_vid: int
    usb_pid: int  # normal / listening mode (CDC)
    dfu_pid: int
    slots: tuple[Slot, ...]
    ota_region: Region | None
    factory_app: int | None  # factory app address (DC `factoryReset`), raw flash address
    dfu_alts: tuple[DfuAlt, ...]
    dct_alt: int | None  # DFU alt of the DCT; offsets below are into the DCT record
    ota_flag_offset: int | None  # DCT ota_update_flag (0xA5 = apply OTA region), §2.6
    setup_done_offset: int | None  # DCT setup_done byte, Gen 3 only (§6.10)
    external_flash_size: int = 0
    ncp_id: int | None = None  # NCP identifier of an updatable NCP (§1.9); ESP32 = 0x21
    bootloader_embedded: bool = False  # system parts re-flash the bootloader at boot (§6.7)
    system_part_count: int = 1
    methods: frozenset[str] = field(default_factory=lambda: ALL_METHODS)
    flashable: bool = True

    @property
    def has_softdevice(self) -> bool:
        """True on Gen 3 nRF52840 parts, which carry a Nordic SoftDevice (radio stack)."""
        return any(s.function == F.RADIO_STACK for s in self.slots)

    @property
    def has_ncp(self) -> bool:
        """True when the platform has an updatable network co-processor."""
        return self.ncp_id is not None

    def slots_for(self, function: int, index: int) -> tuple[Slot, ...]:
        """All slots of one (function, index); several when a slot moved between releases."""
        return tuple(s for s in self.slots if s.function == function and s.index == index)

    def slot(self, function: int, index: int, system_version: int | None = None) -> Slot:
        """The slot of (function, index), for a given Device OS when the slot moved."""
        found = [s for s in self.slots_for(function, index) if system_version is None or s.used_with(system_version)]
        if not found:
            raise UnknownPlatformError(f"{self.display_name} has no module slot for {F(function).label} index {index}.")
        return found[-1]

    def user_slot(self, system_version: int) -> Slot:
        """The user-part slot used by a Device OS with this system-part module version."""
        for s in self.slots:
            if s.function == F.USER_PART and s.used_with(system_version):
                return s
        raise UnknownPlatformError(f"{self.display_name} has no user-part slot.")

    def dfu_alt(self, alt: int) -> DfuAlt:
        """The DFU alt setting `alt`."""
        for a in self.dfu_alts:
            if a.alt == alt:
                return a
        raise UnknownPlatformError(f"{self.display_name} has no DFU alt setting {alt}.")


# ---- building blocks ----------------------------------------------------------------------

# Memory maps exactly as the bootloaders send them, three spaces before the address (v2.3.1
# platform/MCU/STM32F2xx/STM32_USB_Device_Driver/inc/usbd_flash_if.h, usbd_dct_if.h; v5.9.0
# bootloader/src/nRF52840/usbd_dfu_mal.h; §5.8). nRF52840 bootloaders before 5.0.1 name alt 1
# "DCD Flash" (§5.9).
_GEN2_INTERNAL = "@Internal Flash   /0x08000000/03*016Ka,01*016Kg,01*064Kg,07*128Kg"
_GEN2_DCT = "@DCT Flash   /0x00000000/01*016Kg"
_P1_SERIAL = "@Serial Flash   /0x00000000/256*004Kg"
_GEN3_INTERNAL = "@Internal Flash   /0x00000000/1*004Ka,47*004Kg,192*004Kg,4*004Kg,4*004Kg,8*004Ka"
_GEN3_DCT = "@DCT Flash   /0x00000000/1*016Ke"
# RTL872x: only alt 0 is known (§2.4); the sector layout below (MBR + bootloader read-only) is
# an assumption, not verified against the RTL bootloader (§9).
_RTL_INTERNAL = "@Internal Flash /0x08000000/20*004Ka,1516*004Kg"

EXTERNAL_DFU_BASE = 0x80000000
_GEN3_OTA_SIZE = 1500 * 1024  # §2.3: 1500 KB at the end of external flash


def _gen2_slots(electron: bool) -> tuple[Slot, ...]:
    boot = Slot(F.BOOTLOADER, 0, 0x08000000, 0x08004000, 0x184, "bootloader")
    if electron:  # §2.2: index 1/2/3 live in files system-part2/3/1
        return (
            boot,
            Slot(F.SYSTEM_PART, 1, 0x08020000, 0x08040000, 0x184, "system-part2"),
            Slot(F.SYSTEM_PART, 2, 0x08040000, 0x08060000, 0x184, "system-part3"),
            Slot(F.SYSTEM_PART, 3, 0x08060000, 0x08080000, 0x0, "system-part1"),
            Slot(F.USER_PART, 1, 0x08080000, 0x080A0000, 0x0, "tinker"),
        )
    return (
        boot,
        Slot(F.SYSTEM_PART, 1, 0x08020000, 0x08060000, 0x184, "system-part1"),
        Slot(F.SYSTEM_PART, 2, 0x08060000, 0x080A0000, 0x184, "system-part2"),
        Slot(F.USER_PART, 1, 0x080A0000, 0x080C0000, 0x0, "tinker"),
    )


def _gen2(pid: int, name: str, display: str, electron: bool = False) -> Platform:
    alts = [DfuAlt(0, _GEN2_INTERNAL), DfuAlt(1, _GEN2_DCT)]
    if name == "p1":
        alts.append(DfuAlt(2, _P1_SERIAL))
    ota_end = 0x080E0000 if electron else 0x08100000
    return Platform(
        id=pid,
        name=name,
        display_name=display,
        generation=2,
        mcu="STM32F205",
        family="stm32f2",
        usb_vid=PARTICLE_VID,
        usb_pid=0xC000 + pid,
        dfu_pid=0xD000 + pid,
        slots=_gen2_slots(electron),
        ota_region=Region(0x080C0000, ota_end, 0, 0x080C0000),
        factory_app=0x080A0000 if electron else 0x080E0000,
        dfu_alts=tuple(alts),
        dct_alt=1,
        ota_flag_offset=1753,
        setup_done_offset=None,
        external_flash_size=1024 * 1024 if name == "p1" else 0,
        bootloader_embedded=electron,
        system_part_count=3 if electron else 2,
    )


def _gen3(
    pid: int,
    name: str,
    display: str,
    flash_mb: int = 4,
    ncp: bool = False,
    big_user: bool = True,
) -> Platform:
    move = GEN3_USER_PART_MOVE if big_user else None
    slots = [
        Slot(F.RADIO_STACK, 0, 0x01000, 0x30000, 0x0, "softdevice"),
        Slot(F.SYSTEM_PART, 1, 0x30000, 0xD4000, 0x200, "system-part1", until=move),
        Slot(F.USER_PART, 1, 0xD4000, 0xF4000, 0x0, "tinker", until=move),
    ]
    if big_user:  # Device OS >= 3.1.0: 256 KB user part at 0xB4000, index 2 (§2.3)
        slots += [
            Slot(F.SYSTEM_PART, 1, 0x30000, 0xB4000, 0x200, "system-part1", since=move),
            Slot(F.USER_PART, 2, 0xB4000, 0xF4000, 0x0, "tinker", since=move),
        ]
    slots.append(Slot(F.BOOTLOADER, 0, 0xF4000, 0x100000, 0x200, "bootloader"))
    if ncp:  # the NCP image goes through the OTA region to the ESP32 (§1.9); no flash address
        slots.append(Slot(F.NCP_FIRMWARE, 0, 0x0, 0x100000000, 0x0, "ncp", storage="ncp"))
    ext = flash_mb * 1024 * 1024
    ota_start = ext - _GEN3_OTA_SIZE
    return Platform(
        id=pid,
        name=name,
        display_name=display,
        generation=3,
        mcu="nRF52840",
        family="nrf52840",
        usb_vid=PARTICLE_VID,
        usb_pid=0xC000 + pid,
        dfu_pid=0xD000 + pid,
        slots=tuple(slots),
        ota_region=Region(ota_start, ext, 2, EXTERNAL_DFU_BASE + ota_start),
        factory_app=0x600000 if flash_mb == 8 else 0x200000,
        dfu_alts=(
            DfuAlt(0, _GEN3_INTERNAL),
            DfuAlt(1, _GEN3_DCT),
            DfuAlt(2, f"@External Flash   /0x80000000/{ext // 4096}*004Kg"),
        ),
        dct_alt=1,
        ota_flag_offset=1753,
        setup_done_offset=8134,
        external_flash_size=ext,
        ncp_id=0x21 if ncp else None,
    )


def _rtl(pid: int, name: str, display: str, generation: int = 4) -> Platform:
    # §2.4; prefix offsets of RTL872x bootloaders and system parts are not documented there.
    slots = (
        Slot(F.BOOTLOADER, 1, 0x08000000, 0x08002000, 0x0, "prebootloader-mbr"),
        Slot(F.BOOTLOADER, 0, 0x08004000, 0x08014000, 0x0, "bootloader"),
        Slot(F.BOOTLOADER, 2, 0x08014000, 0x0805E000, 0x0, "prebootloader-part1"),
        Slot(F.SYSTEM_PART, 1, 0x08060000, 0x081E0000, 0x0, "system-part1"),
        Slot(F.USER_PART, 1, 0x08480000, 0x08600000, 0x0, "tinker", grows_left=True),
    )
    return Platform(
        id=pid,
        name=name,
        display_name=display,
        generation=generation,
        mcu="RTL872x",
        family="rtl872x",
        usb_vid=PARTICLE_VID,
        usb_pid=0xC000 + pid,
        dfu_pid=0xD000 + pid,
        slots=slots,
        ota_region=Region(0x08260000, 0x083E0000, 0, 0x08260000),
        factory_app=None,
        dfu_alts=(DfuAlt(0, _RTL_INTERNAL),),
        dct_alt=None,
        ota_flag_offset=None,
        setup_done_offset=None,
        # no bundled restore image flow for RTL872x in the seed: DFU, usb, OTA, CLI paths only
        methods=frozenset({"dfu", "usb", "ota", "particle-update", "particle-cli", "swd"}),
    )


_CORE = Platform(
    id=0,
    name="core",
    display_name="Core",
    generation=1,
    mcu="STM32F103",
    family="stm32f1",
    usb_vid=0x1D50,
    usb_pid=0x607D,
    dfu_pid=0x607F,
    slots=(
        Slot(F.BOOTLOADER, 0, 0x08000000, 0x08005000, 0x0, "bootloader"),
        Slot(F.MONO_FIRMWARE, 0, 0x08005000, 0x08020000, 0x10C, "firmware"),
    ),
    ota_region=None,
    factory_app=None,
    dfu_alts=(),
    dct_alt=None,
    ota_flag_offset=None,
    setup_done_offset=None,
    methods=frozenset(),
    flashable=False,  # historic: parsed, never flashed (shared/firmware/README.md)
)

PLATFORMS: tuple[Platform, ...] = (
    _CORE,
    _gen2(6, "photon", "Photon"),
    _gen2(8, "p1", "P1"),
    _gen2(10, "electron", "Electron", electron=True),
    _gen3(12, "argon", "Argon", ncp=True),
    _gen3(13, "boron", "Boron"),
    _gen3(14, "xenon", "Xenon", big_user=False),
    _gen3(15, "esomx", "E SoM X"),
    _gen3(22, "asom", "A SoM", ncp=True, big_user=False),
    _gen3(23, "bsom", "B SoM"),
    _gen3(24, "xsom", "X SoM", big_user=False),
    _gen3(25, "b5som", "B5 SoM", flash_mb=8),
    _gen3(26, "tracker", "Tracker", flash_mb=8, ncp=True),
    _rtl(28, "trackerm", "Tracker M", generation=3),
    _rtl(32, "p2", "P2"),
    _rtl(35, "msom", "M SoM"),
    _gen3(37, "electron2", "Electron 2"),
    _rtl(38, "sulu", "Sulu"),
)

_BY_ID = {p.id: p for p in PLATFORMS}
_BY_NAME = {p.name: p for p in PLATFORMS}
# Common spellings people type; the canonical name is the release-asset one.
_ALIASES = {
    "e-series": "electron",
    "eseries": "electron",
    "b-som": "bsom",
    "b5-som": "b5som",
    "photon2": "p2",
    "a-som": "asom",
    "x-som": "xsom",
    "e-som-x": "esomx",
    "m-som": "msom",
}


def by_id(platform_id: int) -> Platform:
    """The platform with this numeric id."""
    try:
        return _BY_ID[platform_id]
    except KeyError:
        raise UnknownPlatformError(f"Platform id {platform_id} is not a known Particle platform.") from None


def is_known_id(platform_id: int) -> bool:
    """True when the id is in the table."""
    return platform_id in _BY_ID


def by_name(name: str) -> Platform:
    """The platform with this name (case-insensitive; a few aliases accepted)."""
    key = name.strip().lower().replace(" ", "")
    key = _ALIASES.get(key, key)
    try:
        return _BY_NAME[key]
    except KeyError:
        known = ", ".join(sorted(_BY_NAME))
        raise UnknownPlatformError(f"Unknown platform '{name}': use one of {known}.") from None


def by_usb_id(vid: int, pid: int) -> tuple[Platform, bool]:
    """(platform, in_dfu_mode) for a USB vendor/product id pair."""
    for p in PLATFORMS:
        if p.usb_vid == vid and pid in (p.usb_pid, p.dfu_pid):
            return p, pid == p.dfu_pid
    raise UnknownPlatformError(f"USB id {vid:04x}:{pid:04x} is not a Particle device.")
