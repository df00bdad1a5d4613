"""`rig check-app --bisect` on the simulated lab: an app built to hard-fault from a given Device OS on
(the simulated board honours it: a crash loop) is bisected to that version, with few checks."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from rig.cli import check_app as check_app_cli
from rig.cli import main
from rig.clock import SystemClock
from rig.errors import EXIT_FAILED, EXIT_USER_ERROR
from rig.firmware import versions
from rig.firmware.build import build
from rig.firmware.synthetic import panics_from, user_app
from rig.pool import Pool


def app_file(tmp_path: Path, breaks_from: str | None) -> str:
    spec = user_app(
        "boron",
        versions.module_version("2.0.0"),
        panics_from=versions.module_version(breaks_from or "0.0.0") if breaks_from else 0,
    )
    path = tmp_path / "app.bin"
    path.write_bytes(build(spec))
    return str(path)


def bisect(tmp_path: Path, capsys: pytest.CaptureFixture[str], breaks_from: str | None) -> tuple[int, str]:
    code = main(["check-app", app_file(tmp_path, breaks_from), "--sim", "--versions", "2.3.1..5.0.0", "--bisect"])
    out, err = capsys.readouterr()
    assert not err, err
    return code, out


def test_bisect_names_the_first_version_the_app_stops_running_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = bisect(tmp_path, capsys, "4.0.0")
    assert code == 1, out
    assert re.search(
        r"The app runs on Device OS (\S+) and stops running on 4\.0\.0 \(fail: the board left normal mode", out
    )
    last_good = re.search(r"runs on Device OS (\S+) and", out)
    assert last_good is not None
    between = [v.semver for v in versions.VERSIONS if versions.semver_key("2.3.1") <= versions.semver_key(v.semver)]
    assert versions.semver_key(last_good.group(1)) < versions.semver_key("4.0.0")
    checks = re.findall(r"^  (\S+): (runs|fail|safe-mode) ", out, re.M)
    tried = [v for v in between if versions.semver_key(v) <= versions.semver_key("5.0.0")]
    assert len(checks) <= math.ceil(math.log2(len(tried))) + 2 < len(tried), checks  # a search, not a sweep
    assert "evidence, first bad 4.0.0:" in out and "after leaving normal mode: off -> normal -> off" in out


def test_an_app_that_never_breaks_takes_two_checks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = bisect(tmp_path, capsys, None)
    assert code == 0 and "The app runs on every version checked (the newest: 5.0.0)." in out, out
    assert len(re.findall(r"^  (\S+): runs ", out, re.M)) == 2


def test_the_crash_marker_reads_back() -> None:
    data = build(user_app("boron", 2000, panics_from=4003))
    assert panics_from(data) == 4003 and panics_from(build(user_app("boron", 2000))) is None


STUCK_BORON = """devices:
  - {name: b, platform: boron, device_id: e00fce68a1b2c3d4e5f60718, hub: {location: "1-1", port: 2},
     sim: {device_os: 2.3.1, faults: {stuck: true}}}
"""


def test_a_bench_failure_stops_the_search_without_a_verdict_on_the_app(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "devices.yaml").write_text(STUCK_BORON)
    argv = ["check-app", app_file(tmp_path, None), "--sim", "--devices", str(tmp_path / "devices.yaml")]
    code = main([*argv, "--versions", "2.3.1..5.0.0", "--bisect"])
    out, err = capsys.readouterr()
    assert code == EXIT_FAILED and "  2.3.1: bench failed (" in out, out + err
    assert err.startswith("rig: error: The bisection stopped at Device OS 2.3.1: the bench failed (")
    assert "does not run" not in out and "stops running" not in out


@pytest.mark.parametrize(
    ("versions_given", "sentence"),
    [("5.0.0..2.3.1", "is reversed: write the older version first (2.3.1..5.0.0)"), ("2.3.1..", "give both ends")],
)
def test_a_bad_range_is_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], versions_given: str, sentence: str
) -> None:
    code = main(["check-app", app_file(tmp_path, None), "--sim", "--versions", versions_given, "--bisect"])
    _, err = capsys.readouterr()
    assert code == EXIT_USER_ERROR and sentence in err and err.count("\n") == 1, err


def test_versions_below_what_the_app_needs_are_left_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "app.bin"
    path.write_bytes(build(user_app("boron", versions.module_version("4.0.0"))))
    code = main(["check-app", str(path), "--sim", "--versions", "2.3.1..5.0.0", "--bisect"])
    out, _ = capsys.readouterr()
    assert code == 0 and "app.bin needs system part 4003: 2.3.1," in out, out
    assert "bisecting app.bin on " in out and "over Device OS 4.0.0 .. 5.0.0" in out


REAL_BORON = """devices:
  - {name: b, platform: boron, device_id: e00fce68a1b2c3d4e5f60718, hub: {location: "1-1", port: 2}}
"""


def test_check_app_claims_its_board_so_it_never_flashes_one_a_night_holds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, firmware_dir: Path
) -> None:
    """A real bench (no --sim): the board is held by another run through the host's lock folder, so
    check-app waits, then ends in one sentence before touching it (otherwise: 'not on USB')."""
    (tmp_path / "devices.yaml").write_text(REAL_BORON)
    monkeypatch.setenv("RIG_LOCK_DIR", str(tmp_path / "locks"))
    monkeypatch.setattr(check_app_cli, "CLAIM_WAIT", 0.5)
    argv = ["check-app", app_file(tmp_path, None), "--devices", str(tmp_path / "devices.yaml")]
    with Pool(["b"], tmp_path / "locks").claim(["b"], SystemClock()):
        code = main([*argv, "--versions", "2.3.1", "--releases", str(firmware_dir)])
    _, err = capsys.readouterr()
    assert code == EXIT_FAILED and "None of b became free within 0.5 s: another run or command holds it" in err, err
