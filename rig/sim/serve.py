"""`rig sim serve`: a simulated bench in the foreground, for people and external programs.

Each board's serial port is a pseudo-terminal, the fake uhubctl is on PATH (for this process;
the printed `export` lines give it to a shell), the cloud listens on loopback. Ctrl-C ends it.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass

from rig.sim.lab import Lab
from rig.sim.pty_bridge import PtyBridge


@dataclass
class ServedBench:
    """A running bench: the lab and its ptys."""

    lab: Lab
    ptys: dict[str, PtyBridge]

    def stop(self) -> None:
        """Close the ptys and remove the seams."""
        for bridge in self.ptys.values():
            bridge.stop()
        self.lab.uninstall()


def start(lab: Lab) -> ServedBench:
    """Install the lab's seams and open a pty per board."""
    lab.install()
    ptys = {}
    for name, slot in lab.slots.items():
        bridge = PtyBridge(slot.board, slot.serial)
        bridge.start()
        ptys[name] = bridge
    return ServedBench(lab, ptys)


def describe(bench: ServedBench) -> list[str]:
    """What a user needs to talk to the bench."""
    lab = bench.lab
    lines = [f"simulated bench: {len(lab.slots)} boards, time scale {lab.time_scale:g}"]
    for name, slot in lab.slots.items():
        b = slot.board
        lines.append(
            f"  {name:<16} {b.platform.name:<9} {b.device_id}  Device OS {b.system_version():<7} "
            f"hub {slot.hub} port {slot.port}  serial {bench.ptys[name].path}  ({b.mode})"
        )
    assert lab.tools is not None
    env = lab.tools.environment()
    lines += [
        f"cloud: {lab.cloud_url} (token {lab.cloud.token})",
        "for another shell:",
        f"  export PATH={lab.tools.bin}:$PATH RIG_SIM_SOCKET={env['RIG_SIM_SOCKET']}",
        "Ctrl-C stops the bench.",
    ]
    return lines


def serve_forever(lab: Lab, show: Callable[[str], None], stop: threading.Event | None = None) -> None:
    """Run the bench until Ctrl-C (SIGINT/SIGTERM) or `stop` is set; always cleans up."""
    bench = start(lab)
    stop = stop or threading.Event()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    if threading.current_thread() is threading.main_thread():
        for sig in previous:
            signal.signal(sig, lambda *_: stop.set())
    try:
        for line in describe(bench):
            show(line)
        while not stop.wait(0.05):
            with lab.clock.lock:
                lab.clock.run_due()
    finally:
        bench.stop()
        if threading.current_thread() is threading.main_thread():
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        show("bench stopped")
