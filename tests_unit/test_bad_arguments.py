"""Arguments checked before anything runs (issue 12): a wrong selection, worker count, watchdog or
time scale ends in one sentence and exit 2 (the CLI) or pytest's usage error (the plugin), before
any board is touched and before any report is written; `rig check-app` on the simulated lab uses
synthetic releases and says "not run" for a version it has no release of.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rig.cli import main
from rig.firmware.build import build
from rig.firmware.synthetic import user_app
from rig.firmware.versions import module_version

BAD = {
    "--methods bogus": "Unknown method 'bogus': use one of dfu, serial",
    "--from 9.9.9": "No release of Device OS 9.9.9 for photon, p1, electron",
    "--to 4.0.1 --platforms photon": "No release of Device OS 4.0.1 for photon (the target versions given); "
    "the releases here are 1.5.2, 2.3.1",
    "--platforms foo": "Unknown platform 'foo': use one of",
    "--platforms core": "The Core has no Device OS the rig can flash: leave it out of --platforms.",
    "-n -1": "-n -1: the number of workers must be 0 (no xdist) or more.",
    "--path-timeout 0": "Path timeout 0: the watchdog needs a number of wall seconds above 0",
    "--path-timeout -5": "Path timeout -5: the watchdog needs",
    "--path-timeout nan": "Path timeout nan: the watchdog needs",
    "--time-scale nan": "Time scale nan: use 0 (simulated time)",
    "--time-scale -1": "Time scale -1: use 0",
    "--retries -1": "--retries -1: give how many more times a failed path is tried, 0 to 20.",
    "--retries 999": "--retries 999: give how many more times",
    "--json-out /nonexistent-folder/paths.json": "--json-out /nonexistent-folder/paths.json cannot be written",
}


@pytest.mark.parametrize("args", list(BAD))
def test_rig_matrix_refuses_bad_arguments_before_anything_runs(
    args: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "report"
    code = main(["matrix", "--sim", "--report", str(report), *args.split()])
    out, err = capsys.readouterr()
    assert code == 2, out + err
    assert err.startswith("rig: error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert BAD[args] in err
    assert not report.exists() and out == ""  # nothing ran, nothing was written


def test_an_empty_selection_is_one_sentence(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--platforms", "boron", "--methods", "dfu", "--from", "4.0.1", "--to", "4.0.1"]
    code = main(["matrix", "--sim", *args, "--report", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and "The selection holds no path" in err and err.count("\n") == 1, err
    assert not (tmp_path / "r").exists()  # no empty run folder (nor the report folder made for it) is left


def test_an_empty_selection_leaves_an_existing_report_folder_as_it_was(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    earlier = tmp_path / "r" / "runs" / "20261201T010000-1"
    earlier.mkdir(parents=True)
    args = ["--platforms", "boron", "--methods", "dfu", "--from", "4.0.1", "--to", "4.0.1"]
    code = main(["matrix", "--sim", *args, "--report", str(tmp_path / "r")])
    assert code == 2 and "The selection holds no path" in capsys.readouterr().err
    assert list((tmp_path / "r" / "runs").iterdir()) == [earlier]  # the earlier run stays, no new one


def test_a_report_folder_that_is_a_file_is_one_sentence(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "report"
    report.write_text("not a folder")
    code = main(["matrix", "--sim", "--platforms", "boron", "--methods", "dfu", "--report", str(report)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Cannot write the report folder" in err, err
    assert report.read_text() == "not a folder"


PLUGIN_BAD = {
    "--rig-methods bogus": "Unknown method 'bogus'",
    "--rig-from 9.9.9": "No release of Device OS 9.9.9",
    "--rig-platforms foo": "Unknown platform 'foo'",
    "--rig-path-timeout 0": "Path timeout 0: the watchdog needs",
    "--rig-time-scale nan": "Time scale nan: use 0",
    "--rig-retries 21": "--retries 21: give how many more times a failed path is tried, 0 to 20.",
    "--rig-remote-rig 'rig": '--remote-rig "\'rig" cannot be split into words (No closing quotation): fix its quotes.',
}


@pytest.mark.parametrize("args", list(PLUGIN_BAD))
def test_the_plugin_refuses_bad_options_before_any_test(args: str, tmp_path: Path) -> None:
    report = tmp_path / "report"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "--pyargs",
            "rig.hil.test_matrix",
            "--rig-sim",
            "-n",
            "0",
            "--rig-report",
            str(report),
            *args.split(),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 4, done.stdout[-2000:] + done.stderr[-2000:]
    assert f"ERROR: {PLUGIN_BAD[args]}" in done.stderr and "Traceback" not in done.stdout + done.stderr
    assert not report.exists()


def test_check_app_on_the_simulated_lab_uses_synthetic_releases_beside_a_devices_yaml(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "devices.yaml").write_text(
        "devices:\n  - name: boron-1\n    platform: boron\n    device_id: e00fce68a1b2c3d4e5f60718\n"
        "    hub: {location: '1-1', port: 2}\n    sim: {device_os: 2.2.0}\n"
    )
    monkeypatch.chdir(tmp_path)  # ./devices.yaml exists; no ./releases
    app = tmp_path / "app.bin"
    app.write_bytes(build(user_app("boron", module_version("2.3.1"), version=42)))
    code = main(["check-app", str(app), "--versions", "2.3.1,4.0.1,9.9.9", "--sim"])
    out, err = capsys.readouterr()
    assert err == ""
    rows: dict[str, list[str]] = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if len(cells) == 3 and cells[0]:
            rows[cells[0]] = cells[1:]
        elif len(cells) == 3 and rows:  # a wrapped detail
            rows[list(rows)[-1]][1] += " " + cells[2]
    assert {v: r[0] for v, r in rows.items()} == {"2.3.1": "runs", "4.0.1": "runs", "9.9.9": "not run"}, out
    assert rows["9.9.9"][1] == "no release of Device OS 9.9.9 for the boron in the store"
    assert code == 0  # versions with a release all run; the missing one is reported, not failed
    assert not (tmp_path / "releases").exists()  # nothing written into the folder it ran from
