"""Intel HEX restore images: read back and compared byte by byte with the modules."""

from __future__ import annotations

from pathlib import Path

import pytest
from intelhex import IntelHex

from rig.firmware.build import build
from rig.firmware.hexfile import HexImageError, build_image, release_image, write_image
from rig.firmware.parse import parse_module
from rig.firmware.release import ReleaseError, ReleaseStore
from rig.firmware.synthetic import user_app, write_release


def _read_back(image: IntelHex, tmp_path: Path) -> IntelHex:
    out = tmp_path / "image.hex"
    write_image(image, out)
    back = IntelHex()
    back.loadhex(str(out))
    return back


@pytest.mark.parametrize(
    ("platform", "version"), [("boron", "4.0.1"), ("photon", "2.3.1"), ("electron", "2.2.0"), ("tracker", "2.2.0")]
)
def test_real_release_image_matches_every_module(
    firmware_dir: Path, tmp_path: Path, platform: str, version: str
) -> None:
    release = ReleaseStore.scan(firmware_dir).get(platform, version)
    back = _read_back(release_image(release), tmp_path)
    covered = 0
    for stored in release.modules():
        m = stored.module
        data = m.data[24:] if m.flags & 0x01 else m.data  # SoftDevice: Particle prefix stripped
        assert back.tobinstr(start=m.start, size=len(data)) == data, stored.name
        covered += len(data)
    assert len(back) == covered  # nothing else in the image


def test_user_firmware_replaces_the_default_app(tmp_path: Path) -> None:
    write_release(tmp_path / "rel", "boron", "4.0.1")
    release = ReleaseStore.scan(tmp_path / "rel").get("boron", "4.0.1")
    app = parse_module(build(user_app("boron", 4005, size=3000, seed=5)))
    back = _read_back(release_image(release, app, "app.bin"), tmp_path)
    assert back.tobinstr(start=0xB4000, size=app.size) == app.data
    default = release.user_app
    assert default is not None and default.module.start == 0xB4000
    assert (
        len(back)
        == sum(len(s.module.data) - (24 if s.module.flags & 1 else 0) for s in release.modules(include_user=False))
        + app.size
    )


def test_foreign_and_overlapping_modules_are_refused(tmp_path: Path) -> None:
    write_release(tmp_path, "boron", "4.0.1")
    release = ReleaseStore.scan(tmp_path).get("boron", "4.0.1")
    photon_app = parse_module(build(user_app("photon", 2302)))
    with pytest.raises(HexImageError, match="built for the Photon, not the Boron"):
        release_image(release, photon_app, "photon-app.bin")
    part1 = release.system_parts[0].module
    with pytest.raises(HexImageError, match="overlaps another module"):
        build_image(release.platform, [("a.bin", part1), ("b.bin", part1)])
    with pytest.raises(HexImageError, match="not a user app"):
        release_image(release, part1, "part1.bin")


def test_incomplete_release_is_refused(tmp_path: Path) -> None:
    for f in write_release(tmp_path, "photon", "2.3.1"):
        if "part2" in f.name:
            f.unlink()
    release = ReleaseStore.scan(tmp_path).get("photon", "2.3.1")
    with pytest.raises(ReleaseError, match=r"photon 2\.3\.1 is incomplete: system part 2"):
        release_image(release)
