"""Hardware time of Particle boards, from cited figures (see docs/timing.md for sources): used by
the simulated lab to model time and by the planner to estimate it.

Everything a board does takes modelled time on the lab clock: USB transfers, flash erases and
writes, reboots, enumeration, modem start-up. At time scale 0 this costs no wall time but still
adds up, so a run reports how long the same work would take on real boards.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FlashTiming:
    """Erase time per sector size, and programming time per byte."""

    erase_seconds: dict[int, float]
    write_seconds_per_byte: float


FLASH: dict[str, FlashTiming] = {
    # STM32F205 internal flash, x32 parallelism, typical: 16 KB sector 0.25 s, 64 KB 0.55 s,
    # 128 KB 1.0 s; 32-bit word program 16 us (4 us/byte).
    "stm32f2": FlashTiming({16384: 0.25, 65536: 0.55, 131072: 1.0}, 16e-6 / 4),
    # nRF52840 NVMC: page (4 KB) erase 85 ms, 32-bit word write 41 us (max figures of the
    # product specification; it gives no typical value).
    "nrf52840": FlashTiming({4096: 0.085}, 41e-6 / 4),
    # RTL872x: no public figure; assumed like the external NOR part below.
    "rtl872x": FlashTiming({4096: 0.025}, 0.33e-3 / 256),
    "stm32f1": FlashTiming({1024: 0.02}, 52e-6 / 2),
    # External QSPI NOR, Macronix MX25L3233F (Argon, Boron, B SoM): 4 KB sector erase typ 25 ms,
    # 256-byte page program typ 0.33 ms (PM2113 rev 1.6, Table 18). Also used for the 8 MB parts
    # and the P1's MX25L8006E, whose typical figures are not verified.
    "external": FlashTiming({4096: 0.025}, 0.33e-3 / 256),
}

# USB full speed, control transfers on EP0 (64-byte packets, USB 2.0 §5.5.3): at most 13 x 64
# bytes per 1 ms frame (§5.5.4, Table 5-2; derived from the per-transaction overhead), i.e.
# 832 000 bytes/s, plus one frame per transfer for the setup and status stages.
USB_CONTROL_BYTES_PER_SECOND = 832_000.0
USB_TRANSFER_OVERHEAD = 0.001

# Reboots and enumeration: USB attach debounce 100 ms (USB 2.0 §7.1.7.3), Linux port reset
# 60 ms + recovery 50 ms, descriptor reads: about 0.3 s. Device OS boot times are assumptions.
USB_ENUMERATION = 0.3
BOOT_TO_SYSTEM = 0.7 + USB_ENUMERATION  # bootloader + system init until the CDC port is up
BOOT_TO_DFU = 0.2 + USB_ENUMERATION  # bootloader straight into DFU mode
RESET_AFTER_REPLY = 1.0  # control requests 40/50/60/251: reply, wait 1000 ms, reset (§4.3)
# How long a command that finds a board off USB (or losing it mid-exchange) waits for it to come
# back before it says the board is not there: a reset just asked for (request + 1 s + boot) is over.
BACK_FROM_RESET = 10.0
APP_FAULTS_AFTER = 2.0  # a simulated app built to hard-fault does so this long after it starts (assumption)
MODEM_START = {"cellular": 18.0}  # "an LTE device may take up to 18 seconds to power up the modem" (§3.2)
CLOUD_CONNECT = 3.0
NCP_UPDATE = 120.0  # flashing the ESP32 takes minutes (CLI FLASH_TIMEOUT 4 min, §6.9)
SERIAL_BYTES_PER_SECOND = 1_000_000.0  # USB CDC: the baud rate is not applied on USB


def usb_control(nbytes: int) -> float:
    """Modelled seconds for one control transfer carrying `nbytes` of data."""
    return USB_TRANSFER_OVERHEAD + nbytes / USB_CONTROL_BYTES_PER_SECOND
