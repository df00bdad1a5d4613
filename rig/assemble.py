"""devices.yaml -> the bench: the Devices that drive real boards, or a simulated lab of the same
boards and the Devices that reach them. The CLI, the pytest plugin and the tests build benches here
and nowhere else; `rig.sim` is imported only when a simulated lab is made.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rig import matrix, platforms
from rig.board_settings import CLOUD_OFFLINE, HUB_HANGS, BoardSettings, SimOptions
from rig.clock import Clock, SystemClock
from rig.device import Device, HubPort
from rig.errors import ConfigError
from rig.firmware.release import ReleaseStore
from rig.inventory import DeviceSpec, SimSettings
from rig.inventory import HubPort as SpecHub
from rig.methods import Via
from rig.pool import Claimer, Pool
from rig.transport.cloud import TOKEN_ENV, CloudClient

if TYPE_CHECKING:
    from rig.sim.board import Board
    from rig.sim.lab import Lab

DEFAULT_HUB = "1-1"  # where the simulated lab plugs a board whose devices.yaml entry has no hub


def device(spec: DeviceSpec, clock: Clock, cloud: CloudClient | None = None) -> Device:
    """The Device that drives the board of one devices.yaml entry."""
    hub = HubPort(spec.hub.location, spec.hub.port) if spec.hub else None
    return Device(
        spec.device_id,
        platforms.by_name(spec.platform),
        clock,
        hub,
        spec.serial,
        cloud=cloud,
        name=spec.name,
        swd_probe=spec.swd_probe,
    )


def cloud_client() -> CloudClient | None:
    """A cloud client when $RIG_CLOUD_TOKEN is set (an installed simulated lab sets it), else None."""
    return CloudClient() if os.environ.get(TOKEN_ENV) else None


def add_board(lab: Lab, spec: DeviceSpec) -> Board:
    """Plug the board of a devices.yaml entry into a simulated lab, its faults injected."""
    s = spec.sim
    hub = spec.hub.location if spec.hub else DEFAULT_HUB
    settings = BoardSettings(**s.model_dump(include=set(SimOptions.model_fields)), swd_probe=spec.swd_probe)
    board = lab.add_board(
        spec.name,
        spec.platform,
        s.device_os,
        spec.device_id,
        hub=hub,
        port=spec.hub.port if spec.hub else None,
        settings=settings,
    )
    for fault, value in s.faults.items():
        if fault == HUB_HANGS:
            lab.hubs.hub(hub).hang = value
        elif fault == CLOUD_OFFLINE:
            lab.cloud.reachable = not value
        else:
            setattr(board.faults, fault, value)
    return board


def simulated_lab(specs: Sequence[DeviceSpec], time_scale: float = 0.0, store: ReleaseStore | None = None) -> Lab:
    """A simulated lab with the boards of these devices.yaml entries (its seams not yet installed)."""
    from rig.sim.lab import Lab

    lab = Lab(time_scale=time_scale, releases=store)
    for spec in specs:
        add_board(lab, spec)
    return lab


def simulated_device(lab: Lab, name: str, cloud: CloudClient | None = None) -> Device:
    """The Device that reaches a board plugged into the lab by hand (as if devices.yaml named it)."""
    slot = lab.slots[name]
    spec = DeviceSpec(
        name=name,
        platform=slot.board.platform.name,
        device_id=slot.board.device_id,
        hub=SpecHub(location=slot.hub, port=slot.port),
        swd_probe=slot.board.settings.swd_probe,
    )
    return device(spec, lab.clock, cloud)


def _sim_spec(
    name: str,
    platform: str,
    device_os: str,
    hub: str = DEFAULT_HUB,
    port: int | None = None,
    online: bool = False,
    tags: Sequence[str] = (),
    swd_probe: str | None = None,
) -> DeviceSpec:
    from rig.sim.lab import device_id_for

    return DeviceSpec(
        name=name,
        platform=platform,
        device_id=device_id_for(name),
        hub=SpecHub(location=hub, port=port) if port else None,
        tags=list(tags),
        swd_probe=swd_probe,
        sim=SimSettings(device_os=device_os, online=online),
    )


def serve_bench() -> list[DeviceSpec]:
    """`rig sim serve` without devices.yaml: a Boron on 2.2.0 and a Photon on 1.5.2."""
    return [_sim_spec("boron-1", "boron", "2.2.0"), _sim_spec("photon-1", "photon", "1.5.2")]


def app_bench(platform_names: Sequence[str], device_os: str) -> list[DeviceSpec]:
    """`rig check-app --sim` without devices.yaml: one board per platform, `<platform>-1`."""
    return [_sim_spec(f"{p}-1", p, device_os, port=i + 1) for i, p in enumerate(platform_names)]


def matrix_bench(platform_names: Sequence[str]) -> list[DeviceSpec]:
    """The plugin's bench with --rig-sim alone: per platform `<platform>-1` offline and `<platform>-ota`
    online (tag `cloud`, for the OTA paths), on the newest synthetic release, each with an SWD probe.
    """
    pairs = [(p, suffix) for p in platform_names for suffix in ("1", "ota")]
    return [
        _sim_spec(
            f"{p}-{suffix}",
            p,
            matrix.sim_versions(p)[-1],
            hub=f"1-{n // 7 + 1}",
            port=n % 7 + 1,
            online=suffix == "ota",
            tags=["cloud"] if suffix == "ota" else [],
            swd_probe=f"probe-{p}-{suffix}",
        )
        for n, (p, suffix) in enumerate(pairs)
    ]


def candidates(specs: Sequence[DeviceSpec], wanted: set[str] | None, method: str | None) -> list[str]:
    """The boards a path or test may claim: of the `wanted` platforms; for a path, the connected
    (`cloud`) boards for OTA and the others for the rest, where the bench has both kinds (offline
    boards keep the cloud's healer out of the other paths, §6.4).
    """
    names = sorted(d.name for d in specs if wanted is None or platforms.by_name(d.platform).name in wanted)
    if method is None:
        return names
    cloud = {d.name for d in specs if "cloud" in d.tags}
    preferred = [n for n in names if (n in cloud) == (method == Via.OTA)]
    return preferred or names


@dataclass
class Bench:
    """Devices to drive, the clock to wait with, and the lab when simulated."""

    devices: dict[str, Device]
    clock: Clock
    lab: Lab | None = None
    specs: dict[str, DeviceSpec] = field(default_factory=dict)
    store: ReleaseStore | None = None
    tmp: Path | None = None  # a folder of the bench's own (synthetic releases), removed on close
    locks: Path | None = None  # a simulated bench's own lock folder, removed on close

    def device(self, name: str) -> Device:
        """A board by name or device id."""
        for key, dev in self.devices.items():
            if name in (key, dev.device_id) or name.lower() == dev.device_id:
                return dev
        known = ", ".join(sorted(self.devices)) or "none"
        raise ConfigError(f"No board named '{name}' in devices.yaml (boards: {known}).")

    def claimer(self, folder: Path | None = None, labgrid: str | None = None) -> Claimer:
        """Board locks: the host's lock folder (`folder`, else the default) for real boards, so every
        run and command on the host excludes the others; a simulated bench (one per process) keeps
        its own private folder, removed on close, never the host's shared one. With `labgrid`
        (a coordinator's HOST:PORT) a board is first claimed as its place there, then locked here.
        """
        if self.lab is None:
            local = Pool(list(self.devices), folder)
        else:
            if self.locks is None:
                self.locks = Path(tempfile.mkdtemp(prefix="rig-sim-locks-"))
            local = Pool(list(self.devices), self.locks)
        if labgrid is None:
            return local
        from rig.labgrid.claimer import LabgridClaimer, owner_name
        from rig.labgrid.client import LabgridClient

        return LabgridClaimer(LabgridClient(labgrid, owner=owner_name()), local)

    def close(self) -> None:
        """Remove the simulated lab's seams and the bench's folders (even when the first fails)."""
        try:
            if self.lab is not None:
                self.lab.uninstall()
        finally:
            for folder in (self.tmp, self.locks):
                if folder is not None:
                    shutil.rmtree(folder, ignore_errors=True)


def open_bench(
    specs: Sequence[DeviceSpec], sim: bool, time_scale: float = 0.0, store: ReleaseStore | None = None
) -> Bench:
    """The Devices of these devices.yaml entries: real boards, or with `sim` a simulated lab of the
    same boards (provisioned from `store`, else synthetic releases) with its seams installed.
    """
    lab = simulated_lab(specs, time_scale, store).install() if sim else None
    try:
        clock: Clock = lab.clock if lab is not None else SystemClock()
        cloud = cloud_client()  # after the lab's seams: the simulated cloud's token is set by then
        devices = {spec.name: device(spec, clock, cloud) for spec in specs}
    except BaseException:
        if lab is not None:  # its tools folder and servers go with it
            lab.uninstall()
        raise
    return Bench(devices, clock, lab, {s.name: s for s in specs}, store)
