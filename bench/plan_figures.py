"""Bytes written, mode switches and modelled hardware time per path, against the manual flow.

For every ordered pair of real releases in ../shared/firmware and every method, a simulated board
on the source release is planned to the target by the rig's planner, which skips modules the
board already has. The manual flow is the by-hand upgrade: flash every module file of the
target release (default app included) in DFU mode, one `particle flash --usb` each (enter DFU,
write, reset: two mode switches per file), nothing skipped. Both are costed with the same
hardware model (rig/plan/estimate.py, figures in docs/timing.md). Prints per-method totals and
the ratio rig/manual; `--paths` prints every path.

    .venv/bin/python bench/plan_figures.py [--paths]
"""

from __future__ import annotations

import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rig.board_mode import Mode
from rig.firmware.release import Release, ReleaseStore
from rig.methods import Via
from rig.plan import PlanRefused, Target, plan
from rig.plan.estimate import estimate
from rig.plan.model import Plan, Step, StepKind
from rig.runner import installed
from rig.sim.lab import Lab
from testsupport.devices import board_and_device
from testsupport.paths import FIRMWARE_DIR as FIRMWARE

METHODS = ("dfu", "usb", "serial", "ota", "restore")


@dataclass
class Cost:
    """What one way of moving a board costs."""

    bytes: int = 0
    switches: int = 0
    seconds: float = 0.0
    paths: int = 0

    def add(self, other: Cost) -> None:
        """Accumulate."""
        self.bytes += other.bytes
        self.switches += other.switches
        self.seconds += other.seconds
        self.paths += other.paths


def rig_cost(steps: Plan) -> Cost:
    """The planner's plan, as bytes, mode switches (mode entries and reboots) and modelled seconds."""
    switches = sum(1 for s in steps.steps if s.kind in ("enter-mode", "reset", "wait-reboot"))
    return Cost(sum(s.size for s in steps.flash_steps()), switches, steps.modelled_seconds, 1)


def manual_cost(release: Release) -> Cost:
    """Every module file of the release over DFU, one enter-DFU and one reset per file."""
    steps: list[Step] = []
    for stored in release.modules():
        target = Target(stored.name, stored.module)
        steps += [
            Step.enter(Mode.DFU),
            Step.flash(Via.DFU, target, Mode.DFU),  # the whole file at the module's address
            Step(StepKind.WAIT_REBOOT),
        ]
    flashes = [s for s in steps if s.kind == StepKind.FLASH]
    return Cost(sum(s.size for s in flashes), 2 * len(flashes), estimate(release.platform, steps), 1)


def main() -> None:
    if not FIRMWARE.is_dir():
        sys.exit(f"{FIRMWARE} is missing: this benchmark needs the real Device OS binaries.")
    store = ReleaseStore.scan(FIRMWARE)
    show_paths = "--paths" in sys.argv
    totals: dict[str, tuple[Cost, Cost]] = defaultdict(lambda: (Cost(), Cost()))
    refused: dict[str, int] = defaultdict(int)
    if show_paths:
        print(
            f"{'path':<34} {'method':<8} {'bytes':>8} {'manual':>8} {'switch':>6} {'manual':>6} {'s':>7} {'manual':>7}"
        )
    for release in store.sorted_releases():
        plat = release.platform.name
        for source in (r for r in store.sorted_releases() if r.platform.name == plat and r.version != release.version):
            for method in METHODS:
                with Lab(time_scale=0, releases=store) as lab:
                    _board, dev = board_and_device(lab, plat, source.version)
                    try:
                        steps = plan(installed(dev, hashes=True), release, method)
                    except PlanRefused:
                        refused[method] += 1
                        continue
                ours, manual = rig_cost(steps), manual_cost(release)
                totals[method][0].add(ours)
                totals[method][1].add(manual)
                if show_paths:
                    name = f"{plat} {source.version} -> {release.version}"
                    print(
                        f"{name:<34} {method:<8} {ours.bytes:>8} {manual.bytes:>8} {ours.switches:>6} "
                        f"{manual.switches:>6} {ours.seconds:>7.1f} {manual.seconds:>7.1f}"
                    )
    print(
        f"{'method':<8} {'paths':>5} {'refused':>7} {'MB':>7} {'manual MB':>9} {'bytes x':>7} "
        f"{'switches':>8} {'manual':>6} {'modelled s/path':>15} {'manual s/path':>13}"
    )
    for method in METHODS:
        ours, manual = totals[method]
        if not ours.paths:
            continue
        print(
            f"{method:<8} {ours.paths:>5} {refused[method]:>7} {ours.bytes / 1e6:>7.2f} {manual.bytes / 1e6:>9.2f} "
            f"{ours.bytes / manual.bytes:>7.2f} {ours.switches / ours.paths:>8.1f} "
            f"{manual.switches / manual.paths:>6.1f} "
            f"{ours.seconds / ours.paths:>15.1f} {manual.seconds / manual.paths:>13.1f}"
        )
    print(f"{len(store.releases)} releases from {FIRMWARE}")


if __name__ == "__main__":
    main()
