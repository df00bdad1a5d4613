"""Every ordered pair of real releases per platform, over every validated and DFU path, ends `pass`
with the board's own flash equal to the target release; OTA upgrades pass, OTA downgrades are
refused (protocols §6.6)."""

from __future__ import annotations

from itertools import permutations

import pytest

from rig.firmware import versions
from rig.firmware.release import ReleaseStore
from rig.plan import PlanRefused, plan
from rig.runner import PASS, Runner, installed
from rig.sim.lab import Lab
from tests_unit.plan.helpers import board_and_device, on_board, release_versions

PLATFORMS = ["photon", "p1", "electron", "argon", "boron", "bsom", "tracker"]
METHODS = ["dfu", "serial", "usb", "restore"]


def pairs(store: ReleaseStore, platform: str) -> list[tuple[str, str]]:
    have = sorted((v for p, v in store.releases if p == platform), key=versions.semver_key)
    return list(permutations(have, 2))


@pytest.mark.parametrize("platform", PLATFORMS)
def test_every_pair_over_every_path(real_store: ReleaseStore, platform: str) -> None:
    failures = []
    runs = 0
    for old, new in pairs(real_store, platform):
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
    assert runs >= 8
