"""Board commands of the `rig` CLI on a simulated bench: output, exit codes, faults end in one
sentence (no traceback) and a powered board."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rig.cli import main
from rig.errors import EXIT_FAILED

BENCH = """devices:
  - name: boron-1
    platform: boron
    device_id: e00fce68a1b2c3d4e5f60718
    hub: {location: "1-1", port: 2}
    sim: {device_os: 2.2.0, imei: "352753090000001", iccid: "8934076500002587657"FAULTS}
  - name: photon-1
    platform: photon
    device_id: 3a0027000547343233323032
    hub: {location: "1-1", port: 3}
    sim: {device_os: 1.5.2}
"""


def bench(tmp_path: Path, faults: str = "") -> str:
    path = tmp_path / "devices.yaml"
    path.write_text(BENCH.replace("FAULTS", f", faults: {{{faults}}}" if faults else ""))
    return str(path)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_devices_identify_modules(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    devices = bench(tmp_path)
    code, out, _ = run(capsys, "devices", "--devices", devices, "--sim")
    assert code == 0 and "boron-1" in out and "2.2.0" in out and "1.5.2" in out
    code, out, _ = run(capsys, "identify", "boron-1", "--devices", devices, "--sim")
    assert out.splitlines()[:4] == [
        "Your device id is e00fce68a1b2c3d4e5f60718",
        "Your IMEI is 352753090000001",
        "Your ICCID is 8934076500002587657",
        "Your system firmware version is 2.2.0",
    ]
    code, out, _ = run(capsys, "modules", "photon-1", "--devices", devices, "--sim")
    assert code == 0 and "system part 2 v1512" in out


def test_mode_power_flash_setup_done(tmp_path: Path, capsys: pytest.CaptureFixture[str], firmware_dir: Path) -> None:
    devices = bench(tmp_path)
    assert run(capsys, "mode", "boron-1", "listening", "--devices", devices, "--sim")[1].startswith(
        "boron-1 is in listening mode (via control request 70"
    )
    assert run(capsys, "power", "photon-1", "cycle", "--devices", devices, "--sim")[0] == 0
    code, out, _ = run(
        capsys,
        "flash",
        "photon-1",
        str(firmware_dir / "tinker-0.4.5-photon.bin"),
        "--via",
        "usb",
        "--devices",
        devices,
        "--sim",
    )
    assert code == 0 and "flashed Photon user part 1 v3 (5324 bytes) via usb" in out and "normal mode" in out
    assert run(capsys, "setup-done", "boron-1", "--devices", devices, "--sim")[1] == "Done.\n"


@pytest.mark.parametrize(
    ("faults", "argv", "needle"),
    [
        ("stuck: true", ["mode", "boron-1", "dfu"], "could not be put in dfu mode"),
        ("port_keeps_power: true", ["power", "boron-1", "off"], "did not cut power: check that the hub supports"),
        ("disconnect_after_bytes: 5000", ["flash", "boron-1", "APP", "--via", "dfu"], "left USB in the middle"),
        ("dfu_error_status: 3", ["flash", "boron-1", "APP", "--via", "dfu"], "errWRITE"),
        (
            "ymodem_silent: true",
            ["flash", "boron-1", "APP", "--via", "serial"],
            "The receiver cancelled the transfer at the header: Failed to receive the file.",
        ),
    ],
)
def test_faults_end_in_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], firmware_dir: Path, faults: str, argv: list[str], needle: str
) -> None:
    devices = bench(tmp_path, faults)
    app = str(firmware_dir / "tinker-0.8.0-rc.27-boron.bin")
    code, _, err = run(capsys, *[app if a == "APP" else a for a in argv], "--devices", devices, "--sim")
    assert code == EXIT_FAILED and err.startswith("rig: error: ") and needle in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_hanging_uhubctl_ends_in_a_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RIG_UHUBCTL_TIMEOUT", "0.5")
    code, _, err = run(capsys, "power", "boron-1", "cycle", "--devices", bench(tmp_path, "uhubctl_hangs: 1"), "--sim")
    assert code == EXIT_FAILED and err == "rig: error: uhubctl -l 1-1 -p 2 -a off did not finish within 0.5 s.\n"


def test_unknown_fault_in_devices_yaml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "devices", "--devices", bench(tmp_path, "gremlins: 1"), "--sim")
    assert code == 2 and "field 'sim.faults': unknown fault 'gremlins'" in err


def test_real_bench_without_boards_reports_them_off(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "rig"
    done = subprocess.run(
        [str(exe), "identify", "boron-1", "--devices", bench(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == EXIT_FAILED and "Traceback" not in done.stderr
    assert done.stderr.startswith("rig: error: boron-1 (e00fce68a1b2c3d4e5f60718) is not on USB (hub 1-1 port 2)")
