"""A matrix whose boards are labgrid places on other hosts (docs/multi-host.md): the boards are read
from the coordinator's places, and each try of a path runs as `rig path run` on the exporter host
of its place, through labgrid's SSH prefix, with the two releases' files copied there as labgrid
`ManagedFile`s (rig/labgrid/agent.py, under labgrid's own Python). The client keeps the matrix, the
claims and the reports; the record it journals is the one the host printed, naming the host.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import sh

from rig.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_PASSED, EXIT_QUARANTINED, ConfigError
from rig.firmware.release import ReleaseStore
from rig.inventory import DeviceSpec
from rig.labgrid.client import SERVICE, LabgridClient, PlaceState, default_program
from rig.labgrid.export import RIG_TAGS
from rig.matrix import MatrixPath
from rig.report.results import PathResult
from rig.runner.run import FAIL

AGENT = Path(__file__).with_name("agent.py")
AGENT_FAILED = 125  # agent.py: the place, the coordinator or the copy failed; the command never ran
SSH_FAILED = 255  # ssh's own exit code: the host could not be reached
GRACE = 30.0  # wall seconds the agent gets beyond the path's timeout to report before it is killed
RECORDED = (EXIT_PASSED, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_QUARANTINED)  # exit codes that come with a record


def exporter_of(state: PlaceState) -> str:
    """The exporter (host) whose resources a place matches: the first part of its match."""
    return sorted(state.matches)[0].split("/")[0] if state.matches else "?"


def place_boards(places: dict[str, PlaceState]) -> list[DeviceSpec]:
    """The boards of the lab: every place `rig labgrid places` made (tags platform, device_id, service)."""
    boards = []
    for name, state in sorted(places.items()):
        tags = state.tags
        if not {"platform", "device_id", SERVICE} <= set(tags):
            continue
        extra = [k if v == "yes" else f"{k}={v}" for k, v in sorted(tags.items()) if k not in RIG_TAGS]
        cloud = ["cloud"] if tags.get("cloud") == "yes" else []
        boards.append(DeviceSpec(name=name, platform=tags["platform"], device_id=tags["device_id"], tags=cloud + extra))
    if not boards:
        raise ConfigError(
            "The labgrid coordinator has no place the rig made: on each bench host run `rig labgrid export` and "
            "`rig labgrid places`, or pass --devices for boards on this host."
        )
    return boards


def labgrid_python(client_program: str) -> str:
    """The Python of the venv labgrid-client is in (agent.py imports labgrid)."""
    found = sh.which(client_program) if os.sep not in client_program else client_program
    if not found:
        raise ConfigError(f"{client_program} is not installed: run tools/labgrid/install.")
    return str(Path(str(found)).resolve().parent / "python")


class RemoteRunner:
    """Tries of paths on the hosts of acquired places, as `rig path run` there."""

    def __init__(self, client: LabgridClient, store: ReleaseStore, timeout: float, rig: str = "rig") -> None:
        self.client = client
        self.store = store
        self.timeout = timeout  # wall seconds for one try on the host (copy, set-up, path, hand-back)
        self.rig = rig  # the rig command on the hosts (on their PATH by default)
        self.python = labgrid_python(client.program or default_program())

    def command(self, p: MatrixPath, place: str) -> list[str]:
        """The agent's command line for one try of `p` on `place` (its host's `rig path run`)."""
        files = sorted(
            {str(m.path) for v in (p.from_version, p.to_version) for m in self.store.get(p.platform, v).modules()}
        )
        return [
            str(AGENT), "--coordinator", self.client.coordinator, "--place", place, "--timeout", f"{self.timeout:g}",
            *(arg for f in files for arg in ("--file", f)), "--",
            self.rig, "path", "run", "--releases", "{files}", "--platform", p.platform, "--from", p.from_version,
            "--to", p.to_version, "--method", p.method, "--board", place,
        ]  # fmt: skip

    def attempt(self, p: MatrixPath, place: str, exporter: str) -> tuple[PathResult, bool]:
        """One try on the place's host: its record (named after `exporter`), and whether the host quarantined it."""
        env = {**os.environ, "LG_USERNAME": self.client.owner or ""}
        proc = sh.Command(self.python)(
            *self.command(p, place), _env=env, _bg=True, _new_session=True, _ok_code=list(range(256)), _tty_out=False
        )
        try:
            proc.wait(timeout=self.timeout + GRACE)
        except sh.TimeoutException:
            return self._failed(p, place, exporter, f"the host did not answer within {self.timeout + GRACE:g} s"), False
        finally:
            if proc.is_alive():  # a timeout, the watchdog, Ctrl-C: the agent and its ssh go
                proc.signal_group(signal.SIGKILL)
        out, err = proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")
        code = proc.exit_code
        lines = [line for line in out.splitlines() if line.startswith("{")]
        if code in RECORDED and lines:
            result = PathResult(**json.loads(lines[-1]))
            result.host = exporter
            return result, code == EXIT_QUARANTINED
        said = (err.strip().splitlines() or [f"exit code {code}"])[-1]
        why = "could not be reached" if code == SSH_FAILED else "did not run the path"
        return self._failed(p, place, exporter, f"{exporter} {why}: {said}"), False

    def _failed(self, p: MatrixPath, place: str, exporter: str, why: str) -> PathResult:
        return PathResult(p.id, p.platform, p.from_version, p.to_version, p.method, FAIL, why, place, host=exporter)
