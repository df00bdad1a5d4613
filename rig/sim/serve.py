"""`rig sim serve`: a simulated bench in the foreground, for people and external programs.

Each board's serial port is a pseudo-terminal, the lab's USB bus (where umockdev is here) and its
stand-ins reach the programs this process starts (the printed `export` line gives them to a
shell), the cloud listens on loopback. With `usb`, the
boards are also on a umockdev USB bus (rig.sim.usb_bridge) that `rig sim exec` shows to any
program, and the settings a program needs are written to an env file once the bench is up.
Ctrl-C or SIGTERM ends it; the env file and the test bed folder go with it.
"""

from __future__ import annotations

import os
import signal
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rig.sim.box_env import BridgeError
from rig.sim.lab import CLOUD_TOKEN_ENV, CLOUD_URL_ENV, Lab
from rig.sim.pty_bridge import PtyBridge

if TYPE_CHECKING:
    from rig.sim.usb_bridge import UsbBridge


@dataclass
class ServedBench:
    """A running bench: the lab, its ptys and, with `usb`, its umockdev bus."""

    lab: Lab
    ptys: dict[str, PtyBridge]
    usb: UsbBridge | None = None

    def stop(self) -> None:
        """Close the ptys, then remove the seams (the USB bus goes with them)."""
        for bridge in self.ptys.values():
            bridge.stop()
        self.lab.uninstall()

    def environment(self) -> dict[str, str]:
        """What a program needs to use this bench from outside (the env file)."""
        env = {CLOUD_URL_ENV: self.lab.cloud_url or "", CLOUD_TOKEN_ENV: self.lab.cloud.token}
        if self.usb is not None:
            env.update(self.usb.environment())
        return env


def start(lab: Lab, usb: bool = False) -> ServedBench:
    """Install the lab's seams, open a pty per board and, with `usb`, put the boards on umockdev."""
    lab.usb_ttys = usb  # with --usb the serial ports are /dev/ttyACM<N> on the bus
    lab.install()
    ptys: dict[str, PtyBridge] = {}
    bench = ServedBench(lab, ptys)
    try:
        assert lab.programs is not None
        if usb and lab.programs.bus is None:
            raise BridgeError(f"--usb needs the umockdev bus, and {lab.programs.why}.")
        bench.usb = lab.programs.bus if usb else None
        for name, slot in lab.slots.items():
            if usb:
                break
            bridge = PtyBridge(slot.board, slot.serial)
            bridge.start()
            ptys[name] = bridge
    except BaseException:
        bench.stop()
        raise
    return bench


def write_env_file(path: Path, env: dict[str, str]) -> None:
    """KEY=VALUE lines in a new private file (it holds the cloud token), renamed into place so a
    reader never sees half of it; one sentence when the folder cannot take it.
    """
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise BridgeError(f"Cannot write the env file {path} ({exc.strerror}): choose a writable folder.") from None
    try:
        with os.fdopen(fd, "w") as f:
            f.write("".join(f"{k}={v}\n" for k, v in env.items()))
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise BridgeError(f"Cannot write the env file {path} ({exc.strerror}): choose a writable folder.") from None


def _serial_path(bench: ServedBench, name: str) -> str:
    if name in bench.ptys:
        return bench.ptys[name].path
    return "/dev/ttyACM* (with rig sim exec)"


def describe(bench: ServedBench) -> list[str]:
    """What a user needs to talk to the bench."""
    lab = bench.lab
    lines = [f"simulated bench: {len(lab.slots)} boards, time scale {lab.time_scale:g}"]
    for name, slot in lab.slots.items():
        b = slot.board
        lines.append(
            f"  {name:<16} {b.platform.name:<9} {b.device_id}  Device OS {b.system_version():<7} "
            f"hub {slot.hub} port {slot.port}  serial {_serial_path(bench, name)}  ({b.mode})"
        )
    assert lab.programs is not None
    env = lab.programs.environment()
    env["PATH"] = f"{lab.programs.stand_ins.bin}:$PATH"
    lines += [
        f"cloud: {lab.cloud_url} (token {lab.cloud.token})",
        f"stand-ins for programs: {', '.join(sorted(lab.programs.stand_ins.handlers))}",
        "for another shell:",
        "  export " + " ".join(f"{k}={v}" if " " not in v else f"{k}='{v}'" for k, v in env.items()),
        "Ctrl-C stops the bench.",
    ]
    return lines


def serve_forever(
    lab: Lab,
    show: Callable[[str], None],
    stop: threading.Event | None = None,
    usb: bool = False,
    env_file: Path | None = None,
) -> None:
    """Run the bench until Ctrl-C (SIGINT/SIGTERM) or `stop` is set; always cleans up."""
    bench = start(lab, usb)
    stop = stop or threading.Event()
    wrote: Path | None = None
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    if threading.current_thread() is threading.main_thread():
        for sig in previous:
            signal.signal(sig, lambda *_: stop.set())
    try:
        for line in describe(bench):
            show(line)
        if env_file is not None:
            write_env_file(env_file, bench.environment())
            wrote = env_file
            show(f"settings for other programs: {env_file} (rig sim exec --env-file {env_file} -- COMMAND)")
        while not stop.wait(0.02):
            with lab.clock.lock:
                lab.clock.run_due()
    finally:
        if wrote is not None:  # only the file this bench wrote
            wrote.unlink(missing_ok=True)
        bench.stop()
        if threading.current_thread() is threading.main_thread():
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        show("bench stopped")
