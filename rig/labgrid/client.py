"""The real `labgrid-client` program, with a timeout on every call (docs/multi-host.md).

labgrid runs in a venv of its own (tools/labgrid/install: its pyserial fork would overwrite the
rig's pyserial), so the rig drives it as a program, like uhubctl and dfu-util: its calls run in one
labgrid client process per rig process (rig/labgrid/batch.py), the waits as labgrid-client itself.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import sh

from rig import signals
from rig.clock import SystemClock
from rig.errors import ConfigError
from rig.labgrid.batch_client import batch_for
from rig.labgrid.export import Place
from rig.transport.errors import ToolError
from rig.transport.tools import command

NOT_CONNECTED = "Could not connect to coordinator"  # labgrid-client's words when its session did not start
CONNECT_TRIES = 3  # a call whose session did not start ran nothing: it is made again, this often at most
CONNECT_PAUSE = 1.0  # wall seconds between those tries (a coordinator busy or restarting)
HINT = "run tools/labgrid/install (a venv of its own), or put labgrid-client on PATH or in RIG_LABGRID_CLIENT"
_PLACE = re.compile(r"^Place '([^']+)':$")


SERVICE = "service"  # a tag of every place the rig makes: ok, or quarantined (rig/labgrid/claimer.py)
IN_SERVICE = "ok"
# a tag the rig keeps up to date: the Device OS the place's board was left at by its last path (none
# when unknown); a night's chains start there (rig/schedule.py)
DEVICE_OS = "device_os"
_TOKEN = re.compile(r"^export LG_TOKEN=(\S+)$", re.M)
_TAG_START = re.compile(r"(?:^|(?<=, ))([a-z][a-z0-9_]*)=")


@dataclass
class PlaceState:
    """What the coordinator holds for a place: tags, match patterns, comment and holder."""

    tags: dict[str, str] = field(default_factory=dict)
    matches: set[str] = field(default_factory=set)
    comment: str = ""
    acquired: str | None = None  # "host/user" of the holder


@dataclass(frozen=True)
class Reservation:
    """One reservation: its token, owner (host/user), state and the place allocated to it."""

    token: str
    owner: str
    state: str
    place: str | None


def stop_waiting(waits: list[sh.RunningCommand]) -> None:
    """End `keep_alive` waits that still run."""
    for wait in waits:
        if wait.is_alive():
            with contextlib.suppress(ProcessLookupError):
                wait.kill()
        with contextlib.suppress(Exception):  # reaped; its exit code does not matter
            wait.wait(timeout=10)


def default_program() -> str:
    """RIG_LABGRID_CLIENT, else tools/labgrid/venv's client in a checkout, else labgrid-client on PATH."""
    if chosen := os.environ.get("RIG_LABGRID_CLIENT"):
        return chosen
    checkout = Path(__file__).resolve().parents[2] / "tools" / "labgrid" / "venv" / "bin" / "labgrid-client"
    return str(checkout) if checkout.exists() else "labgrid-client"


def _tags(text: str) -> dict[str, str]:
    """`k=v, k2=v2` as labgrid prints tags; a value may itself hold ", " (labgrid checks only its first character)."""
    keys = list(_TAG_START.finditer(text))
    ends = [m.start() - 2 for m in keys[1:]] + [len(text)]  # each value ends at the ", " before the next key
    return {m.group(1): text[m.end() : end] for m, end in zip(keys, ends, strict=True)}


def parse_places(text: str) -> dict[str, PlaceState]:
    """Places from `labgrid-client -v places`."""
    found: dict[str, PlaceState] = {}
    current: PlaceState | None = None
    in_matches = False
    for line in text.splitlines():
        if m := _PLACE.match(line):
            current = found.setdefault(m.group(1), PlaceState())
            in_matches = False
        elif current is None:
            continue
        elif line.startswith("  comment: "):
            current.comment = line.removeprefix("  comment: ")
        elif line.startswith("  acquired: "):
            holder = line.removeprefix("  acquired: ")
            current.acquired = None if holder == "None" else holder
        elif line.startswith("  tags: "):
            current.tags = _tags(line.removeprefix("  tags: "))
        elif line == "  matches:":
            in_matches = True
        elif in_matches and line.startswith("    "):
            current.matches.add(line.strip().split(" -> ")[0])
        else:
            in_matches = False
    return found


