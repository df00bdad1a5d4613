"""Bad input (issue 8): binaries, devices.yaml and the environment. Each mistake ends in one sentence
naming the thing and the fix, a non-zero exit with no traceback on the CLI, and nothing written to
any board (flash, pending updates and the bytes a board received are compared before and after).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from rig.cli import main
from rig.device import Device
from rig.device.flash import FlashRefused, flash
from rig.device.identify import identify
from rig.errors import RigError
from rig.firmware import versions
from rig.firmware.build import build, build_combined
from rig.firmware.module import ChecksumError, NotAModuleError, TruncatedModuleError
from rig.firmware.synthetic import user_app
from rig.sim.board import Board
from rig.sim.lab import Lab
from rig.transport.cloud import CloudAuthError, CloudClient
from rig.transport.errors import PortBusyError, UsbAccessError
from rig.transport.hub import Uhubctl
from testsupport.boards import snapshot
from testsupport.devices import device as board_device

ALL_PATHS = ("dfu", "usb", "serial", "ota", "dfu-util", "particle-cli")


def device(lab: Lab, board: Board, name: str) -> Device:
    """A Device for a simulated board, with the lab's cloud."""
    dev = board_device(lab, board, name)
    dev.cloud = CloudClient()
    return dev


def _app(platform: str, semver: str) -> bytes:
    return build(user_app(platform, versions.module_version(semver)))


def _corrupt(data: bytes) -> bytes:
    return data[:100] + bytes([data[100] ^ 0xFF]) + data[101:]


def _compressed(platform: str, semver: str) -> bytes:
    spec = user_app(platform, versions.module_version(semver))
    return build(type(spec)(**{**spec.__dict__, "compressed": True}))


def _three(platform: str, semver: str) -> bytes:
    v = versions.module_version(semver)
    return build_combined([user_app(platform, v, seed=1), user_app(platform, v, seed=2), user_app(platform, v, seed=3)])


BINARIES: dict[str, tuple[Callable[[], bytes], str, str, type[RigError], str]] = {
    # case: (bytes, board platform, its Device OS, the error raised, what the sentence must say)
    "truncated": (
        lambda: _app("boron", "2.2.0")[:3000],
        "boron",
        "2.2.0",
        TruncatedModuleError,
        "is truncated: the file has 3000 of the",
    ),
    "wrong CRC": (lambda: _corrupt(_app("boron", "2.2.0")), "boron", "2.2.0", ChecksumError, "CRC-32 mismatch"),
    "wrong platform": (
        lambda: _app("photon", "2.2.0"),
        "boron",
        "2.2.0",
        FlashRefused,
        "is built for the Photon; dut is a Boron",
    ),
    "OTA flag, not a module": (lambda: b"\xa5", "boron", "2.2.0", NotAModuleError, "is the one-byte OTA flag"),
    "random bytes": (lambda: os.urandom(4096), "boron", "2.2.0", NotAModuleError, "has no Particle module header"),
    "app for a newer Device OS": (
        lambda: _app("boron", "4.0.1"),
        "boron",
        "2.2.0",
        FlashRefused,
        "needs Device OS 4.0.1 or later; dut runs 2.2.0",
    ),
}


@pytest.mark.parametrize("via", ALL_PATHS)
@pytest.mark.parametrize("case", list(BINARIES))
def test_bad_binary_is_refused_and_nothing_is_written(lab: Lab, case: str, via: str) -> None:
    make, platform, semver, expected, needle = BINARIES[case]
    board = lab.add_board("dut", platform, semver, settings=None)
    board.settings.online = True
    dev = device(lab, board, "dut")
    lab.settle(5)
    before = snapshot(board)
    with pytest.raises(expected) as info:
        flash(dev, make(), via, "bad.bin")
    assert type(info.value) is expected
    message = str(info.value)
    assert needle in message and "\n" not in message
    assert snapshot(board) == before


