"""Every ordered pair of real releases per platform, over every validated and DFU path, ends `pass`
with the board's own flash equal to the target release; OTA upgrades pass, OTA downgrades are
refused (protocols §6.6).

The unit suite's one real-binary matrix (issue 19): other tests run single paths or synthetic releases;
bench/matrix_wall.py times its dfu and serial pairs through the plugin."""

from __future__ import annotations

import pytest

from rig.firmware import versions
from rig.firmware.release import ReleaseStore
from rig.plan import PlanRefused, plan
from rig.runner import PASS, Runner, installed
from rig.sim.lab import Lab
from testsupport.boards import on_board, release_versions
from testsupport.devices import board_and_device

METHODS = ["dfu", "serial", "usb", "restore"]
GEN2 = ("1.5.0", "1.5.2", "2.2.0", "2.3.1")
GEN3 = ("1.5.0", "1.5.2", "2.2.0", "4.0.1")
# the releases in ../shared/firmware (its README); the test checks the store has exactly these
RELEASES = {
    "photon": GEN2,
    "p1": GEN2,
    "electron": GEN2,
    "argon": GEN3,
    "boron": GEN3,
    "bsom": GEN3,
    "tracker": ("2.2.0", "4.0.1"),
}
SOURCES = [(platform, old) for platform, have in RELEASES.items() for old in have]


def test_the_store_has_the_expected_releases(real_store: ReleaseStore) -> None:
    for platform, have in RELEASES.items():
        assert sorted((v for p, v in real_store.releases if p == platform), key=versions.semver_key) == list(have)


@pytest.mark.parametrize(("platform", "old"), SOURCES, ids=[f"{p}-from-{v}" for p, v in SOURCES])
def test_every_pair_over_every_path(real_store: ReleaseStore, platform: str, old: str) -> None:
    failures = []
    runs = 0
    for new in (v for v in RELEASES[platform] if v != old):
        target = real_store.get(platform, new)
        upgrade = versions.semver_key(new) > versions.semver_key(old)
        for method in METHODS + (["ota"] if upgrade else []):
            with Lab(releases=real_store) as lab:
                board, dev = board_and_device(lab, platform, old, online=method == "ota")
                result = Runner(dev).run(plan(installed(dev), target, method), target)
                runs += 1
                want = release_versions(target)
                got = {k: v for k, v in on_board(board).items() if k in want}
                if result.outcome != PASS or got != want:
                    failures.append(f"{old}->{new} {method}: {result.outcome} {result.error}")
        if not upgrade:
            with Lab(releases=real_store) as lab:
                _board, dev = board_and_device(lab, platform, old)
                with pytest.raises(PlanRefused, match=r"OTA never downgrades"):
                    plan(installed(dev), target, "ota")
    assert not failures, "\n".join(failures)
    assert runs >= 4
