"""Download the release assets of a Device OS version (GitHub release page layout).

Layout: `{base}/v{version}/{platform}-{part}@{version}.bin`, e.g.
`.../v2.3.1/photon-system-part1@2.3.1.bin`; Gen 2 bootloaders carry `+lto` (file names as
in particle-protocols §1.10). Every download is parsed and its CRC checked before it enters
the cache; a cached file that still parses is not downloaded again.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from rig import platforms
from rig.errors import EXIT_FAILED, ConfigError, RigError
from rig.firmware import versions
from rig.firmware.format import ModuleFunction as F
from rig.firmware.module import ModuleError
from rig.firmware.parse import parse_modules

DEFAULT_BASE_URL = "https://github.com/particle-iot/device-os/releases/download"
BASE_URL_ENV = "RIG_RELEASES_BASE_URL"
Progress = Callable[[str, int, int | None], None]  # (asset, bytes so far, total or None)
MAX_ASSET_BYTES = 8 * 1024 * 1024  # the largest module file (a Gen 3 system part) is under 1 MB
PART_PREFIX = ".part-"  # a download in progress, in the cache folder it is moved into when checked
STALE_MARGIN = 60.0  # seconds beyond the deadline before another process's partial download is removed
DEADLINE_PER_ASSET = 600.0  # wall seconds for one file, however slowly the server drips it


class ReleaseFetchError(RigError):
    """A release asset could not be downloaded or is not what it claims to be (the server, the network
    or the mirror failed: exit 1; mistakes in the command line are ConfigError).
    """

    exit_code = EXIT_FAILED


@dataclass(frozen=True)
class Asset:
    """One file of a release and what it must contain."""

    name: str
    function: F
    required: bool
    version: int = 0  # the module version a system part must have (others have their own numbering)


@dataclass
class FetchResult:
    """What a fetch produced."""

    files: list[Path] = field(default_factory=list)
    downloaded: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)  # optional assets the release does not have
    warnings: list[str] = field(default_factory=list)  # one sentence each


def default_cache_dir() -> Path:
    """$XDG_CACHE_HOME/particle-rig/releases (or ~/.cache/...)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "particle-rig" / "releases"


def assets(plat: platforms.Platform, version: str) -> list[Asset]:
    """The asset files of a release for one platform, required ones first."""
    if not plat.flashable:
        raise ConfigError(f"The {plat.display_name} has no Device OS releases the rig can use.")
    system = versions.module_version(version)
    lto = "+lto" if plat.family == "stm32f2" else ""
    out: list[Asset] = []
    for slot in plat.slots:
        if slot.function == F.SYSTEM_PART and slot.used_with(system):
            out.append(Asset(f"{plat.name}-{slot.asset}@{version}.bin", F.SYSTEM_PART, True, system))
    boot = plat.slot(F.BOOTLOADER, 0)
    out.append(Asset(f"{plat.name}-{boot.asset}@{version}{lto}.bin", F.BOOTLOADER, not plat.bootloader_embedded))
    if plat.has_softdevice:
        out.append(Asset(f"{plat.name}-softdevice@{version}.bin", F.RADIO_STACK, False))
    out.append(Asset(f"{plat.name}-tinker@{version}.bin", F.USER_PART, False))
    return out


def _valid_cached(path: Path, plat: platforms.Platform, asset: Asset) -> bool:
    try:
        return _check(path.read_bytes(), plat, asset) is None
    except OSError:
        return False


def _check(data: bytes, plat: platforms.Platform, asset: Asset) -> str | None:
    """None when `data` is the module the asset name promises, else why not."""
    try:
        found = parse_modules(data, asset.name)
    except ModuleError as exc:
        return str(exc)
    m = found[0].image
    if m.platform_id != plat.id or m.function != asset.function:
        return f"{asset.name} holds a {m.describe()}, not a {plat.display_name} {asset.function.label}"
    if asset.function == F.SYSTEM_PART and m.version != asset.version:
        shown = versions.device_os_or_none(m.version) or f"module version {m.version}"
        return f"{asset.name} holds Device OS {shown}, not the {versions.device_os_or_none(asset.version)} asked for"
    return None


