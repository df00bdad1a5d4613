"""The bench of one pytest process (one per xdist worker): devices.yaml or the default simulated
bench, the release store, the simulated lab, the Device objects and the board pool. rig.assemble
builds the bench (and imports the simulator only for --rig-sim).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import tempfile
from pathlib import Path

import pytest

from rig import assemble, matrix, platforms, schedule
from rig.assemble import Bench
from rig.device import Device
from rig.firmware.release import ReleaseStore
from rig.inventory import Inventory, load_inventory
from rig.labgrid.claimer import LabgridClaimer, owner_name
from rig.labgrid.client import DEVICE_OS, IN_SERVICE, SERVICE, LabgridClient, PlaceState
from rig.labgrid.remote import GRACE, RemoteRunner, exporter_of, place_boards
from rig.methods import Via
from rig.pool import Claimer, Pool
from rig.pytest_chains import STARTS_KEY
from rig.report import results as report_results
from rig.transport.errors import TimeoutError_, ToolError


def listed(config: pytest.Config, name: str) -> list[str]:
    """Values of a repeatable comma-list option."""
    return [v.strip() for item in config.getoption(name) for v in item.split(",") if v.strip()]


class RigSession:
    """Per-process state: the bench, the releases, the simulated lab (one per xdist worker)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.sim = bool(config.getoption("--rig-sim"))
        self.devices_file = config.getoption("--rig-devices") or config.getini("rig_devices")
        self.labgrid: str | None = config.getoption("--rig-labgrid")
        # the boards are the coordinator's places, each path run on its host (rig/labgrid/remote.py)
        self.remote = bool(self.labgrid) and not self.devices_file and not self.sim
        self._places: dict[str, PlaceState] | None = None
        self._runner: RemoteRunner | None = None
        self.unusable: dict[str, str] = {}  # places whose host did not run a path, and why (this process)
        self._store: ReleaseStore | None = None
        self._inventory: Inventory | None = None
        self._bench: Bench | None = None
        self._tmp: Path | None = None
        self._starts: dict[str, str] | None = None

    @property
    def has_bench(self) -> bool:
        """True with devices.yaml, the simulated lab, or a labgrid lab."""
        return bool(self.devices_file) or self.sim or self.remote

    def folder_option(self, name: str) -> str | None:
        """A path option (`rig_releases` -> --rig-releases), else its ini value."""
        value = self.config.getoption(f"--{name.replace('_', '-')}") or self.config.getini(name)
        return str(value) if value else None

    def platforms(self) -> list[str]:
        """Platforms of the matrix."""
        bench = [d.platform for d in self.inventory().devices] if self.devices_file or self.remote else None
        return matrix.run_platforms(listed(self.config, "--rig-platforms"), bench)

    def store(self) -> ReleaseStore | None:
        """The release store: --rig-releases, or synthetic releases for the simulated lab."""
        if self._store is None:
            folder = self.folder_option("rig_releases")
            if folder:
                self._store = ReleaseStore.scan(Path(folder)).require_releases()
            elif self.sim:
                self._tmp = Path(tempfile.mkdtemp(prefix="rig-synthetic-"))
                self._store = matrix.write_synthetic_store(self._tmp, self.platforms())
        return self._store

    def inventory(self) -> Inventory:
        """devices.yaml, or with --rig-sim alone a default bench: per platform one offline board and
        one online board (tag `cloud`) for the OTA paths; offline boards keep the cloud's healer out
        of the other paths (§6.4).
        """
        if self._inventory is None:
            if self.devices_file:
                self._inventory = load_inventory(Path(self.devices_file))
            elif self.remote:
                self._inventory = Inventory(devices=place_boards(self.places()))
            else:
                self._inventory = Inventory(devices=assemble.matrix_bench(self.platforms()))
        return self._inventory

    def candidates(self, wanted: set[str] | None, method: str | None) -> list[str]:
        """The boards a test may claim (rig.assemble.candidates: OTA wants a connected board), without
        the places whose host did not run a path.
        """
        return [n for n in assemble.candidates(self.inventory().devices, wanted, method) if n not in self.unusable]

    def chain_starts(self) -> dict[str, str]:
        """The Device OS each platform's boards run when the run starts, where the rig knows it (the
        simulated lab's devices.yaml; a labgrid lab's `device_os` place tags); a chain of paths
        starts there. An xdist worker takes the controller's, so every process orders the paths alike.
        """
        if self._starts is None:
            given = getattr(self.config, "workerinput", {}).get(STARTS_KEY)
            self._starts = json.loads(given) if given is not None else self._known_starts()
        return self._starts

    def _known_starts(self) -> dict[str, str]:
        starts: dict[str, str] = {}
        if self.sim:
            for spec in sorted(self.inventory().devices, key=lambda d: d.name):
                starts.setdefault(platforms.by_name(spec.platform).name, spec.sim.device_os)
        elif self.remote:
            for _, state in sorted(self.places().items()):
                version, platform = state.tags.get(DEVICE_OS), state.tags.get("platform")
                if version and platform and state.tags.get(SERVICE) == IN_SERVICE:
                    starts.setdefault(platform, version)
        return starts

    def schedule(self, paths: list[matrix.MatrixPath]) -> list[list[matrix.MatrixPath]]:
        """The selected paths as runs, one per board of their class (rig/schedule.py), for --rig-schedule
        circuit; balanced by the planner's estimates when the releases are at hand.
        """
        starts, store = self.chain_starts(), self.store()
        estimates = schedule.Estimates(store, starts) if store is not None else None
        return schedule.order(paths, self._boards_of_class, starts, estimates)

    def _boards_of_class(self, key: tuple[str, bool]) -> int:
        platform, over_the_air = key
        return len(self.in_service(self.candidates({platform}, Via.OTA if over_the_air else Via.DFU)))

    def in_service(self, names: list[str]) -> list[str]:
        """The boards of `names` not quarantined in the host's lock folder (a simulated bench's lock
        folder is its own and new, so none of its boards is quarantined when a run begins).
        """
        if self.sim:
            return names
        if self.remote:
            return [name for name in names if self.places()[name].tags.get(SERVICE) == IN_SERVICE]
        folder = self.folder_option("rig_lock_dir")
        pool = Pool(names, Path(folder) if folder else None)
        return [name for name in names if pool.quarantined(name) is None]

    def client(self) -> LabgridClient:
        """The labgrid coordinator of --rig-labgrid, as this process (its own owner name)."""
        assert self.labgrid is not None
        return LabgridClient(self.labgrid, owner=owner_name())

    def places(self) -> dict[str, PlaceState]:
        """The coordinator's places as the run found them (read once per process: the boards of the matrix)."""
        if self._places is None:
            self._places = self.client().places()
        return self._places

    def host_of(self, board: str) -> str:
        """The host whose bench has `board` now: a place's exporter, read afresh (`rig labgrid places
        --move` may have moved it since the run began; the places known at its start if the coordinator
        does not answer), else this host.
        """
        if not self.remote:
            return socket.gethostname()
        try:
            state = self.client().places().get(board)
        except (ToolError, TimeoutError_):
            state = None
        return exporter_of(state or self.places()[board])

    def remote_try(self, path: matrix.MatrixPath, place: str, claimer: Claimer) -> report_results.PathResult:
        """One try of `path` as `rig path run` on the host of `place`. A board its host quarantined is
        quarantined on the coordinator too; a place whose host did not run the path (no record came
        back) is not given another path in this process.
        """
        if self._runner is None:
            store = self.store()
            assert store is not None
            watchdog = float(self.config.getoption("--rig-path-timeout"))
            timeout = max(watchdog - 2 * GRACE, watchdog / 2)  # the agent ends the try before the watchdog does
            self._runner = RemoteRunner(self.client(), store, timeout, self.config.getoption("--rig-remote-rig"))
        exporter = self.host_of(place)
        tried = self._runner.attempt(path, place, exporter)
        if tried.quarantined:
            claimer.quarantine(place, f"quarantined on {exporter} after {path.id}: {tried.result.error}")
        if not tried.ran:
            self.unusable[place] = tried.result.error or "no record"
        self._note_device_os(place, tried.result)
        return tried.result

    def _note_device_os(self, place: str, result: report_results.PathResult) -> None:
        """Tag the place with the Device OS its path left the board at (removed when not known): the
        next night's chains start there. Only a hint (every path sets its board up), so a coordinator
        that does not take it costs nothing more than a set-up.
        """
        to, at_from = result.to_version, result.from_version
        left_at = {"pass": to, "completed-over-the-air": to, "refused": at_from}
        with contextlib.suppress(ToolError, TimeoutError_):
            self.client().set_tags(place, {DEVICE_OS: left_at.get(result.outcome, "")})

    def devices(self) -> dict[str, Device]:
        """Devices of the bench, on the lab's clock when simulated."""
        if self._bench is None:
            scale = self.config.getoption("--rig-time-scale")
            store = self.store() if self.sim else None
            self._bench = assemble.open_bench(self.inventory().devices, self.sim, scale, store)
        return self._bench.devices

    def pool(self) -> Claimer:
        """Board locks (the bench's `claimer`: a simulated bench keeps them in a private folder; a
        labgrid lab's boards are its places only, each host locks its own boards too).
        """
        if self.remote:
            return LabgridClaimer(self.client())
        self.devices()
        assert self._bench is not None
        folder = self.folder_option("rig_lock_dir")
        return self._bench.claimer(Path(folder) if folder else None, self.config.getoption("--rig-labgrid"))

    def close(self) -> None:
        """Remove the simulated lab and the synthetic releases."""
        if self._bench is not None:
            self._bench.close()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
