"""The settings that let a program see a bench in a box (`rig sim serve --usb`, `rig sim exec`).

umockdev's preload library redirects /sys, /dev and uevents into the test bed folder named by
UMOCKDEV_DIR; the served bench writes both to an env file, and `rig sim exec` runs a program with
them. Details and the umockdev limitations worked around: docs/bench-in-a-box.md.
"""

from __future__ import annotations

import ctypes.util
import fcntl
import os
import resource
from pathlib import Path

from rig.errors import ConfigError

PRELOAD = "libumockdev-preload.so.0"


class BridgeError(ConfigError):
    """umockdev is missing, the test bed could not be built, or no served bench is there."""


def preload_available() -> bool:
    """True when umockdev's preload library can be found by the dynamic loader."""
    return ctypes.util.find_library("umockdev-preload") is not None


def with_preload(env: dict[str, str]) -> dict[str, str]:
    """`env` with umockdev's preload library first in LD_PRELOAD."""
    others = [p for p in env.get("LD_PRELOAD", "").split() if p != PRELOAD]
    return {**env, "LD_PRELOAD": " ".join([PRELOAD, *others])}


def preloaded() -> bool:
    """True when this process runs with umockdev's preload library (a served USB bench needs it): the
    library mapped into it, not LD_PRELOAD, which a simulated lab sets for the programs it starts.
    """
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            return any("libumockdev-preload" in line for line in maps)
    except OSError:
        return PRELOAD in os.environ.get("LD_PRELOAD", "").split()


def spread_event_sockets(root: str, stride: int = 16, slots: int = 48) -> None:
    """Give this process (and what it execs) file descriptor numbers no other bench program uses.

    umockdev's preload names a program's uevent socket after its file descriptor
    (`$UMOCKDEV_DIR/event<fd>`, libumockdev-preload.c `netlink_bind`) and unlinks any socket of
    that name first: a second program whose socket gets the same number silently takes the
    first one's uevents away, so a running rig stops seeing boards come back. Each `rig sim exec`
    takes a ticket and fills the low descriptors up to its own slot (inherited across exec), so
    its sockets land on numbers of their own; programs it starts with closed descriptors (Python's
    subprocess default) start low, below every slot.
    """
    ticket = Path(root) / ".rig-exec-tickets"
    try:
        fd = os.open(ticket, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            text = os.read(fd, 16).strip()
            number = int(text) if text.isdigit() else 0
            os.lseek(fd, 0, os.SEEK_SET)
            os.ftruncate(fd, 0)
            os.write(fd, str(number + 1).encode())
        finally:
            os.close(fd)
    except OSError:
        return  # a ticket we cannot take: the program still runs, it may only miss uevents
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    floor = min(24 + stride * (number % slots), max(3, limit // 2))
    filler = os.open(os.devnull, os.O_RDONLY)
    os.set_inheritable(filler, True)
    for target in range(3, floor):
        try:
            os.fstat(target)
        except OSError:
            os.dup2(filler, target, inheritable=True)
    if filler >= floor:
        os.close(filler)


def read_env_file(path: Path) -> dict[str, str]:
    """The KEY=VALUE lines `rig sim serve --usb --env-file` wrote."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise BridgeError(
            f"{path} does not exist: start `rig sim serve DEVICES.yaml --usb --env-file {path}` first."
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BridgeError(f"Cannot read the env file {path} ({exc}): pass the file `rig sim serve` wrote.") from None
    pairs = (line.partition("=") for line in text.splitlines() if "=" in line)
    env = {key.strip(): value for key, _, value in pairs if key.strip() != "LD_PRELOAD"}  # with_preload adds it
    root = env.get("UMOCKDEV_DIR", "")
    if not root or not Path(root).is_dir():
        raise BridgeError(
            f"{path} names no running bench (UMOCKDEV_DIR {root or 'missing'}): is `rig sim serve` still up?"
        )
    return env
