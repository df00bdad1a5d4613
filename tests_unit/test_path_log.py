"""A matrix path's log tells the whole story (issue 17 item 3): every step and every write with its
modelled and wall seconds, mode changes and power events, stamped from the path's start (its
set-up included); a failing step is recorded with the time spent in it. Simulated time only.
"""

from __future__ import annotations

import re

from rig.board_settings import BoardSettings
from rig.device.modes import power_off
from rig.firmware.release import ReleaseStore
from rig.plan import plan
from rig.plan.model import Step, StepKind
from rig.report.results import from_run
from rig.runner import FAIL, PASS, Runner, installed
from rig.runner.prepare import ensure_release
from rig.runner.recovery import Quarantine, recover
from rig.sim.lab import Lab
from testsupport.devices import device

STAMP = re.compile(r"^\s*(\d+\.\d\d)s (.*)$")


def stamped(log: list[str]) -> list[tuple[float, str]]:
    """(seconds since the path's start, text) of every line; every line is stamped."""
    lines = [STAMP.match(line) for line in log]
    assert all(lines), log
    return [(float(m.group(1)), m.group(2)) for m in lines if m]


def test_a_passing_dfu_path_logs_its_set_up_every_step_and_every_write(real_lab: Lab, real_store: ReleaseStore) -> None:
    board = real_lab.add_board("dut", "boron", "2.2.0", settings=BoardSettings())
    dev = device(real_lab, board, "dut")
    real_lab.clock.sleep(500.0)  # the lab's clock is far from 0 when the path begins
    source, target = real_store.get("boron", "1.5.2"), real_store.get("boron", "2.2.0")
    setup = ensure_release(dev, source)  # as the matrix's attempt(): set-up, plan, run
    assert setup is not None and setup.outcome == PASS
    steps = plan(installed(dev, hashes=True), target, "dfu")
    result = Runner(dev).run(steps, target)
    assert result.outcome == PASS
    lines = stamped(result.log)
    times = [t for t, _ in lines]
    assert lines[0] == (0.0, "set-up: bring the board to boron 1.5.2")  # from the path's start, not the lab's
    assert times == sorted(times) and times[-1] >= setup.clock_seconds + result.clock_seconds
    texts = [text for _, text in lines]
    run_at = texts.index(f"run: {len(steps.steps)} steps of the dfu plan to boron 2.2.0")
    assert any(t.startswith("DFU write ") for t in texts[:run_at])  # the set-up's own writes are told too
    *plan_steps, verified = result.steps  # the final verify is a step of its own, timed like the others
    assert verified.step == "verify on the board" and verified.ok and verified.clock_seconds > 0
    assert result.clock_seconds == sum(s.clock_seconds for s in plan_steps) + verified.clock_seconds
    assert f"verify on the board done in {verified.clock_seconds:.2f} s (wall {verified.wall_seconds:.3f} s)" in texts
    for i, (step, done) in enumerate(zip(steps.steps, plan_steps, strict=True), 1):
        begun = texts.index(f"step {i}/{len(steps.steps)} {step.describe()}")
        ended = f"step {i}/{len(steps.steps)} done in {done.clock_seconds:.2f} s (wall {done.wall_seconds:.3f} s)"
        assert any(t.startswith(ended) for t in texts[begun + 1 :]), (ended, texts[begun:])
    writes = [s for s in steps.steps if s.kind == StepKind.FLASH and s.address is not None]
    assert writes, steps.steps
    for w in writes:
        line = re.compile(
            rf"DFU write alt {w.alt} 0x{w.address:x}: {w.size} bytes .*in (\d+\.\d\d) s \(wall \d+\.\d+ s\)"
        )
        found = [m for t in texts[run_at:] if (m := line.fullmatch(t))]
        assert len(found) == 1, (w.describe(), texts[run_at:])
        assert float(found[0].group(1)) > 0
    for s in steps.steps:
        if s.kind == StepKind.FLASH and s.address is None and s.target is not None:  # a module sent while running
            assert any(
                t.startswith(f"{s.via} send of {s.target.name} (") and f"{s.size} bytes) in " in t for t in texts
            )
    assert any(t.startswith("mode: dfu ") for t in texts) and "DFU leave: the bootloader resets" in texts
    assert texts[-1].startswith("run: pass after ")
    # a second run without a set-up tells its own story, from its own start
    again = Runner(dev).run(plan(installed(dev, hashes=True), target, "dfu"), target)
    assert stamped(again.log)[0] == (0.0, "run: 0 steps of the dfu plan to boron 2.2.0")


