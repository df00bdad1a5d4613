"""The pytest plugin and `rig matrix` end to end on the simulated lab: parametrisation, skips,
locks, JUnit properties, results.json, the HTML matrix (checked in headless Chromium)."""

from __future__ import annotations

import html
import json
import multiprocessing
import os
import re
import shutil
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from rig.clock import SystemClock
from rig.errors import ConfigError
from rig.matrix import MatrixPath
from rig.pool import NoBoardError, Pool
from rig.pytest_plugin import interleaved
from testsupport.benches import FAULTY_BENCH
from testsupport.reports import text_of

ROOT = Path(__file__).resolve().parent.parent
PYTEST = [sys.executable, "-m", "pytest", str(ROOT / "tests_hil"), "-p", "no:cacheprovider"]


def hil(*options: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """pytest on tests_hil with these options (a generous timeout: only a hang should reach it)."""
    return subprocess.run([*PYTEST, *options], capture_output=True, text=True, timeout=600, check=False, env=env)


def test_without_a_bench_hil_tests_are_skipped_with_a_reason() -> None:
    done = hil("-n", "0", "-rs")
    assert done.returncode == 0, done.stdout[-2000:]
    assert "no boards: pass --rig-devices FILE, or --rig-sim for the simulated lab" in done.stdout


def test_sim_matrix_with_two_workers(tmp_path: Path) -> None:
    report = tmp_path / "report"
    done = hil(
        "-n",
        "2",
        "--rig-sim",
        "--rig-platforms",
        "photon",
        "--rig-methods",
        "dfu,ota,serial",
        "--rig-report",
        str(report),
        f"--junitxml={tmp_path / 'junit.xml'}",
        "-v",
    )
    assert done.returncode == 0, done.stdout[-3000:]
    assert "test_path[photon-1.5.2-to-2.3.1-dfu]" in done.stdout and "[gw1]" in done.stdout
    results = json.loads((report / "results.json").read_text())["results"]
    assert sorted(r["id"] for r in results) == sorted(
        f"photon-{a}-to-{b}-{m}" for a, b in (("1.5.2", "2.3.1"), ("2.3.1", "1.5.2")) for m in ("dfu", "ota", "serial")
    )
    by_id = {r["id"]: r for r in results}
    assert by_id["photon-2.3.1-to-1.5.2-ota"]["outcome"] == "refused"
    assert by_id["photon-1.5.2-to-2.3.1-serial"]["outcome"] == "pass"
    assert by_id["photon-1.5.2-to-2.3.1-serial"]["final_versions"]["system part 2"] == 2302
    run = (report / "latest").resolve()
    assert (
        run.parent == report / "runs" and (run / "results.json").read_bytes() == (report / "results.json").read_bytes()
    )
    assert (run / "logs" / "photon-1.5.2-to-2.3.1-dfu.txt").read_text().strip()
    assert len((run / "paths.jsonl").read_text().splitlines()) == 6  # each path journalled as it ended
    cases = {c.get("name"): c for c in ET.parse(tmp_path / "junit.xml").getroot().iter("testcase")}
    props = {p.get("name"): p.get("value") for p in cases["test_path[photon-1.5.2-to-2.3.1-dfu]"].iter("property")}
    assert props["outcome"] == "pass" and props["method"] == "dfu" and float(props["modelled_seconds"]) > 0
    assert any(k.startswith("step") for k in props)
    assert "--- console ---" in (cases["test_path[photon-1.5.2-to-2.3.1-serial]"].findtext("system-out") or "")
    root = ET.parse(tmp_path / "junit.xml").getroot()
    suite = {p.get("name"): p.get("value") for p in root.iter("property") if (p.get("name") or "").startswith("rig_")}
    assert suite["rig_simulated"] == "true" and suite["rig_workers"] == "2" and suite["rig_platforms"] == "photon"
    assert suite["rig_paths"] == "6" and suite["rig_outcome_refused"] == "1"
    skipped = cases["test_path[photon-2.3.1-to-1.5.2-ota]"].find("skipped")  # refused: skipped with the reason
    assert skipped is not None and "refused: OTA never downgrades Device OS" in (skipped.get("message") or "")
    assert by_id["photon-2.3.1-to-1.5.2-ota"]["error"].startswith("OTA never downgrades Device OS")
    history = (report / "history.jsonl").read_text().splitlines()
    assert json.loads(history[-1])["paths"] == 6


def _hold(folder: str, ready: multiprocessing.synchronize.Event, release: multiprocessing.synchronize.Event) -> None:
    pool = Pool(["b1"], Path(folder))
    with pool.claim(["b1"], SystemClock(), timeout=5):
        ready.set()
        release.wait(10)


def test_a_claimed_board_is_not_shared_and_a_dead_holder_frees_it(tmp_path: Path) -> None:
    spawn = multiprocessing.get_context("spawn")  # no fork of a worker that runs threads
    ready, release = spawn.Event(), spawn.Event()
    holder = spawn.Process(target=_hold, args=(str(tmp_path), ready, release))
    holder.start()
    assert ready.wait(120)
    with (
        pytest.raises(NoBoardError, match="None of b1 became free within 1 s"),
        Pool(["b1"], tmp_path).claim(["b1"], SystemClock(), timeout=1),
    ):
        pass
    holder.kill()  # a crashed xdist worker: the kernel frees its lock
    holder.join()
    with Pool(["b1"], tmp_path).claim(["b1"], SystemClock(), timeout=5) as name:
        assert name == "b1"


def test_unwritable_lock_dir_is_one_sentence(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ConfigError, match=r"The lock directory .* is not writable"):
        Pool(["b1"], blocker / "locks")


def dump_dom(page: Path, tmp_path: Path) -> str:
    """The DOM of a page as headless Chromium built it (skips the test when there is no Chromium)."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'chromium'}", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    ).stdout  # fmt: skip


def test_rig_matrix_command_and_the_page_in_chromium(tmp_path: Path) -> None:
    report, out_json = tmp_path / "report", tmp_path / "paths.json"
    exe = Path(sys.executable).parent / "rig"
    done = subprocess.run(
        [
            str(exe),
            "matrix",
            "--sim",
            "--platforms",
            "boron",
            "--methods",
            "dfu",
            "restore",
            "--from",
            "2.3.1",
            "--report",
            str(report),
            "--json-out",
            str(out_json),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "Matrix summary" in done.stdout and f"Report: {report / 'matrix.html'}" in done.stdout
    paths = json.loads(out_json.read_text())
    assert len(paths) == 4 and {p["outcome"] for p in paths} == {"pass"}
    assert all(p["board_state"].startswith("normal mode, Device OS ") for p in paths)
    assert set(paths[0]) == {
        "platform",
        "from",
        "to",
        "method",
        "outcome",
        "error",
        "board_state",
        "final_versions",
        "modelled_seconds",
        "setup_modelled_seconds",
        "wall_seconds",
        "host",
    }
    assert {p["host"] for p in paths} == {socket.gethostname()}  # a multi-host report names it per path
    dom = dump_dom(report / "matrix.html", tmp_path)
    assert "4 paths: 4 pass" in dom
    assert dom.count('data-outcome="pass"') == 4
    assert 'id="boron-dfu"' in dom and 'id="boron-restore"' in dom
    link = f"runs/{(report / 'latest').resolve().name}/logs/boron-2.3.1-to-4.0.1-dfu.txt"
    assert f'href="{link}"' in dom and (report / link).is_file()


def test_user_binary_across_versions(tmp_path: Path) -> None:
    from rig.firmware.build import build
    from rig.firmware.synthetic import user_app

    app = tmp_path / "app.bin"
    app.write_bytes(build(user_app("boron", 2302, seed=5)))  # needs Device OS 2.3.1
    done = hil(
        "-n",
        "0",
        "--rig-sim",
        "--rig-platforms",
        "boron",
        "--rig-user-binary",
        str(app),
        "-k",
        "test_user_binary",
        "-rA",
    )
    assert "PASSED tests_hil/test_user_binary.py::test_user_binary[boron-2.3.1]" in done.stdout
    assert "PASSED tests_hil/test_user_binary.py::test_user_binary[boron-4.0.1]" in done.stdout
    assert "FAILED tests_hil/test_user_binary.py::test_user_binary[boron-1.5.2]" in done.stdout
    assert (
        "app.bin on Device OS 1.5.2: the app needs system part version 2302; the board is in safe mode" in done.stdout
    )


def test_scenarios_on_the_simulated_lab() -> None:
    """Reverse serial downgrades, the cloud finishing an upgrade, `particle update`, SWD restore."""
    # started as if from the fourth worker of another pytest: the run still takes its first board
    done = hil("-n", "0", "--rig-sim", "-k", "test_scenarios", "-rA", env={**os.environ, "PYTEST_XDIST_WORKER": "gw3"})
    out = done.stdout
    assert done.returncode == 0, out[-3000:]
    for name in (
        "test_serial_downgrade_goes_in_reverse_order",
        "test_cloud_finishes_a_serial_upgrade",
        "test_particle_update_of_a_cli_version[3.6.0]",
        "test_particle_update_of_a_cli_version[3.51.0]",
        "test_hex_restore_image_over_swd",
    ):
        assert f"PASSED tests_hil/test_scenarios.py::{name}" in out, name


def test_particle_update_of_every_cli_version_on_the_real_releases(firmware_dir: Path) -> None:
    """CLI 2.16.0 installs Device OS 2.2.0 (dfu-util, the bootloader through the OTA region): the
    synthetic releases have no 2.2.0 for an Argon, the real ones do."""
    done = hil(
        "-n",
        "0",
        "--rig-sim",
        "--rig-releases",
        str(firmware_dir),
        "--rig-platforms",
        "argon",
        "-k",
        "test_particle_update",
        "-rA",
    )
    assert done.returncode == 0, done.stdout[-3000:]
    for cli in ("2.16.0", "3.6.0", "3.51.0"):
        assert f"PASSED tests_hil/test_scenarios.py::test_particle_update_of_a_cli_version[{cli}]" in done.stdout


def test_paths_are_interleaved_over_platforms_in_their_own_order() -> None:
    paths = [MatrixPath(p, a, b, "dfu") for p in ("boron", "photon") for a, b in (("1", "2"), ("2", "1"), ("1", "3"))]
    paths.append(MatrixPath("argon", "1", "2", "dfu"))
    got = [(p.platform, p.from_version, p.to_version) for p in interleaved(paths)]
    assert got == [
        ("boron", "1", "2"),
        ("photon", "1", "2"),
        ("argon", "1", "2"),
        ("boron", "2", "1"),
        ("photon", "2", "1"),
        ("boron", "1", "3"),
        ("photon", "1", "3"),
    ]


def test_a_night_with_failures_in_chromium_the_failures_come_first_with_their_reasons(tmp_path: Path) -> None:
    """A bench with a DFU write error: `rig matrix` exits 1 and ends with one `path: reason` line per
    failure; matrix.html, as Chromium builds it, has the failures (reasons as visible text, not
    hover titles) right after the run's facts and before the grids; report.html shows the refused
    OTA downgrade as skipped with its reason."""
    bench = tmp_path / "bench.yaml"
    bench.write_text(FAULTY_BENCH)
    report = tmp_path / "report"
    done = subprocess.run(
        [str(Path(sys.executable).parent / "rig"), "matrix", "--sim", "--devices", str(bench), "--methods", "dfu",
         "ota", "--from", "1.5.2", "2.3.1", "-n", "0", "--report", str(report)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-2000:]
    results = {r["id"]: r for r in json.loads((report / "results.json").read_text())["results"]}
    failed = sorted(i for i, r in results.items() if r["outcome"] == "fail")
    assert "photon-1.5.2-to-2.3.1-dfu" in failed and results["photon-2.3.1-to-1.5.2-ota"]["outcome"] == "refused"
    assert "errWRITE" in results["photon-1.5.2-to-2.3.1-dfu"]["error"]
    # piped output (cron mail, CI): after the summary, one unwrapped line per failure
    tail = done.stdout[done.stdout.index("Matrix summary") :].splitlines()
    assert tail[-len(failed) - 1 :] == [f"Failed paths ({len(failed)}):"] + [
        f"{i}: {results[i]['error']}" for i in failed
    ]
    blob = re.search(r'data-jsonblob="([^"]*)"', (report / "report.html").read_text())
    assert blob is not None
    tests = json.loads(html.unescape(blob.group(1)))["tests"]
    [refused] = tests["test_matrix.py::test_path[photon-2.3.1-to-1.5.2-ota]"]
    assert refused["result"] == "Skipped" and "refused: OTA never downgrades" in html.unescape(refused["log"])
    text = text_of(dump_dom(report / "matrix.html", tmp_path))
    assert text.ids[:3] == ["run", "summary", "failures"] and text.ids.index("failures") < text.ids.index("overview")
    failures = text.of("failures")
    assert f"Failures ({len(failed)})" in failures
    for i in failed:
        assert i in failures and results[i]["error"] in failures, (i, failures)
    assert f"Board left in: {results['photon-1.5.2-to-2.3.1-dfu']['board_state']}." in failures


def test_the_matrix_runs_with_xdist_switched_off(tmp_path: Path) -> None:
    """`-p no:xdist`: the rig's xdist hooks are optional, so nothing is an unknown hook."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "-o", "addopts=",
         str(ROOT / "rig" / "hil" / "test_matrix.py"), "--rig-sim", "--rig-platforms", "boron", "--rig-methods",
         "dfu", "--rig-from", "2.3.1", "--rig-report", str(tmp_path / "report")],
        capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0 and "2 passed" in done.stdout, done.stdout[-2000:] + done.stderr[-2000:]
    assert len(json.loads((tmp_path / "report" / "results.json").read_text())["results"]) == 2
