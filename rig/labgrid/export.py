"""labgrid configuration generated from devices.yaml (docs/multi-host.md): the exporter's resources
and the coordinator's places, so nobody writes udev matches by hand.

Each board is one resource group of the exporter, named after the board: its hub port
(`USBPowerPort`, matched by the hub interface's udev `ID_PATH` and the port index, as uhubctl
switches it) and its USB serial port (`USBSerialPort`, matched by the `ID_PATH` of the board's USB
device as an ancestor). An `ID_PATH` names the port, not the board's enumeration, so it survives
resets and mode changes, and a board swapped into the port takes the place over. Each board is one
place, matching its group on this exporter, tagged with its platform, whether it may use the cloud,
and its devices.yaml tags.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from rig.errors import ConfigError
from rig.inventory import DeviceSpec, Inventory

LookUp = Callable[[str], str | None]  # a sysfs device name ("1-1:1.0") -> its udev ID_PATH, or None
# tag keys and values: labgrid 26.0.1 checks only a prefix (TAG_KEY, TAG_VAL in labgrid/remote/common.py);
# the rig asks for whole words, so a tag reads back from labgrid-client's listing unambiguously
TAG_KEY = re.compile(r"^[a-z][a-z0-9_]+$")
TAG_VALUE = re.compile(r"^[a-z0-9_][A-Za-z0-9_.-]*$")
NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
RIG_TAGS = (
    "platform",
    "device_id",
    "cloud",
    "service",
    "name",
)  # tags the rig sets (service: claimer.py; name: labgrid's own)


@dataclass(frozen=True)
class Place:
    """A labgrid place: the resource groups it matches and its tags."""

    name: str
    matches: tuple[str, ...]
    tags: dict[str, str]


def udev_id_path(sysname: str) -> str | None:
    """The udev ID_PATH of a USB device or interface of this host, or None when it is not there."""
    try:
        import pyudev  # type: ignore[import-untyped]
    except ImportError:
        raise ConfigError(
            "rig labgrid export reads udev through pyudev: install the rig's 'labgrid' extra "
            "(pip install 'particle-rig[labgrid]')."
        ) from None
    try:
        device = pyudev.Devices.from_name(pyudev.Context(), "usb", sysname)
    except pyudev.DeviceNotFoundError:
        return None
    value = device.properties.get("ID_PATH")
    return str(value) if value else None


def place_tags(spec: DeviceSpec) -> dict[str, str]:
    """platform=, device_id=, cloud=yes|no, then each devices.yaml tag: `key=value`, a bare word as `word=yes`."""
    tags = {
        "platform": spec.platform,
        "device_id": spec.device_id.lower(),
        "cloud": "yes" if "cloud" in spec.tags else "no",
    }
    for tag in spec.tags:
        key, _, value = tag.partition("=")
        if key in RIG_TAGS and tag != "cloud":
            raise ConfigError(
                f"{spec.name}: tag {tag} would replace the rig's own {key} tag (its {', '.join(RIG_TAGS)} tags are "
                "made from devices.yaml); rename it."
            )
        if tag != "cloud":
            tags[key] = value or "yes"
    for key, value in tags.items():
        if not (TAG_KEY.match(key) and TAG_VALUE.match(value)):
            raise ConfigError(
                f"{spec.name}: tag {key}={value} is not a labgrid tag (a key of lower-case letters, digits and '_', "
                "a value starting with one); rename it in devices.yaml."
            )
    return tags


def _board_group(spec: DeviceSpec, look_up: LookUp) -> dict[str, Any]:
    if spec.hub is None:
        raise ConfigError(
            f"{spec.name} has no hub port in devices.yaml: labgrid switches boards by hub port; add hub:."
        )
    bus, _, ports = spec.hub.location.partition("-")  # uhubctl's location: the hub's sysfs name, or a bus
    hub_interface = f"{spec.hub.location}:1.0" if ports else f"{bus}-0:1.0"  # a root hub's interface is N-0:1.0
    hub_path = look_up(hub_interface)
    if hub_path is None:
        raise ConfigError(
            f"{spec.name}: hub {spec.hub.location} is not on this host's USB (no udev ID_PATH for "
            f"{hub_interface}): run rig labgrid export on the host the hub is plugged into, or fix its location."
        )
    # udev's path_id: the controller, then usb-0:<the ports from the root>; a root hub adds none
    board_path = hub_path.removesuffix(":1.0") + f".{spec.hub.port}" if ports else _root_port(hub_path, spec.hub.port)
    return {
        "USBPowerPort": {"match": {"ID_PATH": hub_path}, "index": spec.hub.port},
        # the tty's own ID_PATH (udev's 60-serial.rules gives every tty one): its CDC interface 0
        "USBSerialPort": {"match": {"ID_PATH": f"{board_path}:1.0"}, "speed": 115200},
    }


def _root_port(root_interface_path: str, port: int) -> str:
    """The ID_PATH of a device on a root hub's port: `...-usb-0:0:1.0` (the root's interface) -> `...-usb-0:N`."""
    return root_interface_path.removesuffix("0:1.0") + str(port)


def exporter_config(inventory: Inventory, look_up: LookUp = udev_id_path) -> dict[str, dict[str, Any]]:
    """The exporter's resources: one group per board of devices.yaml."""
    return {spec.name: _board_group(spec, look_up) for spec in inventory.devices}


def places(inventory: Inventory, exporter: str) -> list[Place]:
    """One place per board, matching every resource of its group on `exporter`."""
    if not NAME.match(exporter):
        raise ConfigError(
            f"exporter name {exporter!r} may hold only letters, digits, '.', '_' and '-'; choose another."
        )
    for spec in inventory.devices:
        if not NAME.match(spec.name):
            raise ConfigError(f"board name {spec.name!r} cannot name a labgrid place (it must not start with '-' "
                              "or '.'); rename it in devices.yaml.")  # fmt: skip
    return [Place(spec.name, (f"{exporter}/{spec.name}/*",), place_tags(spec)) for spec in inventory.devices]


def render_exporter(config: dict[str, dict[str, Any]], source: Path) -> str:
    """The exporter YAML; labgrid reads it as a Jinja template, whose comments start with '##'."""
    head = f"## labgrid exporter resources, made by `rig labgrid export {source.name}`; regenerate, don't edit.\n"
    return head + yaml.safe_dump(config, sort_keys=False, default_flow_style=False)


def render_places(found: list[Place], exporter: str) -> str:
    """The places file that `rig labgrid places` applies to a coordinator: all of one exporter's places."""
    data = {"exporter": exporter, "places": {p.name: {"matches": list(p.matches), "tags": p.tags} for p in found}}
    return "# made by rig labgrid export\n" + yaml.safe_dump(data, sort_keys=False)


def read_places(path: Path) -> tuple[str, list[Place]]:
    """The exporter and its places from a file `rig labgrid export` wrote; a damaged one is a ConfigError."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        found = [Place(str(n), tuple(map(str, p["matches"])), {str(k): str(v) for k, v in p["tags"].items()})
                 for n, p in (data["places"] or {}).items()]  # fmt: skip
        return str(data["exporter"]), found
    except (OSError, yaml.YAMLError, AttributeError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path} is not a places file of rig labgrid export ({exc}); make it again.") from None