def test_a_path_failing_in_a_dfu_write_records_the_time_spent_in_the_failing_step(
    real_lab: Lab, real_store: ReleaseStore
) -> None:
    board = real_lab.add_board("dut", "photon", "1.5.2", settings=BoardSettings())
    dev = device(real_lab, board, "dut")
    target = real_store.get("photon", "2.3.1")
    ensure_release(dev, real_store.get("photon", "1.5.2"))
    steps = plan(installed(dev, hashes=True), target, "dfu")
    first_write = next(i for i, s in enumerate(steps.steps) if s.kind == StepKind.FLASH and s.address is not None)

    def arm(i: int, step: Step) -> None:
        if i == first_write:
            board.faults.dfu_error_status = 0x03  # errWRITE: the write fails after its erase

    result = Runner(dev).run(steps, target, on_step=arm)
    assert result.outcome == FAIL and "errWRITE" in (result.error or "")
    *good, failed = result.steps
    assert len(good) == first_write and all(s.ok for s in good)
    assert not failed.ok and failed.step.startswith(f"failed: {steps.steps[first_write].describe()}: ")
    assert failed.clock_seconds > 1.0 and failed.wall_seconds > 0  # the erase before the error, not 0 s
    assert result.clock_seconds == sum(s.clock_seconds for s in good) + failed.clock_seconds
    assert result.wall_seconds == sum(s.wall_seconds for s in good) + failed.wall_seconds
    path = from_run("p", "photon", "1.5.2", "2.3.1", "dfu", "dut", result)
    assert path.modelled_seconds == result.clock_seconds and path.steps[-1]["clock"] == failed.clock_seconds
    assert path.steps[-1]["failing"].endswith(steps.steps[first_write].describe())  # the report names it
    texts = [text for _, text in stamped(result.log)]
    w = steps.steps[first_write]
    assert f"DFU write alt {w.alt} 0x{w.address:x}: {w.size} bytes failed after {failed.clock_seconds:.2f} s" in (
        "\n".join(texts)
    )
    assert any(
        t.startswith(f"step {first_write + 1}/{len(steps.steps)} flash ") and " failed after " in t for t in texts
    )
    assert any(t.startswith("board left in: dfu mode") for t in texts)
    assert texts[-1].startswith(f"run: fail after {result.clock_seconds:.2f} s")


def test_a_power_cycle_appears_in_the_log(real_lab: Lab, real_store: ReleaseStore) -> None:
    board = real_lab.add_board("dut", "boron", "2.2.0", settings=BoardSettings())
    dev = device(real_lab, board, "dut")
    real_lab.clock.sleep(100.0)
    result = recover(dev, real_store.get("boron", "2.2.0"), Quarantine())  # power cycle, DFU, restore
    assert result.outcome == PASS
    lines = stamped(result.log)
    texts = [text for _, text in lines]
    assert lines[0] == (0.0, "recovery: power cycle, DFU, restore")
    assert texts[1] == f"power cycle: hub {dev.hub.location} port {dev.hub.port} off, then on"  # type: ignore[union-attr]
    back = next(t for t in texts if t.startswith("power cycle: the board back on USB in "))
    seconds = float(back.split(" in ")[1].split(" s")[0])
    assert seconds >= 2.0 and result.steps[0].step == "recovery: power cycle"  # off for 2 s, then on
    assert seconds <= result.steps[0].clock_seconds + 0.005  # the log rounds to 10 ms
    assert texts.index(back) < texts.index("control request 50 (DFU) -> dfu") and texts[-1].startswith(
        "run: pass after"
    )


def test_power_off_and_on_are_in_the_log(real_lab: Lab, real_store: ReleaseStore) -> None:
    board = real_lab.add_board("dut", "boron", "2.2.0", settings=BoardSettings())
    dev = device(real_lab, board, "dut")
    target = real_store.get("boron", "1.5.2")
    steps = plan(installed(dev, hashes=True), target, "dfu")
    assert steps.steps[0].describe() == "enter-mode normal"

    def cut(i: int, step: Step) -> None:
        if i == 0:
            power_off(dev)  # the board is off when the path's first step begins: it switches it on

    result = Runner(dev).run(steps, target, on_step=cut)
    assert result.outcome == PASS
    texts = [text for _, text in stamped(result.log)]
    where = f"hub {dev.hub.location} port {dev.hub.port}"  # type: ignore[union-attr]
    off = next(i for i, t in enumerate(texts) if t.startswith(f"power off: {where} off, the board gone from USB in "))
    on = texts.index(f"power on: {where} on")
    back = next(i for i, t in enumerate(texts) if t.startswith("power on: the board back on USB in "))
    assert off < texts.index(f"step 1/{len(steps.steps)} enter-mode normal") < on < back
    assert result.steps[0].clock_seconds > 0
