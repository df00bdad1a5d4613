"""The bench a CLI command works on: real boards from devices.yaml, or the same boards simulated."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from rig import platforms
from rig.clock import Clock, SystemClock
from rig.device import Device, HubPort
from rig.errors import ConfigError
from rig.firmware.release import ReleaseStore
from rig.firmware.synthetic import write_release
from rig.firmware.versions import known as known_version
from rig.inventory import DeviceSpec, load_inventory
from rig.sim.board import BoardSettings
from rig.sim.lab import Lab, device_id_for
from rig.transport.cloud import TOKEN_ENV, CloudClient

DEVICES_ENV = "RIG_DEVICES"


def add_board_from_spec(lab: Lab, d: DeviceSpec) -> None:
    """Plug a devices.yaml entry into a simulated lab."""
    s = d.sim
    settings = BoardSettings(
        online=s.online,
        heal=s.heal,
        setup_done=s.setup_done,
        imei=s.imei,
        iccid=s.iccid,
        ncp_version=s.ncp_version,
        swd_probe=d.swd_probe,
    )
    board = lab.add_board(
        d.name,
        d.platform,
        s.device_os,
        d.device_id,
        hub=d.hub.location if d.hub else "1-1",
        port=d.hub.port if d.hub else None,
        settings=settings,
    )
    for fault, value in s.faults.items():
        if fault == "uhubctl_hangs":
            lab.hubs.hub(d.hub.location if d.hub else "1-1").hang = value
        elif fault == "cloud_offline":
            lab.cloud.reachable = not value
        else:
            setattr(board.faults, fault, value)


def simulated_lab(devices: str | None, time_scale: float, releases: str | None) -> Lab:
    """A simulated lab with the boards of devices.yaml (or a small default bench)."""
    store = ReleaseStore.scan(Path(releases)) if releases else None
    lab = Lab(time_scale=time_scale, releases=store)
    if devices:
        for d in load_inventory(Path(devices)).devices:
            add_board_from_spec(lab, d)
    else:
        lab.add_board("boron-1", "boron", "2.2.0")
        lab.add_board("photon-1", "photon", "1.5.2")
    return lab


@dataclass
class Bench:
    """Devices to drive, the clock to wait with, and the lab when simulated."""

    devices: dict[str, Device]
    clock: Clock
    lab: Lab | None = None
    specs: dict[str, DeviceSpec] = field(default_factory=dict)
    store: ReleaseStore | None = None
    tmp: Path | None = None  # synthetic releases and devices.yaml of a simulated bench, removed on close

    def device(self, name: str) -> Device:
        """A board by name or device id."""
        for key, dev in self.devices.items():
            if name in (key, dev.device_id) or name.lower() == dev.device_id:
                return dev
        known = ", ".join(sorted(self.devices)) or "none"
        raise ConfigError(f"No board named '{name}' in devices.yaml (boards: {known}).")

    def close(self) -> None:
        """Remove the simulated lab's seams and its temporary folder."""
        if self.lab is not None:
            self.lab.uninstall()
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)


def devices_file(given: str | None) -> Path:
    """--devices, $RIG_DEVICES or ./devices.yaml."""
    return Path(given or os.environ.get(DEVICES_ENV) or "devices.yaml")


def open_bench(
    devices: str | None,
    sim: bool,
    time_scale: float = 0.0,
    releases: str | None = None,
    platform_names: list[str] | None = None,
    versions: list[str] | None = None,
) -> Bench:
    """The bench of a command: with `sim`, a simulated lab of the same devices.yaml — or, when
    `platform_names` is given and there is no devices.yaml, one simulated board per platform.
    With `sim` and no `releases`, synthetic releases of `versions` (those Device OS knows) are
    made for `platform_names`, whatever devices.yaml says.
    """
    store = ReleaseStore.scan(Path(releases)) if releases else None
    synthetic = bool(sim and platform_names and store is None)
    default_bench = bool(sim and platform_names and not devices and not devices_file(None).exists())
    tmp = Path(tempfile.mkdtemp(prefix="rig-bench-")) if synthetic or default_bench else None
    if tmp is not None and synthetic:
        for name in platform_names or []:
            for version in versions or []:
                if known_version(version):
                    write_release(tmp, name, version)
        store = ReleaseStore.scan(tmp)
    if tmp is not None and default_bench:
        spec_text = {
            "devices": [
                {
                    "name": f"{p}-1",
                    "platform": p,
                    "device_id": device_id_for(f"{p}-1"),
                    "hub": {"location": "1-1", "port": i + 1},
                    "sim": {"device_os": next((v for v in versions or [] if known_version(v)), "2.3.1")},
                }
                for i, p in enumerate(platform_names or [])
            ]
        }
        (tmp / "devices.yaml").write_text(yaml.safe_dump(spec_text))
        devices = str(tmp / "devices.yaml")
    path = devices_file(devices)
    inventory = load_inventory(path)
    lab = None
    clock: Clock = SystemClock()
    if sim:
        lab = Lab(time_scale=time_scale, releases=store)
        for spec in inventory.devices:
            add_board_from_spec(lab, spec)
        lab.install()
        clock = lab.clock
    cloud = CloudClient() if os.environ.get(TOKEN_ENV) else None
    out = {}
    for spec in inventory.devices:
        hub = HubPort(spec.hub.location, spec.hub.port) if spec.hub else None
        out[spec.name] = Device(
            spec.device_id,
            platforms.by_name(spec.platform),
            clock,
            hub,
            spec.serial,
            cloud=cloud,
            name=spec.name,
            swd_probe=spec.swd_probe,
        )
    return Bench(out, clock, lab, {s.name: s for s in inventory.devices}, store, tmp)