class LabgridClient:
    """`labgrid-client -x COORDINATOR ...`."""

    def __init__(
        self, coordinator: str, program: str | None = None, timeout: float = 30.0, owner: str | None = None
    ) -> None:
        self.coordinator = coordinator
        self.program = program or default_program()
        self.timeout = timeout
        self.owner = owner  # LG_USERNAME: who the coordinator sees (host/owner)

    def call(self, *args: str, timeout: float | None = None) -> str:
        """One labgrid-client command against the coordinator, as the owner; its output (run by the
        process's labgrid batch: rig/labgrid/batch.py).
        """
        command(self.program, HINT)  # not installed: one sentence saying how
        env = {k: v for k, v in os.environ.items() if k.startswith("LG_")} | self.owner_env()
        argv = ["-x", self.coordinator, *args]
        for _ in range(CONNECT_TRIES - 1):
            try:
                return batch_for(self.program).call(argv, env, timeout or self.timeout)
            except ToolError as exc:
                if NOT_CONNECTED not in str(exc):
                    raise
            SystemClock().sleep(CONNECT_PAUSE)
        return batch_for(self.program).call(argv, env, timeout or self.timeout)

    def owner_env(self) -> dict[str, str]:
        """The environment entries that make a labgrid program act as the owner (none without one)."""
        return {"LG_USERNAME": self.owner} if self.owner else {}

    def places(self) -> dict[str, PlaceState]:
        """Every place on the coordinator, with its tags, matches, comment and holder."""
        return parse_places(self.call("-v", "places"))

    def reserve(self, tags: dict[str, str]) -> str:
        """A reservation for one place with all of `tags`; its token."""
        out = self.call("reserve", "--shell", *(f"{k}={v}" for k, v in tags.items()))
        found = _TOKEN.search(out)
        if found is None:
            raise ToolError(f"labgrid-client reserve printed no token: {out.strip()[:200]}")
        return found.group(1)

    def reservations(self) -> list[Reservation]:
        """Every reservation on the coordinator (`labgrid-client -v reservations`)."""
        found = []
        for block in self.call("-v", "reservations").split("Reservation '")[1:]:
            token, state = re.search(r"^  token: (\S+)$", block, re.M), re.search(r"^  state: (\w+)$", block, re.M)
            owner = re.search(r"^  owner: (\S+)$", block, re.M)
            place = re.search(r"^    main: (\S+)$", block.partition("allocations:")[2], re.M)
            if token:
                found.append(
                    Reservation(
                        token.group(1),
                        owner.group(1) if owner else "",
                        state.group(1) if state else "invalid",
                        place.group(1) if place else None,
                    )
                )
        return found

    def reservation_states(self) -> dict[str, tuple[str, str | None]]:
        """Every reservation's state (waiting, allocated, acquired, expired, invalid) and allocated place, by token."""
        return {r.token: (r.state, r.place) for r in self.reservations()}

    def keep_alive(self, token: str) -> sh.RunningCommand:
        """`labgrid-client wait TOKEN` in the background: it polls the reservation (which keeps it from
        expiring) until a place is allocated; stop it with `stop_waiting`. Call it inside
        `signals.held()` and keep what it returns before the block ends: a stop signal then comes once
        the caller holds the process.
        """
        env = {**os.environ, **self.owner_env()}
        program = command(self.program, HINT)
        return program(
            "-x", self.coordinator, "wait", token, _bg=True, _bg_exc=False, _env=env, _ok_code=list(range(256)),
            _preexec_fn=signals.unheld_in_child,
        )  # fmt: skip

    def set_tags(self, place: str, tags: dict[str, str]) -> None:
        """Set tags of a place (the others stay); an empty value removes a tag."""
        self.call(f"--place={place}", "set-tags", *(f"{k}={v}" for k, v in tags.items()))

    def apply(self, wanted: list[Place], exporter: str, move: bool = False) -> list[str]:
        """Make `exporter`'s places exactly `wanted` (created, updated, the ones no longer wanted deleted);
        a place of another exporter is taken over only with `move`. What was done, a line each.
        """
        have = self.places()
        done: list[str] = []
        ours = f"{exporter}/"
        for place in wanted:
            state = have.get(place.name)
            if state is not None and state.matches and not move and not any(m.startswith(ours) for m in state.matches):
                raise ConfigError(
                    f"place {place.name} belongs to another exporter ({', '.join(sorted(state.matches))}): rename "
                    "the board, or pass --move if it moved to this host."
                )
            created = state is None
            if state is None:
                self.call(f"--place={place.name}", "create")
                state = PlaceState()
            stale = sorted(state.matches - set(place.matches))
            missing = [m for m in place.matches if m not in state.matches]
            if stale:
                self.call(f"--place={place.name}", "del-match", *stale)
            if missing:
                self.call(f"--place={place.name}", "add-match", *missing)
            kept = {DEVICE_OS: state.tags[DEVICE_OS]} if DEVICE_OS in state.tags else {}  # the board is as it was
            want = place.tags | {SERVICE: state.tags.get(SERVICE, IN_SERVICE)} | kept  # a quarantine stays
            tags = {k: "" for k in state.tags if k not in want} | want
            if tags != state.tags:
                self.set_tags(place.name, tags)
            changes = ["created,"] if created else []
            changes += [f"+{m}" for m in missing] + [f"-{m}" for m in stale]
            changes += [f"{k}={v}" for k, v in tags.items() if state.tags.get(k) != v]
            done.append(f"{place.name}: {' '.join(changes) if changes else 'up to date'}")
        names = {p.name for p in wanted}
        for name, state in sorted(have.items()):
            if name in names or not state.matches or not all(m.startswith(ours) for m in state.matches):
                continue  # another exporter's, or not made from a places file
            if state.acquired:
                done.append(f"{name}: no longer in the file, kept while {state.acquired} holds it")
                continue
            self.call(f"--place={name}", "delete")
            done.append(f"{name}: deleted (no longer in the file)")
        return done
