"""A matrix whose boards are labgrid places on other hosts (docs/multi-host.md): the boards are read
from the coordinator's places, and each try of a path runs as `rig path run` on the exporter host
of its place, through labgrid's SSH prefix, with the two releases' files copied there as labgrid
`ManagedFile`s (rig/labgrid/agent.py, under labgrid's own Python). The client keeps the matrix, the
claims and the reports; the record it journals is the one the host printed, naming the host.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shlex
import signal
from dataclasses import dataclass, fields
from pathlib import Path

import sh

from rig import signals
from rig.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_PASSED, EXIT_QUARANTINED, ConfigError
from rig.firmware.release import ReleaseStore
from rig.inventory import DeviceSpec
from rig.labgrid.batch_client import labgrid_python
from rig.labgrid.client import SERVICE, LabgridClient, PlaceState
from rig.labgrid.export import RIG_TAGS
from rig.matrix import MatrixPath
from rig.report.results import PathResult
from rig.runner.run import FAIL

AGENT = Path(__file__).with_name("agent.py")
AGENT_FAILED = 125  # agent.py: the place, the coordinator or the copy failed; the command never ran
GRACE = 30.0  # wall seconds the agent gets beyond its own timeout to report before it is ended
STOP_WAIT = 10.0  # wall seconds the agent gets to end after SIGTERM (then SIGKILL)
RECORDED = (EXIT_PASSED, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_QUARANTINED)  # exit codes that come with a record


def remote_rig_words(command: str) -> list[str]:
    """The words of the rig command on the hosts (`--remote-rig`, split as a shell would: `python3 -m
    rig`, `/opt/rig/venv/bin/rig`); labgrid quotes each word for the host's shell.
    """
    try:
        words = shlex.split(command)
    except ValueError as exc:
        raise ConfigError(f"--remote-rig {command!r} cannot be split into words ({exc}): fix its quotes.") from None
    if not words:
        raise ConfigError("--remote-rig is empty: give the rig command on the hosts (default rig).")
    return words


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


@dataclass
class RemoteTry:
    """One try on a host: its record, whether the host quarantined the board, whether the host ran it."""

    result: PathResult
    quarantined: bool = False  # the host's command exited 4
    ran: bool = True  # False: no record came back (unreachable, no place, no agent): the place is not used again


def _record(out: str, p: MatrixPath) -> PathResult | None:
    """The host's record of `p`: the last line of stdout that is one; None if there is none."""
    for line in reversed(out.splitlines()):
        try:
            data = json.loads(line)
            known = {f.name for f in fields(PathResult)}
            result = PathResult.from_json({k: v for k, v in data.items() if k in known})
        except (ValueError, TypeError, AttributeError):
            continue  # a line of something else (a shell's greeting) or a record of another rig version
        if result.id == p.id:
            return result
    return None


def _end(proc: sh.RunningCommand) -> None:
    """The agent ends: SIGTERM first (it ends its ssh, and the host's command stops on EOF), then SIGKILL."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not proc.is_alive():
            return
        with contextlib.suppress(ProcessLookupError):
            proc.signal_group(sig)
        with contextlib.suppress(sh.TimeoutException, sh.ErrorReturnCode):
            proc.wait(timeout=STOP_WAIT)


class RemoteRunner:
    """Tries of paths on the hosts of acquired places, as `rig path run` there."""

    def __init__(self, client: LabgridClient, store: ReleaseStore, timeout: float, rig: str = "rig") -> None:
        self.client = client
        self.store = store
        self.timeout = timeout  # wall seconds for one try on the host (copy, set-up, path, hand-back)
        self.rig = remote_rig_words(rig)  # the rig command on the hosts (on their PATH by default)
        self.python = labgrid_python(client.program)

    def command(self, p: MatrixPath, place: str) -> list[str]:
        """The agent's command line for one try of `p` on `place` (its host's `rig path run`)."""
        files = sorted(
            {str(m.path) for v in (p.from_version, p.to_version) for m in self.store.get(p.platform, v).modules()}
        )
        names = [Path(f).name for f in files]
        if len(set(names)) < len(names):  # the host gets one folder of them
            twice = sorted({n for n in names if names.count(n) > 1})
            raise ConfigError(
                f"The releases of {p.id} have files of the same name ({', '.join(twice)}): give each a name of its "
                "own to run it on a labgrid host."
            )
        return [
            str(AGENT), "--coordinator", self.client.coordinator, "--place", place, "--timeout", f"{self.timeout:g}",
            "--stop-on-eof", *(arg for f in files for arg in ("--file", f)), "--",
            *self.rig, "path", "run", "--releases", "{files}", "--platform", p.platform, "--from", p.from_version,
            "--to", p.to_version, "--method", p.method, "--board", place, "--stop-on-eof",
        ]  # fmt: skip

    def attempt(self, p: MatrixPath, place: str, exporter: str) -> RemoteTry:
        """One try on the place's host: its record (named after `exporter`), or a failed one saying why."""
        try:
            args = self.command(p, place)
        except ConfigError as exc:
            return RemoteTry(self._failed(p, place, exporter, str(exc)))
        env = {**os.environ, **self.client.owner_env()}
        # the agent's stdin: a pipe whose write end only this process holds (close-on-exec, and sh's
        # children close other descriptors), fed nothing and closed by sh when the agent has ended, so
        # the agent reads EOF (and stops, `--stop-on-eof`) only when this process dies first
        proc: sh.RunningCommand | None = None
        try:
            with signals.held():  # a stop signal during the launch comes once `proc` holds the agent
                proc = sh.Command(self.python)(
                    "-I", *args, _env=env, _bg=True, _bg_exc=False, _new_session=True, _ok_code=list(range(256)),
                    _tty_out=False, _in=queue.Queue(), _preexec_fn=signals.unheld_in_child,
                )  # fmt: skip
            proc.wait(timeout=self.timeout + GRACE)
        except sh.TimeoutException:
            return RemoteTry(
                self._failed(p, place, exporter, f"{exporter} did not answer within {self.timeout + GRACE:g} s"),
                ran=False,
            )
        except sh.ErrorReturnCode as exc:  # the agent was killed by a signal that was not ours
            why = f"the agent running the path on {exporter} was killed ({type(exc).__name__})"
            return RemoteTry(self._failed(p, place, exporter, why), ran=False)
        finally:
            if proc is not None:
                _end(proc)
        assert proc is not None  # launched, or the try raised
        out, err = proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")
        code = proc.exit_code
        result = _record(out, p) if code in RECORDED else None
        if result is not None:
            result.host = exporter
            return RemoteTry(result, quarantined=code == EXIT_QUARANTINED)
        said = (err.strip().splitlines() or [f"exit code {code}"])[-1]
        return RemoteTry(self._failed(p, place, exporter, f"{exporter} did not run the path: {said}"), ran=False)

    def _failed(self, p: MatrixPath, place: str, exporter: str, why: str) -> PathResult:
        return PathResult(p.id, p.platform, p.from_version, p.to_version, p.method, FAIL, why, place, host=exporter)