@pytest.mark.parametrize(
    ("make", "platform", "semver", "vias", "needle"),
    [
        (
            lambda: _compressed("boron", "4.0.1"),
            "boron",
            "4.0.1",
            ("dfu", "dfu-util", "particle-cli", "swd"),
            "is compressed; only the board can inflate it",
        ),
        (
            lambda: _compressed("photon", "1.5.2"),
            "photon",
            "1.5.2",
            ("usb", "serial", "ota"),
            "is compressed or combined, which needs Device OS 2.0.0 or later; dut runs 1.5.2",
        ),
        (
            lambda: _three("boron", "4.0.1"),
            "boron",
            "4.0.1",
            ("usb", "serial", "ota"),
            "combines 3 modules; a board takes at most 2",
        ),
    ],
    ids=["compressed-over-raw-paths", "compressed-on-old-device-os", "three-combined"],
)
def test_packed_modules_where_the_path_cannot_take_them(lab, make, platform, semver, vias, needle) -> None:
    board = lab.add_board("dut", platform, semver)
    board.settings.online = True
    board.settings.swd_probe = "probe-1"
    dev = device(lab, board, "dut")
    dev.swd_probe = "probe-1"
    lab.settle(5)
    before = snapshot(board)
    for via in vias:
        with pytest.raises(FlashRefused) as info:
            flash(dev, make(), via, "packed.bin")
        assert str(info.value).startswith(f"packed.bin {needle}"), str(info.value)
    assert snapshot(board) == before


def test_real_non_modules_say_so(lab: Lab, firmware_dir: Path) -> None:
    board = lab.add_board("dut", "photon", "1.5.2")
    dev = device(lab, board, "dut")
    before = snapshot(board)
    for name, expected, needle in (
        ("core_tinker.bin", FlashRefused, "core_tinker.bin is built for the Core; dut is a Photon."),
        ("cc3000-patch-programmer.bin", NotAModuleError, "has no Particle module header"),
        ("deep_update_2014_06.bin", NotAModuleError, "has no Particle module header"),
        ("ota-flag-a5.bin", NotAModuleError, "is the one-byte OTA flag (0xA5), not a module"),
    ):
        with pytest.raises(expected) as info:
            flash(dev, (firmware_dir / name).read_bytes(), "dfu", name)
        assert type(info.value) is expected, name
        assert needle in str(info.value), str(info.value)
    assert snapshot(board) == before


def test_a_forced_app_for_a_newer_device_os_goes_through(lab: Lab) -> None:
    board = lab.add_board("dut", "photon", "1.5.2")
    dev = device(lab, board, "dut")
    with pytest.raises(FlashRefused, match=r"^app\.bin needs Device OS 2\.3\.1 or later; dut runs 1\.5\.2"):
        flash(dev, _app("photon", "2.3.1"), "usb", "app.bin")
    result = flash(dev, _app("photon", "2.3.1"), "dfu", "app.bin", force=True)
    assert result.final_mode == "safe"  # what the user asked for: the board says it cannot run the app


@pytest.mark.parametrize("via", ["dfu", "usb", "serial", "dfu-util"])
def test_a_system_part_whose_bootloader_is_too_old_is_refused(real_store, via: str) -> None:
    """Boron 2.2.0 has bootloader v1006; system part 1 of 4.0.1 needs v1101. Written raw, it would
    leave the board in safe mode: refused before anything is written, unless forced."""
    name = "boron-system-part1@4.0.1.bin"
    data = (real_store.root / name).read_bytes()
    with Lab(releases=real_store) as lab:
        board = lab.add_board("dut", "boron", "2.2.0")
        dev = device(lab, board, "dut")
        before = snapshot(board)
        with pytest.raises(FlashRefused) as info:
            flash(dev, data, via, name)
        assert str(info.value) == (
            f"{name} needs bootloader v1101 or later; dut has bootloader v1006: flash the bootloader first "
            "(rig plan shows the order), or pass --force."
        )
        assert snapshot(board) == before
        if via == "dfu":  # what the check keeps a user from: the board stops in safe mode
            assert flash(dev, data, via, name, force=True).final_mode == "safe"


