"""ota: through the cloud API (§6.6: the cloud never downgrades); the end comes as a cloud event."""

from __future__ import annotations

from rig.clock import wait_for
from rig.device.board import Device
from rig.device.modes import REBOOT_TIMEOUT
from rig.device.paths.base import FlashRefused, ModuleFile
from rig.methods import Via
from rig.transport.errors import TimeoutError_


class OtaPath:
    """Flash through the cloud and wait for spark/flash/status."""

    via = Via.OTA

    def send(self, dev: Device, file: ModuleFile) -> None:
        """Upload the file for the device; the board resets once it has installed it."""
        if dev.cloud is None:
            raise FlashRefused("No cloud is configured: set RIG_CLOUD_URL and RIG_CLOUD_TOKEN.")
        events = dev.cloud.events(dev.device_id)
        reset = dev.reset_seen()
        try:
            dev.cloud.flash(dev.device_id, file.data, file.name)
            outcome: list[str] = []

            def finished() -> bool:
                for ev in events.poll():
                    if ev.name == "spark/flash/status" and ev.data.strip() in ("success", "failed"):
                        outcome.append(ev.data.strip())
                return bool(outcome)

            if not wait_for(finished, dev.clock, REBOOT_TIMEOUT, interval=1.0):
                raise TimeoutError_(f"The cloud did not report the end of the OTA update of {dev.name} in time.")
            if outcome[0] != "success":
                raise FlashRefused(f"The OTA update of {file.name} to {dev.name} failed on the board.")
            wait_for(reset, dev.clock, 10.0)
        finally:
            events.close()


PATH = OtaPath()
