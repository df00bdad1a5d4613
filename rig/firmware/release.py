"""A release store: a directory of Device OS binaries indexed by parsing each file (never by
its name), grouped into releases per (platform, Device OS version).

A release is defined by its system parts (module version -> Device OS version, §1.11); the
bootloader is the one whose module version that Device OS ships, the SoftDevice and NCP are
the ones its system parts depend on, and the default user app is the newest user part the
release can run (Tinker preferred: product id = platform id, §1.10).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from rig import platforms
from rig.errors import RigError
from rig.firmware import versions
from rig.firmware.format import ModuleFunction as F
from rig.firmware.module import Dependency, Module, ModuleError
from rig.firmware.parse import parse_modules, read_file


class ReleaseError(RigError):
    """A release is not in the store, or is incomplete."""


@dataclass(frozen=True)
class StoredModule:
    """A module and the file it came from."""

    path: Path
    module: Module

    @property
    def name(self) -> str:
        """Base name of the file."""
        return self.path.name


@dataclass
class Release:
    """The modules of one Device OS version for one platform."""

    platform: platforms.Platform
    version: str
    system_version: int
    system_parts: list[StoredModule] = field(default_factory=list)
    bootloader: StoredModule | None = None
    softdevice: StoredModule | None = None
    ncp: StoredModule | None = None
    user_app: StoredModule | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """True when nothing the release needs is missing or inconsistent."""
        return not self.problems

    def modules(self, include_user: bool = True) -> list[StoredModule]:
        """Bootloader, SoftDevice, NCP, system parts (by index) and the default app, if present."""
        out = [m for m in (self.bootloader, self.softdevice, self.ncp) if m is not None]
        out += sorted(self.system_parts, key=lambda s: s.module.index)
        if include_user and self.user_app is not None:
            out.append(self.user_app)
        return out

    def require_complete(self) -> None:
        """Raise ReleaseError naming what is missing."""
        if self.problems:
            raise ReleaseError(f"{self.platform.name} {self.version} is incomplete: {'; '.join(self.problems)}.")


@dataclass
class ReleaseStore:
    """Releases indexed from a directory of binaries."""

    root: Path
    modules: list[StoredModule] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # (file, one sentence why)
    releases: dict[tuple[str, str], Release] = field(default_factory=dict)

    @classmethod
    def scan(cls, root: Path) -> ReleaseStore:
        """Index every .bin file below `root`."""
        if not root.is_dir():
            raise ReleaseError(f"Release directory {root} does not exist; create it or pass --releases DIR.")
        store = cls(root)
        for path in sorted(p for p in root.rglob("*.bin") if p.is_file()):
            store.add_file(path)
        store.group()
        return store

    def versions(self, platform: str) -> list[str]:
        """The complete releases of a platform in the store, oldest first."""
        have = [v for (p, v), r in self.releases.items() if p == platform and r.complete]
        return sorted(have, key=versions.semver_key)

    def require_releases(self) -> ReleaseStore:
        """The store itself, or a one-sentence error when it holds no release at all."""
        if not self.releases:
            raise ReleaseError(
                f"No Device OS releases in {self.root} ({len(self.skipped)} files skipped): fetch one with "
                "'rig releases fetch VERSION --platform P --dest DIR', or pass --releases DIR."
            )
        return self

    def add_file(self, path: Path) -> None:
        """Parse one file into the store, or record why it was skipped."""
        try:
            found = parse_modules(read_file(path), path.name)
        except ModuleError as exc:
            self.skipped.append((path, str(exc)))
            return
        for m in found:
            if not m.platform.flashable:
                self.skipped.append(
                    (path, f"{path.name} is firmware for the {m.platform.display_name}, which the rig cannot flash.")
                )
                return
            self.modules.append(StoredModule(path, m))

    def _pick(self, platform_id: int, function: F, index: int, version: int) -> list[StoredModule]:
        return [
            s
            for s in self.modules
            if s.module.platform_id == platform_id
            and s.module.function == function
            and s.module.index == index
            and s.module.version == version
        ]

    def group(self) -> None:
        """Build the releases from the indexed modules."""
        by_key: dict[tuple[int, int], list[StoredModule]] = defaultdict(list)
        for s in self.modules:
            if s.module.function == F.SYSTEM_PART:
                by_key[(s.module.platform_id, s.module.version)].append(s)
        self.releases = {}
        for (pid, sysver), parts in sorted(by_key.items()):
            plat = platforms.by_id(pid)
            semver = versions.device_os_or_none(sysver) or f"module-{sysver}"
            release = Release(plat, semver, sysver)
            self._fill(release, parts)
            self.releases[(plat.name, semver)] = release

    def _one(self, release: Release, found: list[StoredModule], what: str) -> StoredModule | None:
        """One of several files holding the same module; different contents are a problem."""
        if len({s.module.sha256 for s in found}) > 1:
            names = ", ".join(s.name for s in found)
            release.problems.append(f"{what} differs between files with the same version ({names})")
        # Byte-identical copies are interchangeable; show the one named after this release.
        tag = f"@{release.version}"
        return min(found, key=lambda s: (tag not in s.name, s.name)) if found else None

    def _fill(self, release: Release, parts: list[StoredModule]) -> None:
        plat, sysver = release.platform, release.system_version
        wanted = [s for s in plat.slots if s.function == F.SYSTEM_PART and s.used_with(sysver)]
        for index in sorted({s.index for s in wanted}):
            chosen = self._one(release, [p for p in parts if p.module.index == index], f"system part {index}")
            if chosen is None:
                asset = next(s.asset for s in wanted if s.index == index)
                release.problems.append(f"system part {index} ({plat.name}-{asset}@{release.version}.bin) is missing")
            else:
                release.system_parts.append(chosen)
        boot_ver = versions.lookup(release.version).bootloader if not release.version.startswith("module-") else None
        if boot_ver is not None:
            release.bootloader = self._one(release, self._pick(plat.id, F.BOOTLOADER, 0, boot_ver), "bootloader")
        if release.bootloader is None:
            text = f"bootloader{f' version {boot_ver}' if boot_ver else ''} is missing"
            (release.notes if plat.bootloader_embedded else release.problems).append(
                text + (" (the system parts carry it, §6.7)" if plat.bootloader_embedded else "")
            )
        self._fill_dependencies(release)
        release.user_app = self._default_app(plat.id, sysver)
        if release.user_app is None:
            release.notes.append("no default user app (Tinker) in the store")

    def _fill_dependencies(self, release: Release) -> None:
        """SoftDevice and NCP by the system parts' dependencies; check every dependency."""
        plat = release.platform
        have = [s.module for s in release.modules(include_user=False)]
        for part in release.system_parts:
            for dep in part.module.real_dependencies:
                if dep.function == F.NCP_FIRMWARE:
                    release.ncp = self._lowest_satisfying(release, dep)
                    if release.ncp is None:
                        release.notes.append(
                            f"NCP firmware >= {dep.version} is not in the store (Device OS releases do not ship it)"
                        )
                elif dep.function == F.RADIO_STACK:
                    release.softdevice = self._lowest_satisfying(release, dep)
                    if release.softdevice is None:
                        release.problems.append(f"radio stack (SoftDevice) >= {dep.version} is missing")
                elif not any(m.satisfies(dep) for m in have) and not (
                    dep.function == F.BOOTLOADER and plat.bootloader_embedded
                ):
                    release.problems.append(f"{part.name} needs {dep} but the release has none")
        if plat.has_softdevice and release.softdevice is None and not release.problems:
            # Tracker >= 3.0 parts no longer depend on it but the release still ships it (§6.8)
            sds = [s for s in self.modules if s.module.key() == (plat.id, F.RADIO_STACK, 0)]
            top = max((s.module.version for s in sds), default=None)
            release.softdevice = self._one(release, [s for s in sds if s.module.version == top], "radio stack")

    def _lowest_satisfying(self, release: Release, dep: Dependency) -> StoredModule | None:
        found = [s for s in self.modules if s.module.platform_id == release.platform.id and s.module.satisfies(dep)]
        low = min((s.module.version for s in found), default=None)
        return self._one(release, [s for s in found if s.module.version == low], dep.function.label)

    def _default_app(self, platform_id: int, sysver: int) -> StoredModule | None:
        plat = platforms.by_id(platform_id)
        apps = []
        for s in self.modules:
            m = s.module.image
            if m.platform_id != platform_id or m.function != F.USER_PART:
                continue
            if not any(
                slot.contains(m.start, m.end)
                for slot in plat.slots
                if slot.function == F.USER_PART and slot.used_with(sysver)
            ):
                continue
            needs = max((d.version for d in m.real_dependencies if d.function == F.SYSTEM_PART), default=0)
            if needs <= sysver:
                apps.append(((m.product_id == platform_id, needs, m.version, s.name), s))
        return max(apps, key=lambda a: a[0])[1] if apps else None

    def get(self, platform: str, version: str) -> Release:
        """The release of a platform at a Device OS version."""
        plat = platforms.by_name(platform)
        key = (plat.name, versions.normalize(version))
        if key not in self.releases:
            have = ", ".join(v for (p, v) in self.releases if p == plat.name) or "none"
            raise ReleaseError(
                f"No {plat.name} {key[1]} release in {self.root} (it has: {have}); "
                f"fetch it with 'rig releases fetch {key[1]} --platform {plat.name}'."
            )
        return self.releases[key]

    def sorted_releases(self) -> list[Release]:
        """All releases, by platform id then version."""
        return sorted(self.releases.values(), key=lambda r: (r.platform.id, r.system_version))
