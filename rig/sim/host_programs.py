"""The programs a simulated lab's host runs for the rig: the real ones on the lab's USB bus, where it can.

With umockdev (and PyGObject) here, the lab's boards and hubs are also on a umockdev USB bus
(rig.sim.usb_bridge, without ttys: in-process, the serial ports are the lab's sim:// ones), and
every program the rig starts gets the preload library and the bus's folder in its environment, so
the real uhubctl, dfu-util and Particle CLI switch the lab's ports and write its boards through
libusb as on a bench. A stand-in (rig.sim.tools, rig.sim.fake_tools) is first on PATH only for a
program that cannot run here: pyocd (no debug probe to emulate), and uhubctl, dfu-util or the
Particle CLI on a host without them or without umockdev — a fresh machine running the README's
main command. `stand_ins_here()` says which; `rig matrix --sim` prints it. With
RIG_SIM_REAL_PROGRAMS=1 a lab that would need a stand-in for one of those three fails instead
(CI's default test run: the fake programs must not stand in for the real ones unnoticed).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rig.sim import box_env
from rig.sim.box_env import BridgeError
from rig.sim.fake_tools import FakeTools
from rig.sim.tools import Handler, ToolServer

if TYPE_CHECKING:
    from rig.sim.lab import Lab
    from rig.sim.usb_bridge import UsbBridge

ON_THE_BUS = ("uhubctl", "dfu-util", "particle")  # real programs that reach the boards through USB alone
REAL_ONLY_ENV = "RIG_SIM_REAL_PROGRAMS"  # "1": no stand-in for uhubctl, dfu-util or the Particle CLI
SOCKET_TAIL = "/umockdev.XXXXXX/ioctl/dev/bus/usb/001/001"  # a node's ioctl socket, below the temp folder
SUN_PATH_MAX = 107  # a Unix socket path's longest (sockaddr_un.sun_path is 108 bytes with its NUL)


@dataclass
class HostPrograms:
    """The lab's USB bus (None without umockdev) and the stand-ins first on PATH."""

    bus: UsbBridge | None
    stand_ins: ToolServer
    why: str  # why the bus is not there, when it is not

    def environment(self) -> dict[str, str]:
        """What a program the rig starts needs: the bus (preload, test bed) and the stand-ins' PATH."""
        env = self.stand_ins.environment()
        if self.bus is not None:
            env.update(box_env.with_preload({"LD_PRELOAD": os.environ.get("LD_PRELOAD", "")}))
            env["UMOCKDEV_DIR"] = self.bus.root
        return env

    def plug(self, name: str) -> None:
        """A board added to the running lab goes on the bus too."""
        if self.bus is not None:
            self.bus.plug(name)

    def settle(self) -> None:
        """Wait (bounded) until the bus shows every change of the boards so far."""
        if self.bus is not None and not self.bus.settle():
            why = self.bus.failure or "it fell behind its boards"
            raise BridgeError(f"The simulated lab's USB bus failed: {why} (a bug in rig/sim/usb_bridge.py).")

    def stop(self) -> None:
        """Stop the stand-ins and take the bus down."""
        self.stand_ins.stop()
        if self.bus is not None:
            self.bus.stop()
            self.bus = None


def installed(program: str) -> bool:
    """Whether the host has `program` on PATH (a lab's stand-in folders do not count)."""
    folders = [p for p in os.environ.get("PATH", "").split(os.pathsep) if not ToolServer.is_stand_in_folder(p)]
    return shutil.which(program, path=os.pathsep.join(folders)) is not None


def why_no_bus() -> str:
    """Why a umockdev bus cannot be built here ("" when it can)."""
    if not box_env.preload_available():
        return "umockdev's preload library is not installed (Debian: umockdev)"
    from rig.sim.usb_sysfs import bed_folder, umockdev

    folder = bed_folder()
    if len(folder) + len(SOCKET_TAIL) > SUN_PATH_MAX:  # its ioctl sockets live in the test bed
        return f"the temp folder {folder} is too long for umockdev's sockets (set TMPDIR shorter)"
    try:
        umockdev()
    except BridgeError as exc:
        return str(exc)
    return ""


def stand_ins_here(real: bool = True) -> tuple[list[str], str]:
    """The programs a lab on this host serves with stand-ins, and why the bus programs are among them."""
    return _stand_ins(why_no_bus() if real else "the lab was asked for stand-ins")


def _stand_ins(no_bus: str) -> tuple[list[str], str]:
    missing = [p for p in ON_THE_BUS if no_bus or not installed(p)]
    return ["pyocd", *missing], no_bus or (f"not installed here: {', '.join(missing)}" if missing else "")


def summary() -> str:
    """One line for a run's start: which programs are real and which are stand-ins, and why."""
    stand_ins, why = stand_ins_here()
    real = [p for p in ON_THE_BUS if p not in stand_ins]
    said = f"simulated lab: the real {', '.join(real)} on a umockdev bus; " if real else "simulated lab: "
    said += f"stand-ins for {', '.join(stand_ins)}"
    return said + (f" ({why.rstrip('.')})" if why else "")


def refuse_stand_ins() -> None:
    """With RIG_SIM_REAL_PROGRAMS=1, a BridgeError naming the fix when a lab here would need a
    stand-in for uhubctl, dfu-util or the Particle CLI (checked before a run and as a lab opens).
    """
    if os.environ.get(REAL_ONLY_ENV) != "1":
        return
    no_bus = why_no_bus()
    missing = [p for p in ON_THE_BUS if not installed(p)]
    if no_bus:
        raise BridgeError(
            f"{REAL_ONLY_ENV}=1, but the simulated lab cannot run uhubctl, dfu-util or the Particle CLI here "
            f"(on a umockdev bus): {no_bus.rstrip('.')}; fix that, or unset {REAL_ONLY_ENV} to allow stand-ins."
        )
    if missing:
        raise BridgeError(
            f"{REAL_ONLY_ENV}=1, but {', '.join(missing)} is not on PATH here: install it, or unset "
            f"{REAL_ONLY_ENV} to allow a stand-in."
        )


def start(lab: Lab, real: bool, ttys: bool = False) -> HostPrograms:
    """Open the bus (with `real`, where umockdev is here) and start the stand-ins the host needs."""
    no_bus = why_no_bus() if real else "the lab was asked for stand-ins"
    names, why = _stand_ins(no_bus)
    if real:
        refuse_stand_ins()
    bus: UsbBridge | None = None
    if not no_bus:
        from rig.sim.usb_bridge import UsbBridge

        bus = UsbBridge(lab, ttys=ttys)
        try:
            bus.start()
        except BaseException:  # half built (or a stop signal): taken down, its test bed given back
            bus.stop()
            raise
    fakes = FakeTools(lambda: [s.board for s in lab.slots.values()], lab.clock.lock, lab.probes, lab.location_of)
    every: dict[str, Handler] = {
        "pyocd": fakes.pyocd,
        "particle": fakes.particle,
        "uhubctl": lab.hubs.run,
        "dfu-util": fakes.dfu_util,
    }
    stand_ins = ToolServer({name: every[name] for name in names})
    try:
        stand_ins.start()
    except BaseException:
        if bus is not None:
            bus.stop()
        raise
    return HostPrograms(bus, stand_ins, why)
