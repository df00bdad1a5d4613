"""run(plan, device): execute a plan on a board, time every step (wall and bench clock), notice
changes the rig did not make (the cloud finishing an upgrade, §6.4), verify the result from the
board itself, and classify the outcome: pass, completed-over-the-air, fail, refused.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from rig.clock import wait_for
from rig.device import Device, Mode
from rig.device.identify import user_part_hashes
from rig.device.story import render
from rig.errors import EXIT_FAILED, RigError
from rig.firmware.format import ModuleFunction as F
from rig.firmware.release import Release
from rig.methods import Via
from rig.plan.model import InstalledModule, Plan, PlanRefused, Step, StepKind
from rig.runner.state import left_in
from rig.runner.steps import execute

PASS, OVER_THE_AIR, FAIL, REFUSED = "pass", "completed-over-the-air", "fail", "refused"
SAFE_MODE_GRACE = 120.0  # modelled seconds an online board in safe mode is given to be healed
CLOUD_CONNECT_GRACE = 10.0  # time a board in safe mode gets to connect to the cloud at all
VERIFY = "verify on the board"  # the last step of every run: the board runs the target
ANY_APP = -1  # user_version of a path that leaves the user app alone (`particle update`): not checked


@dataclass
class StepResult:
    """One executed step."""

    step: str
    wall_seconds: float
    clock_seconds: float
    ok: bool
    note: str = ""


@dataclass
class RunResult:
    """How a path went."""

    outcome: str
    method: str
    error: str | None = None
    error_type: str | None = None
    last_good_step: str | None = None
    steps: list[StepResult] = field(default_factory=list)
    final_modules: list[InstalledModule] = field(default_factory=list)
    foreign_changes: list[str] = field(default_factory=list)
    cloud_events: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    serial_log: str = ""
    board_state: str = ""  # what the board was left in (mode, Device OS, hub port power)

    @property
    def wall_seconds(self) -> float:
        """Sum over steps."""
        return sum(s.wall_seconds for s in self.steps)

    @property
    def clock_seconds(self) -> float:
        """Sum over steps, on the bench clock (modelled hardware time in the simulated lab)."""
        return sum(s.clock_seconds for s in self.steps)


def installed(dev: Device, hashes: bool = False) -> list[InstalledModule]:
    """What is on the board now (control request 90, or flash reads in DFU mode); with `hashes`,
    the user parts' SHA-256 too (from the listening console), so an installed app can be skipped.
    """
    records = dev.modules()
    user = {}
    if hashes and any(m.function == F.USER_PART and m.sha256 is None for m in records):
        user = user_part_hashes(dev)
    return [
        InstalledModule(m.function, m.index, m.version, m.sha256 or user.get((m.function, m.index)))
        for m in records
        if m.valid
    ]


def _versions(mods: list[InstalledModule]) -> dict[tuple[int, int], int]:
    return {(m.function, m.index): m.version for m in mods}


def verify(dev: Device, release: Release, user_version: int | None = None) -> list[str]:
    """What differs between the board and the target release (empty when the board matches); the
    user app is the release's own (None), the one of that version, or not checked (ANY_APP).
    """
    problems = []
    mode = dev.mode()
    if mode != Mode.NORMAL:
        problems.append(f"board is in {mode} mode, not normal")
    have = _versions(installed(dev))
    for stored in release.modules(include_user=user_version is None):
        m = stored.module.image
        if m.function == F.NCP_FIRMWARE and have.get((int(m.function), m.index), -1) >= m.version:
            continue
        got = have.get((int(m.function), m.index))
        if got != m.version:
            problems.append(f"{m.function.label} {m.index} is v{got}, expected v{m.version}")
    app = have.get((int(F.USER_PART), 1), have.get((int(F.USER_PART), 2)))
    if user_version not in (None, ANY_APP) and app != user_version:
        problems.append("the user app is not the one flashed")
    return problems


class Runner:
    """Runs plans on one device."""

    def __init__(self, dev: Device) -> None:
        self.dev = dev

    def run(
        self,
        plan: Plan,
        release: Release,
        user_version: int | None = None,
        on_step: Callable[[int, Step], None] | None = None,
    ) -> RunResult:
        """Execute `plan`, then verify against `release` from the board side; `on_step(i, step)` is
        called before each step (progress reporting).
        """
        dev = self.dev
        start, dev.path_start = dev.path_start or dev.mark(), None  # a path's set-up began the story, if any
        n, doing, what = len(plan.steps), "", VERIFY
        dev.note(f"run: {n} steps of the {plan.method} plan to {release.platform.name} {release.version}")
        result = RunResult(PASS, plan.method)
        serial_start = len(dev.serial_log)
        events = dev.cloud_events()
        expected = _versions(installed(dev))
        wall0, clock0 = time.perf_counter(), dev.clock.now()
        try:
            for i, step in enumerate(plan.steps):
                if on_step is not None:
                    on_step(i, step)
                doing, what = f"step {i + 1}/{n} ", step.describe()
                dev.note(doing + what)
                wall0, clock0 = time.perf_counter(), dev.clock.now()
                note = self._step(step, plan.steps[i + 1 :], expected, result)
                done = StepResult(step.describe(), time.perf_counter() - wall0, dev.clock.now() - clock0, True, note)
                result.steps.append(done)
                dev.note(f"step {i + 1}/{n} done in {_took(done)}" + (f": {note}" if note else ""))
                result.last_good_step = step.describe()
                if step.kind == StepKind.WAIT_REBOOT:
                    self._compare(expected, result)
            doing, what = "", VERIFY
            wall0, clock0 = time.perf_counter(), dev.clock.now()
            problems = verify(dev, release, user_version)
            if problems:
                raise _VerifyError(
                    f"after {plan.method} the board does not match {release.platform.name} "
                    f"{release.version}: {'; '.join(problems)}."
                )
            checked = StepResult(VERIFY, time.perf_counter() - wall0, dev.clock.now() - clock0, True)
            result.steps.append(checked)  # a step like the others: its time counts, the log tells it
            dev.note(f"{VERIFY} done in {_took(checked)}")
        except RigError as exc:
            result.outcome, result.error, result.error_type = FAIL, str(exc), type(exc).__name__
            wall, clock = time.perf_counter() - wall0, dev.clock.now() - clock0
            failed = StepResult(f"failed: {what}: {exc}", wall, clock, False, doing + what)
            result.steps.append(failed)  # the time spent in the failing step counts
            dev.note(f"{doing}{what} failed after {_took(failed)}: {exc}")
        finally:
            if events is not None:
                result.cloud_events = [f"{e.name}={e.data}" for e in events.drain()]
                events.close()
        if result.outcome == PASS:
            cloud_wrote = any(e.startswith("spark/flash/status=success") for e in result.cloud_events)
            if result.foreign_changes or (cloud_wrote and plan.method != Via.OTA):
                result.outcome = OVER_THE_AIR
        try:
            result.final_modules = installed(dev)
        except RigError:
            result.final_modules = []
        result.board_state = left_in(dev, failed=result.outcome == FAIL)
        dev.note(f"run: {result.outcome} after {result.clock_seconds:.2f} s (wall {result.wall_seconds:.3f} s)")
        result.log = render(dev.notes, start)
        result.serial_log = bytes(dev.serial_log[serial_start:]).decode(errors="replace")
        return result

    def _step(self, step: Step, rest: list[Step], expected: dict[tuple[int, int], int], result: RunResult) -> str:
        dev = self.dev
        if step.kind == StepKind.ENTER_MODE and self._installed_by_others(
            next((s for s in rest if s.kind == StepKind.FLASH), None)
        ):
            return "skipped: the next write is already installed"  # don't leave the board in listening mode
        if self._installed_by_others(step) and step.target is not None:
            result.foreign_changes.append(f"{step.target.image.describe()} was installed before the rig sent it")
            expected[step.target.key()] = step.target.image.version
            return "skipped: already installed by someone else"
        note = execute(dev, step, rest)
        if step.kind == StepKind.FLASH and step.target is not None:
            expected[step.target.key()] = step.target.image.version
        if step.kind == StepKind.WAIT_REBOOT and dev.cloud is not None and dev.mode() == Mode.SAFE:
            # An intermediate boot failed its dependency check; an online board now gets the missing
            # parts from the cloud's safe-mode healer (§6.3, §6.4). Give it the time to, and notice.
            dev.note(f"came back in safe mode; waiting for the cloud (up to {SAFE_MODE_GRACE:g} s if it connects)")
            if not wait_for(lambda: _normal(dev), dev.clock, CLOUD_CONNECT_GRACE, interval=1.0) and dev.online():
                wait_for(lambda: _normal(dev), dev.clock, SAFE_MODE_GRACE, interval=1.0)
            note = f"safe mode after reboot; {dev.mode()} after waiting for the cloud"
        return note

    def _installed_by_others(self, step: Step | None) -> bool:
        """A normal-mode write whose module the board already has (the cloud healed it meanwhile, §6.4)."""
        if step is None or step.kind != StepKind.FLASH or step.target is None or step.mode != Mode.NORMAL:
            return False
        if step.target.image.function == F.USER_PART:
            return False
        try:
            have = _versions(installed(self.dev)).get(step.target.key())
        except RigError:  # off or rebooting: the write goes ahead and the mode step brings the board up
            return False
        return have == step.target.image.version

    def _compare(self, expected: dict[tuple[int, int], int], result: RunResult) -> None:
        """Modules that changed without the rig writing them (the safe-mode healer, §6.4)."""
        try:
            now = _versions(installed(self.dev))
        except RigError:
            return
        for key, version in now.items():
            if key in expected and expected[key] != version:
                result.foreign_changes.append(f"{F(key[0]).label} {key[1]} changed to v{version} without the rig")
                expected[key] = version


def _took(step: StepResult) -> str:
    return f"{step.clock_seconds:.2f} s (wall {step.wall_seconds:.3f} s)"


def _normal(dev: Device) -> bool:
    try:
        return dev.mode() == Mode.NORMAL
    except RigError:
        return False


class _VerifyError(RigError):
    """The board does not match the target after the plan."""

    exit_code = EXIT_FAILED


def run_plan(dev: Device, plan: Plan, release: Release, user_version: int | None = None) -> RunResult:
    """Convenience: Runner(dev).run(...)."""
    return Runner(dev).run(plan, release, user_version)


def refused(method: str, exc: PlanRefused) -> RunResult:
    """The result of a plan the planner refused."""
    return RunResult(REFUSED, method, str(exc), type(exc).__name__)
