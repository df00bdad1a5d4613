"""Claiming boards as labgrid places (docs/multi-host.md): a `Claimer` (rig/pool.py) whose locks live
on a labgrid coordinator, so every client of the lab, on any host, shares the boards fairly.

A claim reserves by tags (the coordinator allocates places in the order reservations came, so
waiting clients take turns), acquires the allocated place, and on leaving always releases it and
cancels the reservation (a released place stays held by its reservation otherwise). Each process
is its own owner (`LG_USERNAME=rig-<user>-<pid>`): xdist workers never release each other's
places, and a place held by a process of this host that has died is released before it is needed
again. A quarantined place carries `service=quarantined` and the reason as its comment; claims ask
for `service=ok`, so the coordinator never allocates it.
"""

from __future__ import annotations

import getpass
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager

from rig.clock import Clock, Deadline, SystemClock
from rig.labgrid.client import IN_SERVICE, SERVICE, LabgridClient, PlaceState
from rig.pool import CLAIM_TIMEOUT, Claimer, NoBoardError

QUARANTINED = "quarantined"  # the SERVICE tag of a place out of service
WAIT_STEP = 5.0  # wall seconds per `labgrid-client wait` (each one keeps the reservation alive)


def owner_name(pid: int | None = None) -> str:
    """The labgrid user of this process: unique per process, and naming the process."""
    return f"rig-{getpass.getuser()}-{os.getpid() if pid is None else pid}"


def _stale(holder: str) -> bool:
    """A place held by a rig process of this host that is gone."""
    host, _, user = holder.partition("/")
    prefix = f"rig-{getpass.getuser()}-"
    if host != socket.gethostname() or not user.startswith(prefix) or not user[len(prefix) :].isdigit():
        return False
    try:
        os.kill(int(user[len(prefix) :]), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class LabgridClaimer:
    """Boards (by place name) claimed on a labgrid coordinator: a `Claimer`."""

    def __init__(self, client: LabgridClient, local: Claimer | None = None) -> None:
        self.client = client
        self.local = local  # the host's own board locks, held too: a rig run that ignores labgrid cannot collide

    def _places(self, candidates: list[str]) -> dict[str, PlaceState]:
        places = self.client.places()
        for name in candidates:
            if name not in places:
                raise NoBoardError(
                    f"{name} is not a place on the labgrid coordinator {self.client.coordinator}: run rig labgrid "
                    "export and rig labgrid places on its host."
                )
        return places

    def quarantined(self, name: str) -> str | None:
        """Why a place is out of service, or None."""
        state = self.client.places().get(name)
        return _reason(state) if state is not None else None

    def quarantine(self, name: str, reason: str) -> None:
        """Take a place out of service for every client of the lab (tag and comment)."""
        self.client.call("-p", name, "set-tags", f"{SERVICE}={QUARANTINED}")
        self.client.call("-p", name, "set-comment", f"quarantined by the rig: {reason}")

    def _release_stale(self, places: dict[str, PlaceState], names: list[str]) -> None:
        for name in names:
            holder = places[name].acquired
            if holder and _stale(holder):
                self.client.call("-p", name, "release", "--kick")
                for token, owner in self.client.reservations().items():
                    if owner == holder:
                        self.client.call("cancel-reservation", token)

    @contextmanager
    def claim(
        self, candidates: list[str], clock: Clock, timeout: float = CLAIM_TIMEOUT, start: int = 0
    ) -> Iterator[str]:
        """Hold one free place of `candidates` until the block ends (`start` is the coordinator's to choose)."""
        del start  # the coordinator allocates, first come first served, in real time
        if not candidates:
            raise NoBoardError("No board of that kind is in devices.yaml.")
        places = self._places(candidates)
        usable = [n for n in candidates if _reason(places[n]) is None]
        if not usable:
            name = candidates[0]
            raise NoBoardError(
                f"{name} is quarantined ({_reason(places[name])}); fix the board, then "
                f"labgrid-client -p {name} set-tags {SERVICE}={IN_SERVICE}."
            )
        self._release_stale(places, usable)
        # one candidate: the coordinator's own tag of a place's name; several: the tags they share
        tags = {"name": usable[0]} if len(usable) == 1 else _common_tags([places[n] for n in usable])
        token = self.client.reserve(tags | {SERVICE: IN_SERVICE})
        try:
            name = self._allocated(token, Deadline(SystemClock(), timeout), usable)
            self.client.call("-p", name, "acquire")
            try:
                if self.local is None:
                    yield name
                else:
                    with self.local.claim([name], clock, timeout) as name:
                        yield name
            finally:
                self.client.call("-p", name, "release")
        finally:
            self.client.call("cancel-reservation", token)

    def _allocated(self, token: str, deadline: Deadline, usable: list[str]) -> str:
        while (name := self.client.allocation(token, min(WAIT_STEP, max(deadline.remaining(), 0.1)))) is None:
            if deadline.expired():
                raise NoBoardError(
                    f"None of {', '.join(usable)} became free within {deadline.timeout:g} s on the labgrid "
                    f"coordinator {self.client.coordinator}: other clients hold them; wait for them to end."
                )
        if name not in usable:
            raise NoBoardError(
                f"The labgrid coordinator allocated {name}, which is not one of {', '.join(usable)}: give boards "
                "of one platform the same tags on every host (rig labgrid export)."
            )
        return name


def _reason(state: PlaceState) -> str | None:
    if state.tags.get(SERVICE) != QUARANTINED:
        return None
    return state.comment.removeprefix("quarantined by the rig: ") or "no reason given"


def _common_tags(states: list[PlaceState]) -> dict[str, str]:
    """The platform and cloud tags every candidate shares (what a reservation can ask for)."""
    keys = ("platform", "cloud")
    return {k: v for k in keys if len({s.tags.get(k) for s in states}) == 1 and (v := states[0].tags.get(k))}
