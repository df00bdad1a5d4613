"""The `rig` command: output formats, exit codes, one-sentence errors without tracebacks."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from intelhex import IntelHex

from rig.cli import main
from rig.errors import EXIT_FAILED
from rig.firmware.build import build
from rig.firmware.synthetic import user_app, write_release

JSON_KEYS = {
    "file",
    "size",
    "module",
    "error",
    "prefix_offset",
    "start",
    "end",
    "flags",
    "function",
    "function_name",
    "index",
    "platform_id",
    "platform",
    "version",
    "dependencies",
    "product_id",
    "product_version",
    "suffix_size",
    "sha256",
    "crc_ok",
}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_inspect_json_for_every_real_file(firmware_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = sorted(str(p) for p in firmware_dir.glob("*.bin"))
    code, out, _ = run(capsys, "binary", "inspect", "--json", *files)
    assert code == 0
    objs = json.loads(out)
    assert len(objs) == len(files) and all(set(o) >= JSON_KEYS for o in objs)
    by_name = {o["file"]: o for o in objs}
    sp = by_name["boron-system-part1@2.2.0.bin"]
    assert sp == {
        **sp,
        "module": True,
        "error": None,
        "prefix_offset": 0x200,
        "start": 0x30000,
        "end": 0xA9DD4,
        "flags": 0,
        "function": 4,
        "function_name": "system part",
        "index": 1,
        "platform_id": 13,
        "platform": "boron",
        "version": 2202,
        "product_id": 65535,
        "product_version": 65535,
        "suffix_size": 40,
        "crc_ok": True,
        "size": 499160,
    }
    assert sp["dependencies"] == [
        {"function": 2, "index": 0, "version": 1005},
        {"function": 8, "index": 0, "version": 202},
    ]
    assert len(sp["sha256"]) == 64 and sp["sha256"] == sp["sha256"].lower()
    sd = by_name["argon-softdevice@2.2.0.bin"]
    assert (sd["product_id"], sd["product_version"], sd["suffix_size"], sd["flags"]) == (None, None, 36, 1)
    flag = by_name["ota-flag-a5.bin"]
    assert flag["module"] is False and "OTA flag" in flag["error"] and flag["size"] == 1
    assert flag["start"] is None and flag["dependencies"] is None and flag["crc_ok"] is None
    assert by_name["electron-system-part1@2.3.1.bin"]["index"] == 3


def test_inspect_text_and_bad_crc(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "app.bin"
    good.write_bytes(build(user_app("boron", 2302)))
    bad = tmp_path / "bad.bin"
    data = bytearray(good.read_bytes())
    data[100] ^= 0xFF
    bad.write_bytes(bytes(data))
    code, out, _ = run(capsys, "binary", "inspect", str(good), str(bad))
    assert code == 0
    assert "This is a user part module number 1 at version 6" in out
    assert "It depends on a system part module number 1 at version 2302" in out
    assert "CRC is WRONG" in out and "Problem: bad.bin: CRC-32 mismatch" in out
    code, out, _ = run(capsys, "binary", "inspect", "--json", str(bad))
    obj = json.loads(out)[0]
    assert obj["module"] is True and obj["crc_ok"] is False and "CRC-32 mismatch" in obj["error"]


def test_inspect_unreadable_file_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "binary", "inspect", "--json", str(tmp_path / "missing.bin"))
    assert code == 1 and json.loads(out)[0]["error"].endswith("no such file; check the path.")


def test_releases_list(firmware_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "releases", "list", str(firmware_dir))
    assert code == 0
    assert "tracker" in out and "4.0.1" in out and "skipped ota-flag-a5.bin" in out


def test_hex_command_writes_a_readable_image(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_release(tmp_path / "rel", "photon", "2.3.1")
    app = tmp_path / "app.bin"
    app.write_bytes(build(user_app("photon", 2302, seed=3)))
    out_hex = tmp_path / "photon.hex"
    code, out, err = run(
        capsys,
        "hex",
        "--platform",
        "photon",
        "--version",
        "2.3.1",
        "--releases",
        str(tmp_path / "rel"),
        "--user",
        str(app),
        "-o",
        str(out_hex),
    )
    assert code == 0 and err == "" and "4 segments" in out
    image = IntelHex(str(out_hex))
    assert image.tobinstr(start=0x080A0000, size=app.stat().st_size) == app.read_bytes()


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (
            ["hex", "--platform", "boron", "--version", "2.3.1", "--releases", "{tmp}/none", "-o", "{tmp}/x.hex"],
            "does not exist",
        ),
        (
            ["hex", "--platform", "toaster", "--version", "2.3.1", "--releases", "{tmp}", "-o", "{tmp}/x.hex"],
            "Unknown platform 'toaster'",
        ),
    ],
)
def test_user_errors_are_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], needle: str
) -> None:
    code, _, err = run(capsys, *[a.replace("{tmp}", str(tmp_path)) for a in argv])
    assert code == 2
    assert err.startswith("rig: error: ") and needle in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_an_unreachable_release_server_is_a_bench_failure_in_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["releases", "fetch", "2.3.1", "--platform", "boron", "--base-url", "http://127.0.0.1:9"]
    code, _, err = run(capsys, *argv, "--cache", str(tmp_path / "c"), "--dest", str(tmp_path / "d"), "--timeout", "2")
    assert (
        code == EXIT_FAILED and err.startswith("rig: error: Cannot reach http://127.0.0.1:9 ") and err.count("\n") == 1
    )


def test_console_script_entry_point(tmp_path: Path) -> None:
    exe = shutil.which("rig", path=str(Path(sys.executable).parent))
    assert exe, "the rig console script is not installed"
    ok = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60, check=False)
    assert ok.returncode == 0 and "particle-rig" in ok.stdout
    bad = subprocess.run(
        [exe, "binary", "inspect", "--json", str(tmp_path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert bad.returncode == 1 and "is a directory" in bad.stdout and bad.stderr == ""


def test_bench_in_a_box_errors_are_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from rig.sim import box_env

    monkeypatch.delenv("LD_PRELOAD", raising=False)
    monkeypatch.setattr(box_env, "preload_available", lambda: False)
    code, _, err = run(capsys, "sim", "serve", "--usb", "--env-file", str(tmp_path / "bench.env"))
    assert (code, err.strip()) == (
        2,
        "rig: error: --usb needs umockdev: install the Debian packages umockdev and gir1.2-umockdev-1.0.",
    )
    code, _, err = run(capsys, "sim", "exec", "--env-file", str(tmp_path / "bench.env"))
    assert (code, err.strip()) == (
        2,
        "rig: error: rig sim exec needs a command after --, e.g. rig sim exec --env-file bench.env -- lsusb",
    )
    stale = tmp_path / "stale.env"
    stale.write_text(f"UMOCKDEV_DIR={tmp_path / 'gone'}\n")
    code, _, err = run(capsys, "sim", "exec", "--env-file", str(stale), "--", "lsusb")
    assert code == 2 and "names no running bench" in err and "is `rig sim serve` still up?" in err
    assert not (tmp_path / "bench.env").exists()


LOADED = """
import sys
from rig.cli import main
try:
    main(sys.argv[1:])
finally:
    heavy = ("pytest", "rig.sim.lab", "rig.device", "rig.runner", "httpx", "pydantic")
    sys.stderr.write("loaded: " + " ".join(m for m in heavy if m in sys.modules) + "\\n")
"""


@pytest.mark.parametrize(
    "argv",
    [["sim", "exec", "--env-file", "missing.env", "--", "true"], ["labgrid", "--help"], ["matrix", "--help"]],
)
def test_a_command_loads_only_what_it_uses(tmp_path: Path, argv: list[str]) -> None:
    """`rig sim exec` starts before every program of the bench in a box: no pytest, simulator or device layer."""
    done = subprocess.run(
        [sys.executable, "-c", LOADED, *argv], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
    )
    assert "loaded: \n" in done.stderr, done.stderr
