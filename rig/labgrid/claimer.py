"""Claiming boards as labgrid places (docs/multi-host.md): a `Claimer` (rig/pool.py) whose locks live
on a labgrid coordinator, so every client of the lab, on any host, shares the boards fairly.

A claim reserves each candidate place by name (labgrid's `name` tag; the coordinator serves each
place's reservations in the order they came, so waiting clients take turns), takes the first place
allocated and cancels the other reservations, acquires it, takes the host's own lock of the board
too, and on leaving always releases the place and cancels its reservation (a released place stays
held by its reservation otherwise). A reservation that expired (a suspended client) is made anew.

Each process is its own owner: `LG_USERNAME=rig-<user>-<boot>-<pidns>-<pid>`, so xdist workers
never release each other's places, and a place held by a rig process that is gone (same boot of
this machine, same pid namespace, pid not running) is released before it is needed again; a holder
that this process cannot see is never touched. A quarantined board carries `service=quarantined`
and the reason as the place's comment (claims ask for `service=ok`), and the host's quarantine
marker too, so runs with and without labgrid agree.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import socket
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import sh

from rig import signals
from rig.clock import Clock, Deadline, SystemClock
from rig.labgrid.client import DEVICE_OS, IN_SERVICE, SERVICE, LabgridClient, PlaceState, stop_waiting
from rig.pool import CLAIM_TIMEOUT, Claimer, NoBoardError
from rig.transport.errors import TimeoutError_, ToolError

QUARANTINED = "quarantined"  # the SERVICE tag of a place out of service
POLL = 0.2  # wall seconds between checks that each reservation's background `labgrid-client wait` still runs
RESTART_EVERY = 3.0  # wall seconds at least between two starts of a reservation's wait (one that keeps dying)
LOOK_EVERY = 15.0  # wall seconds between looks at the reservations while every wait still runs (a wait ends
# when its reservation is allocated or gone, so that is when the claim looks; each look starts a labgrid-client)
ALIVE = ("waiting", "allocated", "acquired")


def _identity() -> str:
    """The boot of this machine and the pid namespace: where a pid names one process."""
    boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip().replace("-", "")[:12]
    return f"{boot}-{os.stat('/proc/self/ns/pid').st_ino}"


def owner_name(pid: int | None = None) -> str:
    """The labgrid user of this process (or of `pid` here): unique per process, naming the process."""
    return f"rig-{getpass.getuser()}-{_identity()}-{os.getpid() if pid is None else pid}"


def labgrid_host() -> str:
    """The host part labgrid-client gives its owner name (LG_HOSTNAME, else the host name)."""
    return os.environ.get("LG_HOSTNAME", socket.gethostname())


def _stale(holder: str) -> bool:
    """A place held by a rig process of this boot and pid namespace that is gone."""
    host, _, user = holder.partition("/")
    mine = f"rig-{getpass.getuser()}-{_identity()}-"
    pid = user.removeprefix(mine)
    if host != labgrid_host() or not user.startswith(mine) or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class LabgridClaimer:
    """Boards (by place name) claimed on a labgrid coordinator, and locked on this host: a `Claimer`."""

    def __init__(self, client: LabgridClient, local: Claimer | None = None) -> None:
        self.client = client
        self.local = local  # the host's own board locks, held too: a rig run that ignores labgrid cannot collide

    def _fail(self, exc: Exception) -> NoBoardError:
        return NoBoardError(
            f"The labgrid coordinator {self.client.coordinator} could not be used ({exc}); check that it runs "
            "and that this host reaches it."
        )

    def quarantined(self, name: str) -> str | None:
        """Why a board is out of service (the host's marker, else its place), or None."""
        if self.local is not None and (reason := self.local.quarantined(name)) is not None:
            return reason
        try:
            state = self.client.places().get(name)
        except (ToolError, TimeoutError_) as exc:
            raise self._fail(exc) from None
        return _reason(state) if state is not None else None

    def quarantine(self, name: str, reason: str) -> None:
        """Take a board out of service for every client of the lab (tag and comment) and on this host."""
        if self.local is not None:
            self.local.quarantine(name, reason)
        try:
            self.client.set_tags(name, {SERVICE: QUARANTINED})
            self.client.call(f"--place={name}", "set-comment", f"quarantined by the rig: {reason}")
        except (ToolError, TimeoutError_) as exc:
            raise self._fail(exc) from None

    @contextmanager
    def claim(
        self,
        candidates: list[str],
        clock: Clock,
        timeout: float = CLAIM_TIMEOUT,
        start: int = 0,
        at: str | None = None,
    ) -> Iterator[str]:
        """Hold one free place of `candidates` until the block ends (`start` is the coordinator's to
        choose); of the places free at once, one whose `device_os` tag is `at` is taken first.
        """
        del start  # the coordinator allocates, first come first served, in real time
        tokens: dict[str, str] = {}
        try:
            name = self._reserve(candidates, tokens, Deadline(SystemClock(), timeout), at)
        except (ToolError, TimeoutError_) as exc:
            self._cancel(tokens.values())
            raise self._fail(exc) from None
        except BaseException:
            self._cancel(tokens.values())
            raise
        try:
            try:
                self.client.call(f"--place={name}", "acquire", "--allow-unmatched")  # the boards are local
            except (ToolError, TimeoutError_) as exc:
                raise self._fail(exc) from None
            if self.local is None:
                yield name
            else:
                with self.local.claim([name], clock, timeout) as name:
                    yield name
        finally:
            self._release(name)  # also after a failed acquire: the coordinator may have done it
            self._cancel(tokens.values())

    def _reserve(self, candidates: list[str], tokens: dict[str, str], deadline: Deadline, at: str | None) -> str:
        """Reserve every usable candidate by name; the first allocated (the others cancelled), a place
        whose board runs `at` before the others (a worker keeps the board its last path left there).
        """
        if not candidates:
            raise NoBoardError("No board of that kind is in devices.yaml.")
        places = self.client.places()
        for name in candidates:
            if name not in places:
                raise NoBoardError(
                    f"{name} is not a place on the labgrid coordinator {self.client.coordinator}: run rig labgrid "
                    "export and rig labgrid places on its host."
                )
        reasons = {n: self._reason(n, places[n]) for n in candidates}
        usable = sorted(
            (n for n in candidates if reasons[n] is None), key=lambda n: places[n].tags.get(DEVICE_OS) != at
        )
        if not usable:
            name = candidates[0]
            raise NoBoardError(
                f"{name} is quarantined ({reasons[name]}); fix the board, then labgrid-client -p {name} set-tags "
                f"{SERVICE}={IN_SERVICE} (and delete the host's quarantine marker if there is one)."
            )
        stale = {h for n in usable if (h := places[n].acquired) and _stale(h)}
        for name in usable:
            if places[name].acquired in stale:
                self.client.call(f"--place={name}", "release", "--kick")
        if stale:  # its reservations too: a released place stays with its reservation for up to 60 s
            # (a pid is looked at again: one reused since by a live rig process is never cancelled)
            self._cancel(r.token for r in self.client.reservations() if r.owner in stale and _stale(r.owner))
        waits: dict[str, sh.RunningCommand] = {}
        looked = Deadline(SystemClock(), LOOK_EVERY)
        restart = {name: Deadline(SystemClock(), 0.0) for name in usable}
        try:
            while True:
                for name in usable:
                    if name not in tokens:
                        tokens[name] = self.client.reserve({"name": name, SERVICE: IN_SERVICE})
                        looked = Deadline(SystemClock(), 0.0)  # a free place is allocated as it is reserved
                waiting = all(w.is_alive() or not restart[n].expired() for n, w in waits.items())
                if waiting and not looked.expired() and not deadline.expired():
                    SystemClock().sleep(POLL)  # every reservation still waits: nothing to look at yet
                    continue
                looked = Deadline(SystemClock(), LOOK_EVERY)
                states = self.client.reservation_states()
                for name in usable:
                    state, place = states.get(tokens[name], ("gone", None))
                    if state in ("allocated", "acquired") and place == name:
                        keep = tokens[name]
                        self._cancel(t for n, t in tokens.items() if n != name)
                        tokens.clear()
                        tokens[name] = keep
                        return name
                    if state not in ALIVE:  # expired (a suspended client) or invalid: reserve again
                        self._cancel([tokens.pop(name)])
                        if (wait := waits.pop(name, None)) is not None:
                            stop_waiting([wait])
                    elif name not in waits:  # it waits: a `labgrid-client wait` keeps it alive and ends when allocated
                        with signals.held():  # a Ctrl-C during the launch comes once `waits` holds the wait
                            waits[name] = self.client.keep_alive(tokens[name])
                    elif state == "waiting" and not waits[name].is_alive() and restart[name].expired():
                        stop_waiting([waits[name]])  # its wait ended (a hiccup): anew, at most every RESTART_EVERY s
                        with signals.held():
                            waits[name] = self.client.keep_alive(tokens[name])
                        restart[name] = Deadline(SystemClock(), RESTART_EVERY)
                if deadline.expired():
                    raise NoBoardError(
                        f"None of {', '.join(usable)} became free within {deadline.timeout:g} s on the labgrid "
                        f"coordinator {self.client.coordinator}: other clients hold them; wait for them to end."
                    )
                SystemClock().sleep(POLL)
        finally:
            stop_waiting(list(waits.values()))

    def _reason(self, name: str, state: PlaceState) -> str | None:
        if self.local is not None and (reason := self.local.quarantined(name)) is not None:
            return reason
        return _reason(state)

    def _release(self, name: str) -> None:
        try:
            self.client.call(f"--place={name}", "release")
        except (ToolError, TimeoutError_) as exc:
            if "is not acquired" not in str(exc):
                warnings.warn(f"place {name} may still be held on {self.client.coordinator}: {exc}", stacklevel=2)

    def _cancel(self, tokens: Iterable[str]) -> None:
        for token in list(tokens):
            with contextlib.suppress(ToolError, TimeoutError_):  # gone already, or the coordinator is
                self.client.call("cancel-reservation", token)


def _reason(state: PlaceState) -> str | None:
    if state.tags.get(SERVICE) != QUARANTINED:
        return None
    return state.comment.removeprefix("quarantined by the rig: ") or "no reason given"
