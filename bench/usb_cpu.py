"""CPU seconds per MB flashed through the simulated USB: the in-process pyusb backend, and the
bench in a box (the real dfu-util on the lab's umockdev bus).

The rig's own flash (rig.device.flash: the checks, the mode changes, the transfer, the wait until
the board runs again) of a real Boron system part 1 (4.0.1, 511 KB) onto a simulated Boron on
4.0.1, over DFU (DfuSe downloads) and over USB control requests (§4.4 firmware update) through
pyusb, and over the rig's dfu-util path (the real dfu-util, whose every ioctl this process answers
on the umockdev bus), at time scale 0: CPU seconds of this process and of the programs it ran
(time.process_time, RUSAGE_CHILDREN) per MB sent. Prints the load.

    .venv/bin/python bench/usb_cpu.py [ROUNDS]
"""

from __future__ import annotations

import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rig.assemble import simulated_device
from rig.board_mode import Mode
from rig.device.flash import flash
from rig.firmware.release import ReleaseStore
from rig.sim.lab import Lab

FIRMWARE = Path(__file__).resolve().parent.parent.parent / "shared" / "firmware"
FILE = "boron-system-part1@4.0.1.bin"
VIAS = ("dfu", "usb", "dfu-util")


def cpu_per_mb(rounds: int = 4) -> dict[str, tuple[float, float]]:
    """CPU seconds per MB and MB sent, per path, for `rounds` flashes of FILE each (dfu-util only
    where the lab runs the real program on a umockdev bus)."""
    data = (FIRMWARE / FILE).read_bytes()
    out: dict[str, tuple[float, float]] = {}
    with Lab(time_scale=0, releases=ReleaseStore.scan(FIRMWARE)) as lab:
        lab.add_board("b", "boron", "4.0.1")
        dev = simulated_device(lab, "b")
        on_the_bus = lab.programs is not None and "dfu-util" not in lab.programs.stand_ins.handlers
        for via in VIAS if on_the_bus else VIAS[:2]:
            flash(dev, data, via, FILE, force=True)  # warm: imports, first enumeration
            cpu0 = _cpu()
            for _ in range(rounds):
                result = flash(dev, data, via, FILE, force=True)
                if result.final_mode != Mode.NORMAL:
                    sys.exit(f"the {via} flash left the board in {result.final_mode} mode")
            mb = rounds * len(data) / 1e6
            out[via] = ((_cpu() - cpu0) / mb, mb)
    return out


def _cpu() -> float:
    """CPU seconds of this process and of the programs it ran that have ended."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def report(figures: dict[str, tuple[float, float]]) -> str:
    """One line: CPU s/MB per path."""
    parts = [f"{via} {cpu:.2f} CPU s/MB ({mb:.1f} MB)" for via, (cpu, mb) in figures.items() if via != "dfu-util"]
    line = "flashed through the simulated USB (in-process pyusb backend): " + ", ".join(parts)
    if "dfu-util" in figures:
        cpu, mb = figures["dfu-util"]
        line += f"; bench in a box (the real dfu-util on the umockdev bus): {cpu:.2f} CPU s/MB ({mb:.1f} MB)"
    return line


def main() -> None:
    if not FIRMWARE.is_dir():
        sys.exit(f"{FIRMWARE} is missing: this benchmark needs the real Device OS binaries.")
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 4
    before = os.getloadavg()
    print(report(cpu_per_mb(rounds)))
    after = os.getloadavg()
    print("load average (1, 5, 15 min) before " + " / ".join(f"{x:.2f}" for x in before), end="")
    print(", after " + " / ".join(f"{x:.2f}" for x in after))


if __name__ == "__main__":
    main()
