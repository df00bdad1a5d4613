"""devices.yaml -> a validated inventory of boards (pydantic); every error is one sentence that
names the file, the board and the field, with the fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from rig import platforms
from rig.board_settings import SIM_FAULTS, SimOptions
from rig.errors import ConfigError
from rig.firmware import versions

DEVICE_ID = r"^[0-9a-fA-F]{24}$"
LOCATION = r"^[0-9]+(-[0-9]+(\.[0-9]+)*)?$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HubPort(_Strict):
    """Where a board is plugged in: uhubctl -l LOCATION -p PORT."""

    location: Annotated[str, Field(pattern=LOCATION)]
    port: Annotated[int, Field(ge=1, le=14)]


class _SimVersion(_Strict):
    device_os: str = "2.3.1"

    @field_validator("device_os")
    @classmethod
    def _known_version(cls, value: str) -> str:
        try:
            return versions.lookup(value).semver
        except versions.UnknownVersionError as exc:
            raise ValueError(str(exc).rstrip(".")) from None


class SimSettings(SimOptions, _SimVersion):  # fields in this order: device_os, the SimOptions, faults
    """How the simulated lab models this board (ignored on real benches)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    faults: dict[str, int | bool] = Field(default_factory=dict)  # injected faults (see rig.board_settings)

    @field_validator("faults")
    @classmethod
    def _known_faults(cls, value: dict[str, int | bool]) -> dict[str, int | bool]:
        unknown = sorted(set(value) - SIM_FAULTS)
        if unknown:
            raise ValueError(f"unknown fault {unknown[0]!r} (known: {', '.join(sorted(SIM_FAULTS))})")
        return value


class DeviceSpec(_Strict):
    """One board of the bench."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$", max_length=64)]
    platform: str
    device_id: Annotated[str, Field(pattern=DEVICE_ID)]
    hub: HubPort | None = None
    tags: list[str] = Field(default_factory=list)
    serial: str | None = None
    swd_probe: str | None = None
    sim: SimSettings = Field(default_factory=SimSettings)

    @field_validator("platform")
    @classmethod
    def _known_platform(cls, value: str) -> str:
        try:
            plat = platforms.by_name(value)
        except platforms.UnknownPlatformError as exc:
            raise ValueError(str(exc).rstrip(".")) from None
        if not plat.flashable:
            raise ValueError(f"the {plat.display_name} is not supported by the rig")
        return plat.name

    @field_validator("device_id")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()


class Inventory(_Strict):
    """The boards of one bench."""

    devices: list[DeviceSpec]

    @model_validator(mode="after")
    def _unique(self) -> Inventory:
        for field_name, key in (
            ("name", lambda d: d.name),
            ("device_id", lambda d: d.device_id),
            ("hub", lambda d: (d.hub.location, d.hub.port) if d.hub else None),
        ):
            seen: dict[Any, str] = {}
            for d in self.devices:
                value = key(d)
                if value is None:
                    continue
                if value in seen:
                    raise ValueError(f"boards '{seen[value]}' and '{d.name}' have the same {field_name}")
                seen[value] = d.name
        return self


def _sentence(path: Path, raw: Any, exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = list(err["loc"])
    board = ""
    if len(loc) >= 2 and loc[0] == "devices" and isinstance(loc[1], int):
        entries = raw.get("devices") if isinstance(raw, dict) else None
        name = entries[loc[1]].get("name") if isinstance(entries, list) and isinstance(entries[loc[1]], dict) else None
        board = f" board '{name or f'#{loc[1] + 1}'}',"
        loc = loc[2:]
    field = ".".join(str(x) for x in loc) or "devices"
    msg = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown key (check the spelling; see the example devices.yaml)"
    elif field == "device_id" and isinstance(err.get("input"), int):
        msg = f'{err["input"]} was read as a number (all digits): quote it, device_id: "{err["input"]}"'
    elif err["type"] == "string_pattern_mismatch" and field == "device_id":
        msg = f"must be the 24 hex digits of the device id (got {err.get('input')!r})"
    return f"{path}:{board} field '{field}': {msg}; fix the file."


def load_inventory(path: Path) -> Inventory:
    """Read and validate devices.yaml."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{path} does not exist; pass --devices FILE (see the example devices.yaml).") from None
    except OSError as exc:
        raise ConfigError(f"{path} cannot be read ({exc.strerror}); check its permissions.") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not UTF-8 text (byte {exc.start}); save it as UTF-8.") from None
    try:
        raw = yaml.safe_load(text)
    except RecursionError:
        raise ConfigError(f"{path} nests too deeply to be a devices.yaml; see the example devices.yaml.") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path} is not valid YAML{where}; fix the syntax.") from None
    if not isinstance(raw, dict) or "devices" not in raw:
        raise ConfigError(f"{path} has no 'devices:' list; see the example devices.yaml.")
    try:
        return Inventory.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_sentence(path, raw, exc)) from None