def _download(
    client: httpx.Client, url: str, asset: Asset, target: Path, progress: Progress | None, deadline: float
) -> bool:
    """Stream `url` into `target` (at most MAX_ASSET_BYTES, within `deadline` wall seconds in all);
    False when the server has no such asset (404).
    """
    end = time.monotonic() + deadline
    with client.stream("GET", url) as response:
        if response.status_code == 404:
            return False
        if response.status_code >= 400:
            raise ReleaseFetchError(f"{url} answered HTTP {response.status_code}; try again later or check --base-url.")
        total = int(response.headers["content-length"]) if "content-length" in response.headers else None
        if total is not None and total > MAX_ASSET_BYTES:
            raise ReleaseFetchError(f"{url} is {total} bytes, far more than any module: the mirror is wrong.")
        done = 0
        with target.open("wb") as out:
            for chunk in response.iter_bytes():
                out.write(chunk)
                done += len(chunk)
                if done > MAX_ASSET_BYTES:
                    raise ReleaseFetchError(f"{url} sent more than {MAX_ASSET_BYTES} bytes: the mirror is wrong.")
                if time.monotonic() > end:
                    raise ReleaseFetchError(f"{url} did not finish within {deadline:g} s; check the network and retry.")
                if progress:
                    progress(asset.name, done, total)
    return True


def remove_stale_parts(cache: Path, older_than: float) -> list[Path]:
    """Remove the partial downloads of fetches that were killed (SIGKILL, power loss): a `.part-*`
    file unchanged for longer than a download may last (its total deadline) has no live writer.
    """
    removed = []
    now = time.time()
    for part in cache.glob(f"{PART_PREFIX}*"):
        with contextlib.suppress(OSError):  # gone meanwhile, or not ours to remove
            if now - part.stat().st_mtime > older_than:
                part.unlink()
                removed.append(part)
    return removed


def fetch_release(
    version: str,
    platform: str,
    dest: Path | None = None,
    base_url: str | None = None,
    cache_dir: Path | None = None,
    timeout: float = 30.0,
    progress: Progress | None = None,
    deadline: float = DEADLINE_PER_ASSET,
) -> FetchResult:
    """Download (or reuse from cache) every asset of a release, each checked to be the asked
    version and platform before it is cached; copy them into `dest`.
    """
    plat = platforms.by_name(platform)
    version = versions.normalize(version)
    base = (base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL).rstrip("/")
    cache = (cache_dir or default_cache_dir()) / version / plat.name
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"Cannot create the cache folder {cache} ({exc.strerror}); pass --cache DIR.") from None
    remove_stale_parts(cache, deadline + STALE_MARGIN)
    result = FetchResult()
    if base.startswith("http://"):
        result.warnings.append(
            f"{base} is plain http: anyone on the way can change the files (the rig checks what they are, "
            "not who made them); use https."
        )
    with httpx.Client(timeout=timeout, follow_redirects=True) as client:
        for asset in assets(plat, version):
            cached = cache / asset.name
            if cached.exists() and _valid_cached(cached, plat, asset):
                result.cached.append(asset.name)
                result.files.append(cached)
                continue
            url = f"{base}/v{version}/{asset.name}"
            part: Path | None = None
            try:
                fd, name = tempfile.mkstemp(dir=cache, prefix=PART_PREFIX)
                os.close(fd)
                part = Path(name)
                try:
                    present = _download(client, url, asset, part, progress, deadline)
                except httpx.TimeoutException:
                    raise ReleaseFetchError(
                        f"{url} timed out after {timeout:g} s; check the network and retry."
                    ) from None
                except httpx.HTTPError as exc:
                    raise ReleaseFetchError(
                        f"Cannot reach {base} ({exc}); check the network, or point --base-url at a mirror."
                    ) from None
                if not present:
                    if asset.required:
                        raise ReleaseFetchError(
                            f"Device OS {version} has no {asset.name} at {base}/v{version}/; "
                            "check the version and the platform."
                        )
                    result.absent.append(asset.name)
                    continue
                why = _check(part.read_bytes(), plat, asset)
                if why is not None:
                    raise ReleaseFetchError(
                        f"{url} is unusable ({why.rstrip('.')}); the download is corrupt or the mirror is wrong."
                    )
                part.replace(cached)
            finally:  # every error, and an interruption (the rig turns SIGTERM/SIGHUP into one)
                if part is not None:
                    part.unlink(missing_ok=True)
            result.downloaded.append(asset.name)
            result.files.append(cached)
    if dest is not None:
        result.files = _copy_into(result.files, dest)
    return result


def _copy_into(files: list[Path], dest: Path) -> list[Path]:
    try:
        dest.mkdir(parents=True, exist_ok=True)
        out = []
        for f in files:
            target = dest / f.name
            if target.resolve() != f.resolve():
                shutil.copyfile(f, target)
            out.append(target)
        return out
    except OSError as exc:
        raise ConfigError(f"Cannot write into {dest} ({exc.strerror}); pass a writable --dest.") from None
