"""serial: `f` + YMODEM in listening mode (§3.3–§3.4); gone in Device OS 6."""

from __future__ import annotations

from rig.board_mode import Mode
from rig.clock import wait_for
from rig.device.board import Device
from rig.device.modes import enter, wait_running
from rig.device.paths.base import FlashRefused, ModuleFile
from rig.firmware.format import ModuleFunction as F
from rig.methods import Via
from rig.transport.console import Console, open_port
from rig.transport.results import DeviceResultError
from rig.transport.ymodem import YmodemSender

REMOVED_IN = 6000  # Device OS 6.0.0 removed serial flashing
# a serial (YMODEM) image the board rejected resets it at once from 2.0.0-alpha.1 on; before, when
# listening mode ends (§3.3)
RESETS_AFTER_REJECTED_IMAGE = 2000


class SerialPath:
    """The listening console's `f` command and a YMODEM transfer."""

    via = Via.SERIAL

    def send(self, dev: Device, file: ModuleFile) -> None:
        """One YMODEM transfer; a rejected image still resets the board from 2.0.0 on (§3.3)."""
        modules = dev.modules()
        sysver = next((m.version for m in modules if m.function == F.SYSTEM_PART and m.index == 1), 0)
        if sysver >= REMOVED_IN:
            raise FlashRefused(
                f"{dev.name} runs Device OS 6 or later, which removed serial (YMODEM) flashing; use dfu or usb."
            )
        enter(dev, Mode.LISTENING)
        port = open_port(dev.port_url(), timeout=0.2)
        try:
            con = Console(port, dev.clock, dev.serial_log)
            con.command("f", until=b"(press 'a' to abort)\r\n", timeout=10)  # as particle-cli: 10 s (§3.4)
            reset = dev.reset_seen()
            try:
                report = YmodemSender(con.port, dev.clock).send(file.name, file.data, wait_for_c=False)
            except DeviceResultError:
                if sysver >= RESETS_AFTER_REJECTED_IMAGE:  # the board resets anyway (§3.3): let it come back
                    dev.note(f"the board rejected {file.name} and resets")
                    wait_for(reset, dev.clock, 10.0)
                    wait_running(dev)
                raise
        finally:
            port.close()
        dev.serial_log += report.tail
        dev.note(f"YMODEM transfer of {file.name} accepted; the board resets")
        wait_for(reset, dev.clock, 10.0)


PATH = SerialPath()
