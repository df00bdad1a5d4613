"""`rig check-app --bisect` on the simulated lab: an app built to hard-fault from a given Device OS on
(the simulated board honours it: a crash loop) is bisected to that version, with few checks."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from rig.cli import main
from rig.firmware import versions
from rig.firmware.build import build
from rig.firmware.synthetic import panics_from, user_app


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
