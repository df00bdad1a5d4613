"""One simulated Particle board: flash as bytes, modes, the boot sequence and firmware updates.

Boot (particle-protocols §6.11): the bootloader applies pending module slots, falls back to DFU
when the system firmware cannot run, the system re-flashes the Electron's embedded bootloader
(§6.7), applies the OTA region when the DCT OTA flag is 0xA5 (§5.6), validates the system part
that carries the bootloader dependency and the user part (§6.1) -> normal or safe mode; Gen 3
below 4.0.0 without setup done boots into listening mode (§6.10).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from rig import platforms, timing
from rig.board_settings import BoardSettings, Faults
from rig.firmware import synthetic, versions
from rig.firmware.format import ModuleFunction as F
from rig.firmware.module import Module
from rig.sim import installed as inst
from rig.sim import ota
from rig.sim.clock import SimClock, Timer
from rig.sim.installed_cache import InstalledCache
from rig.sim.memory import Memory, memory_for
from rig.sim.ota import UpdateSession

DOS_4_0_0 = versions.module_version("4.0.0")
DOS_6_0_0 = versions.module_version("6.0.0")


class Mode(StrEnum):
    """What the board is doing, as a user would see it."""

    OFF = "off"
    BOOTING = "booting"
    NORMAL = "normal"
    LISTENING = "listening"
    DFU = "dfu"
    SAFE = "safe"
    SAFE_LISTENING = "safe-listening"
    DEAD = "dead"  # no valid bootloader: nothing on USB


CDC_MODES = {Mode.NORMAL, Mode.LISTENING, Mode.SAFE, Mode.SAFE_LISTENING}


@dataclass
class Board:
    """A simulated board; every method is called with the lab lock (clock.lock) held."""

    clock: SimClock
    platform: platforms.Platform
    device_id: str
    settings: BoardSettings = field(default_factory=BoardSettings)
    memory: Memory | None = None
    mode: Mode = Mode.OFF
    powered: bool = False
    usb_generation: int = 0
    backup_request: str | None = None  # "dfu" / "safe": survives a reset, not a power loss
    listen_flag: bool = False
    reset_when_listening_ends: str | None = None  # Device OS < 2.0 after a rejected serial image
    pending: list[Module] = field(default_factory=list)
    ncp_version: int | None = None
    update: UpdateSession | None = None
    faults: Faults = field(default_factory=Faults)
    log: list[tuple[float, str]] = field(default_factory=list)
    bytes_received: int = 0
    modem_ready_at: float = 0.0
    boots: int = 0
    cost: float = 0.0  # modelled seconds of work done but not yet waited for (see spend)
    listeners: list[Callable[[Board], None]] = field(default_factory=list)
    _timer: Timer | None = None
    _charge: bool = True
    _known: InstalledCache = field(default_factory=InstalledCache, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.device_id = self.device_id.lower()
        if self.memory is None:
            self.memory = memory_for(self.platform)
        if self.ncp_version is None:
            self.ncp_version = self.settings.ncp_version
        if self.platform.setup_done_offset is not None and self.settings.setup_done:
            self.dct_write(self.platform.setup_done_offset, b"\x01")

    # ---- observation ----------------------------------------------------------------------

    @property
    def mem(self) -> Memory:
        """The board's flash (always set after construction)."""
        assert self.memory is not None
        return self.memory

    def note(self, text: str) -> None:
        """Append to the board's event log."""
        self.log.append((self.clock.now(), text))

    def installed(self) -> list[inst.Installed]:
        """Modules present in flash now, with validity (slots re-parsed only after a write or erase touched them)."""
        return self._known.installed(self.platform, self.mem, self.ncp_version)

    def system_module_version(self) -> int | None:
        """Version of system part 1, the Device OS this board runs."""
        part = inst.find(self.installed(), F.SYSTEM_PART, 1)
        return part.version if part else None

    def bootloader_version(self) -> int:
        """Module version of the installed bootloader (0 when there is none)."""
        return next((m.version for m in self.installed() if m.function == F.BOOTLOADER and m.index == 0), 0)

    def system_version(self) -> str:
        """Device OS version string, as control request 30 and `v` report it."""
        v = self.system_module_version()
        return (versions.device_os_or_none(v) or f"0.0.0-module.{v}") if v is not None else "0.0.0"

    @property
    def usb_present(self) -> bool:
        """True when the board is enumerated on USB."""
        return self.powered and self.mode in (CDC_MODES | {Mode.DFU})

    @property
    def cdc_present(self) -> bool:
        """True when the board's USB serial port exists."""
        return self.powered and self.mode in CDC_MODES

    @property
    def usb_product_id(self) -> int:
        """DFU or CDC product id, by mode (§2.1)."""
        return self.platform.dfu_pid if self.mode == Mode.DFU else self.platform.usb_pid

    @property
    def usb_serial_number(self) -> str:
        """iSerialNumber: the device id in lower case, in every mode (§2.1)."""
        return self.device_id

    @property
    def listening(self) -> bool:
        """True in listening mode (normal or safe)."""
        return self.mode in (Mode.LISTENING, Mode.SAFE_LISTENING)

    def dct_read(self, offset: int, length: int) -> bytes:
        """DCT bytes (alt 1 offsets)."""
        return self.mem.dct.read(offset, length)

    def dct_write(self, offset: int, data: bytes) -> None:
        """Set DCT bytes (the system erases and rewrites the record; modelled as a direct set)."""
        self.mem.dct.write_raw(offset, data)

    def spend(self, seconds: float) -> None:
        """Account for work that takes modelled time; the caller decides when it completes."""
        self.cost += seconds

    def take_cost(self) -> float:
        """The modelled seconds spent since the last call."""
        cost, self.cost = self.cost, 0.0
        return cost

    def _changed(self) -> None:
        for listener in list(self.listeners):
            listener(self)

    # ---- power and resets -----------------------------------------------------------------

    def _set_mode(self, mode: Mode) -> None:
        on_usb = CDC_MODES | {Mode.DFU}
        if mode in on_usb and self.mode not in on_usb:
            self.usb_generation += 1  # every enumeration gets a new USB address
        self.mode = mode
        self.note(f"mode {mode}")
        self._changed()

    def received(self, nbytes: int) -> bool:
        """Count bytes from the host; returns False when an injected fault just took the board away
        (disconnect = a power glitch, early reboot = a spontaneous reset).
        """
        self.bytes_received += nbytes
        f = self.faults
        if f.later_after_bytes is not None and self.bytes_received >= f.later_after_bytes:
            f.later_after_bytes = None
            for name, value in f.later.items():
                setattr(f, name, value)
            self.note(f"fault: {', '.join(sorted(f.later))} from now on")
            f.later = {}
        if f.disconnect_after_bytes is not None and self.bytes_received >= f.disconnect_after_bytes:
            f.disconnect_after_bytes = None
            self.note("fault: disconnected in the middle of a transfer")
            self.reset("USB disconnect (power glitch)")
            return False
        if f.early_reboot_after_bytes is not None and self.bytes_received >= f.early_reboot_after_bytes:
            f.early_reboot_after_bytes = None
            self.note("fault: early reboot in the middle of a transfer")
            self.reset("early reboot")
            return False
        return True

    def enter(self, mode: Mode) -> None:
        """Switch mode without a reset (listening mode on and off)."""
        self._set_mode(mode)

    def leave_listening(self) -> None:
        """Listening mode ends ('x', STOP_LISTENING): back to the app, or the reset left pending."""
        if self.reset_when_listening_ends:
            self.reset(self.reset_when_listening_ends, delay=0.1)
        else:
            self.enter(Mode.SAFE if self.mode == Mode.SAFE_LISTENING else Mode.NORMAL)

    def power_off(self) -> None:
        """The hub port cuts power (unless the port is faulty)."""
        if self.faults.port_keeps_power:
            self.note("hub port switched off but the board keeps power")
            return
        if self._timer:
            self._timer.cancel()
        self.powered = False
        self.backup_request = None
        self.update = None
        self._set_mode(Mode.OFF)

    def power_on(self) -> None:
        """Power applied: boot."""
        if self.powered:
            return
        self.powered = True
        self.reset("power on", delay=0.0)

    def reset(self, reason: str, delay: float = 0.0, into: str | None = None) -> None:
        """Reset after `delay` seconds (into 'dfu' or 'safe' via the backup register)."""

        def go() -> None:
            if not self.powered:
                return
            if into:
                self.backup_request = into
            self.update = None
            self.reset_when_listening_ends = None
            self.note(f"reset: {reason}")
            self._set_mode(Mode.BOOTING)
            if self.faults.stuck:
                self.note("stuck: never comes back")
                return
            to_dfu = self.backup_request == "dfu"
            self._timer = self.clock.schedule(timing.BOOT_TO_DFU if to_dfu else timing.BOOT_TO_SYSTEM, self.boot)

        if self._timer:
            self._timer.cancel()
        if delay <= 0:
            go()
        else:
            self._timer = self.clock.schedule(delay, go)

    # ---- boot -----------------------------------------------------------------------------

    def boot(self, charge_time: bool = True) -> None:
        """Run the boot sequence and settle in a mode (§6.11); charge_time=False for a board that
        is already running when the lab starts.
        """
        self._timer = None
        self._charge = charge_time
        self.boots += 1
        if inst.find(self.installed(), F.BOOTLOADER, 0) is None and self.platform.family != "rtl872x":
            self._set_mode(Mode.DEAD)
            return
        if self.backup_request == "dfu":
            self.backup_request = None
            self._set_mode(Mode.DFU)
            return
        self._apply_pending()
        found = self.installed()
        if not self._system_runnable(found):
            self.note("system firmware missing or corrupt: bootloader falls back to DFU mode")
            self._settle(Mode.DFU)
            return
        if self.platform.bootloader_embedded and self._refresh_embedded_bootloader(found):
            found = self.installed()
        if ota.apply_ota_flag(self, found):
            self.reset("update applied (OTA flag)", delay=self.take_cost())
            return
        safe = self.backup_request == "safe" or self.listen_flag or not self._modules_valid(found)
        self.backup_request = None
        sysver = self.system_module_version() or 0
        listen = self.listen_flag or (
            self.platform.setup_done_offset is not None
            and sysver < DOS_4_0_0
            and self.dct_read(self.platform.setup_done_offset, 1) != b"\x01"
        )
        self.listen_flag = False
        if self.settings.imei and self._charge:
            self.modem_ready_at = self.clock.now() + timing.MODEM_START["cellular"]
        mode = {
            (False, False): Mode.NORMAL,
            (False, True): Mode.LISTENING,
            (True, False): Mode.SAFE,
            (True, True): Mode.SAFE_LISTENING,
        }[(safe, listen)]
        self._settle(mode)

    def _settle(self, mode: Mode) -> None:
        """Enter `mode` once the work done during boot (installs) has taken its time."""
        cost = self.take_cost()
        if cost <= 0 or not self._charge:
            self._run(mode)
        else:
            self._timer = self.clock.schedule(cost, lambda: self._run(mode))

    def _run(self, mode: Mode) -> None:
        """Be in `mode`; in normal mode the user app runs, and one built to hard-fault on this Device OS
        (synthetic.user_app(panics_from=...)) does so soon after: SOS, then a reset, again and again.
        """
        self._set_mode(mode)
        app = self.running_user_app(self.installed()) if mode == Mode.NORMAL else None
        since = synthetic.panics_from(app.module.data) if app is not None and app.module is not None else None
        if since is not None and (self.system_module_version() or 0) >= since:
            self._timer = self.clock.schedule(timing.APP_FAULTS_AFTER, lambda: self.reset("user app hard fault (SOS)"))

    def _system_runnable(self, found: list[inst.Installed]) -> bool:
        parts = {s.index for s in self.platform.slots if s.function == F.SYSTEM_PART}
        return all(inst.find(found, F.SYSTEM_PART, i) is not None for i in parts)

    def _carrier(self, found: list[inst.Installed]) -> inst.Installed | None:
        """The system part that carries the bootloader dependency (§6.1); None on the Electron."""
        if self.platform.bootloader_embedded:
            return None
        for m in found:
            if m.function == F.SYSTEM_PART and any(d.function == F.BOOTLOADER for d in m.dependencies):
                return m
        return None

    def running_user_app(self, found: list[inst.Installed]) -> inst.Installed | None:
        """The user part the system would run: the first one in slot order (§2.3 compat rule)."""
        sysver = self.system_module_version() or 0
        for m in found:
            if m.function == F.USER_PART and (m.index == 1 or m.slot.used_with(sysver)):
                return m
        return None

    def _modules_valid(self, found: list[inst.Installed]) -> bool:
        carrier = self._carrier(found)
        if carrier is not None and not inst.deps_ok(found, carrier.dependencies):
            self.note(f"safe mode: system part {carrier.index} dependencies not met")
            return False
        app = self.running_user_app(found)
        if app is None or not app.integrity_ok or not inst.deps_ok(found, app.dependencies):
            self.note("safe mode: user part missing, corrupt or needs a newer Device OS")
            return False
        return True

    def install(self, module: Module) -> None:
        """Copy a validated module to its place (module slot / bootloader copy / NCP push)."""
        image = module.image
        if image.function == F.NCP_FIRMWARE:
            self.spend(timing.NCP_UPDATE)
            self.ncp_version = image.version
            return
        address, data = inst.flash_image(module)
        bank = self.mem.bank_for(address, len(data))
        compat = [s.start for s in self.platform.slots_for(F.USER_PART, 1) if s.until] if image.index == 2 else []
        if image.function == F.USER_PART and compat:  # the 3.1.0 flash_mal.c invalidates the 128 KB app
            self.spend(bank.erase_range(compat[0], 4096))
        self.spend(bank.erase_range(address, len(data)) + bank.program(address, data))
        self.note(f"installed {image.describe()} at 0x{address:x}")

    def _apply_pending(self) -> None:
        pending, self.pending = self.pending, []
        for module in pending:
            self.install(module)

    def _refresh_embedded_bootloader(self, found: list[inst.Installed]) -> bool:
        """Electron: re-flash the bootloader embedded in the system parts if it is newer (§6.7)."""
        boot = inst.find(found, F.BOOTLOADER, 0)
        for m in found:
            if m.function != F.SYSTEM_PART or m.module is None:
                continue
            for embedded in inst.embedded_bootloaders(m.module.data):
                if boot is None or embedded.version > boot.version:
                    self.install(embedded)
                    return True
        return False

    def line_coding(self, baud: int) -> None:
        """The host set the CDC line coding: 14400 -> DFU, 28800 -> listening (§3.5)."""
        if self.mode not in CDC_MODES:
            return
        sysver = self.system_module_version() or 0
        if baud == 14400:
            self.note("14400 baud: entering DFU mode")
            self.reset("14400 baud", delay=0.05, into="dfu")
        elif baud == 28800 and sysver < DOS_6_0_0 and not self.listening:
            self.note("28800 baud: entering listening mode")
            self._set_mode(Mode.SAFE_LISTENING if self.mode == Mode.SAFE else Mode.LISTENING)