def test_cli_flash_refuses_a_system_part_for_a_newer_bootloader(
    real_store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = cli(
        capsys,
        "flash",
        "boron-1",
        str(real_store.root / "boron-system-part1@4.0.1.bin"),
        "--via",
        "dfu",
        "--sim",
        "--devices",
        bench(tmp_path),
        "--releases",
        str(real_store.root),
    )
    assert "needs bootloader v1101 or later; boron-1 has bootloader v1006" in err


# ---- the CLI: one sentence on stderr, exit 2, no traceback --------------------------------------------

BENCH = """devices:
  - name: boron-1
    platform: boron
    device_id: e00fce68a1b2c3d4e5f60718
    hub: {location: "1-1", port: 2}
    sim: {device_os: 2.2.0FAULTS}
"""


def bench(tmp_path: Path, faults: str = "", text: str | None = None) -> str:
    path = tmp_path / "devices.yaml"
    path.write_text(text if text is not None else BENCH.replace("FAULTS", f", faults: {{{faults}}}" if faults else ""))
    return str(path)


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code == 2, out + err
    assert err.startswith("rig: error: ") and err.count("\n") == 1 and "Traceback" not in err
    return err


@pytest.mark.parametrize("case", list(BINARIES))
def test_cli_bad_binary(tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str) -> None:
    make, *_, needle = BINARIES[case]
    app = tmp_path / "bad.bin"
    app.write_bytes(make())
    err = cli(capsys, "flash", "boron-1", str(app), "--via", "usb", "--devices", bench(tmp_path), "--sim")
    assert needle.replace("dut", "boron-1") in err


def test_a_pipe_named_bin_is_refused_without_blocking(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Reading a FIFO would wait for a writer for ever; the rig refuses it before opening it."""
    fifo = tmp_path / "firmware.bin"
    os.mkfifo(fifo)
    assert main(["binary", "inspect", str(fifo)]) == 1  # inspect reports each file: this one is not a module
    out = capsys.readouterr().out
    assert "is not a regular file (a pipe, a device or a socket); pass a firmware file." in out


@pytest.mark.parametrize(
    ("text", "needle", "fix"),
    [
        ("devices:\n  - name: [\n", "is not valid YAML at line 3", "fix the syntax"),
        (
            BENCH.replace("FAULTS", "") + "    colour: red\n",
            "board 'boron-1', field 'colour': unknown key",
            "fix the file",
        ),
        (
            BENCH.replace("FAULTS", "").replace("e00fce68a1b2c3d4e5f60718", "e00f-zz"),
            "field 'device_id': must be the 24 hex digits",
            "fix the file",
        ),
        (
            BENCH.replace("FAULTS", "") + BENCH.replace("FAULTS", "").split("devices:\n")[1].replace("boron-1", "b2"),
            "boards 'boron-1' and 'b2' have the same device_id",
            "fix the file",
        ),
        (
            BENCH.replace("FAULTS", "")
            + BENCH.replace("FAULTS", "")
            .split("devices:\n")[1]
            .replace("boron-1", "b2")
            .replace("e00fce68a1b2c3d4e5f60718", "e00fce68a1b2c3d4e5f60719"),
            "boards 'boron-1' and 'b2' have the same hub",
            "fix the file",
        ),
        (
            BENCH.replace("FAULTS", "").replace('"1-1"', '"1-1$(touch /tmp/rig-pwned)"'),
            "board 'boron-1', field 'hub.location'",
            "fix the file",
        ),
        (
            BENCH.replace("FAULTS", "").replace("port: 2", 'port: "2; reboot"'),
            "board 'boron-1', field 'hub.port'",
            "fix the file",
        ),
    ],
    ids=[
        "syntax",
        "unknown-key",
        "bad-id",
        "duplicate-board",
        "duplicate-hub-port",
        "shell-in-location",
        "shell-in-port",
    ],
)
def test_cli_bad_devices_yaml(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, needle: str, fix: str
) -> None:
    """Validation rejects the file (shell metacharacters included); test_hub_fields_never_reach_a_shell
    shows that a hub field that got past it would still reach no shell."""
    err = cli(capsys, "devices", "--devices", bench(tmp_path, text=text), "--sim")
    assert needle in err and err.endswith(f"; {fix}.\n"), err


def test_cli_missing_devices_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "does not exist; pass --devices FILE" in cli(capsys, "devices", "--devices", str(tmp_path / "no.yaml"))


def test_hub_fields_never_reach_a_shell(tmp_path: Path) -> None:
    """Even a location that got past validation is one argv element: sh runs no shell."""
    record = tmp_path / "argv.txt"
    fake = tmp_path / "uhubctl"
    fake.write_text(f'#!/bin/sh\nfor a in "$@"; do echo "$a" >> {record}; done\n')
    fake.chmod(0o755)
    pwned = tmp_path / "pwned"
    Uhubctl(program=str(fake)).set_power(f"1-1; touch {pwned}", 2, on=True)
    assert record.read_text().splitlines() == ["-l", f"1-1; touch {pwned}", "-p", "2", "-a", "on"]
    assert not pwned.exists()


def test_cli_serial_port_busy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app = tmp_path / "app.bin"
    app.write_bytes(_app("boron", "2.2.0"))
    err = cli(
        capsys,
        "flash",
        "boron-1",
        str(app),
        "--via",
        "serial",
        "--devices",
        bench(tmp_path, "serial_busy: true"),
        "--sim",
    )
    assert "is in use by another program" in err and "close it and run again" in err


def test_serial_port_busy_writes_nothing(lab: Lab) -> None:
    board = lab.add_board("dut", "boron", "2.2.0")
    board.faults.serial_busy = True
    dev = device(lab, board, "dut")
    before = snapshot(board)
    with pytest.raises(PortBusyError, match="is in use by another program"):
        flash(dev, _app("boron", "2.2.0"), "serial", "app.bin")
    assert snapshot(board)[0] == before[0] and not board.pending and board.update is None


def test_no_usb_permission(capsys: pytest.CaptureFixture[str]) -> None:
    with Lab(usb_permission=False) as lab:
        board = lab.add_board("dut", "boron", "2.2.0")
        dev = device(lab, board, "dut")
        before = snapshot(board)
        no_permission = r"^No permission to use the USB device"
        with pytest.raises(UsbAccessError, match=rf"{no_permission} 2b04:c00d .*install Particle's udev"):
            identify(dev)
        with pytest.raises(UsbAccessError, match=no_permission):
            flash(dev, _app("boron", "2.2.0"), "dfu", "app.bin")
        assert snapshot(board) == before


def test_cloud_token_missing_or_rejected(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    board = lab.add_board("dut", "boron", "2.2.0")
    board.settings.online = True
    lab.settle(5)
    dev = device(lab, board, "dut")
    before = snapshot(board)
    dev.cloud = CloudClient(token="not-a-token")
    rejected = r"^The cloud rejected the access token: set RIG_CLOUD_TOKEN to a valid token\.$"
    with pytest.raises(CloudAuthError, match=rejected):
        flash(dev, _app("boron", "2.2.0"), "ota", "app.bin")
    monkeypatch.delenv("RIG_CLOUD_TOKEN")
    missing = r"^No cloud access token: set RIG_CLOUD_TOKEN \(or pass --cloud-token\)\.$"
    with pytest.raises(CloudAuthError, match=missing):
        CloudClient().device(board.device_id)
    assert snapshot(board) == before


def test_uhubctl_missing(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(Path(sys.executable).parent)}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "rig"), "power", "boron-1", "cycle", "--devices", bench(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr == "rig: error: uhubctl is not installed: install it (apt-get install uhubctl).\n"


def hil_pytest(*options: str) -> subprocess.CompletedProcess[str]:
    """pytest on tests_hil with the simulated lab and these options."""
    argv = [sys.executable, "-m", "pytest", str(Path(__file__).parents[1] / "tests_hil"), "--rig-sim", *options]
    argv += ["-p", "no:cacheprovider", "-q", "-n", "0"]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


def test_empty_release_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "releases").mkdir()
    (tmp_path / "releases" / "notes.bin").write_bytes(b"hello")
    needle = "No Device OS releases in"
    assert needle in cli(capsys, "matrix", "--sim", "--releases", str(tmp_path / "releases"))
    assert "No boron 4.0.1 release" in cli(
        capsys,
        "plan",
        "--releases",
        str(tmp_path / "releases"),
        "--platform",
        "boron",
        "--to",
        "4.0.1",
        "--method",
        "dfu",
    )
    done = hil_pytest("--rig-releases", str(tmp_path / "releases"))
    assert done.returncode == 4 and "Traceback" not in done.stdout + done.stderr
    assert f"ERROR: {needle} {tmp_path / 'releases'} (1 files skipped)" in done.stderr


def test_lock_dir_not_writable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    done = hil_pytest("--rig-lock-dir", str(blocker / "locks"))
    assert done.returncode == 4 and "Traceback" not in done.stdout + done.stderr
    assert f"ERROR: The lock directory {blocker / 'locks'} is not writable" in done.stderr
