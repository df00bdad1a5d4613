"""External tools: missing programs are one sentence naming what to install; a CLI source folder
runs with `npm start`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path

import pytest
import sh

from rig.firmware.build import build
from rig.firmware.format import ModuleFunction as F
from rig.firmware.synthetic import user_app
from rig.firmware.versions import module_version
from rig.sim.board import Mode
from rig.sim.lab import Lab
from rig.transport.errors import ToolError
from rig.transport.tools import DfuUtil, ParticleCli, PyOcd, finished, run


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: DfuUtil("no-dfu-util").list(), "no-dfu-util is not installed: install it (apt-get install dfu-util)."),
        (
            lambda: PyOcd("no-pyocd").flash("x.hex", "nrf52840", "p"),
            "no-pyocd is not installed: install the swd extra (pip install 'particle-rig[swd]').",
        ),
        (
            lambda: ParticleCli("no-particle").version(),
            "no-particle is not installed: install it (npm install -g particle-cli) or pass a CLI source folder.",
        ),
    ],
)
def test_missing_tool_is_one_sentence(call, message: str) -> None:
    with pytest.raises(ToolError) as info:
        call()
    assert str(info.value) == message


@pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed")
def test_cli_source_folder_runs_with_npm_start(tmp_path: Path) -> None:
    (tmp_path / "package.json").write_text(
        json.dumps({"name": "fake-cli", "version": "3.6.0", "scripts": {"start": "node cli.js"}})
    )
    (tmp_path / "cli.js").write_text("console.log(process.argv.slice(2).includes('--version') ? '3.6.0' : 'x')\n")
    assert ParticleCli(source_dir=str(tmp_path)).version() == "3.6.0"


@pytest.mark.parametrize(
    "real", [True, pytest.param(False, marks=pytest.mark.stand_in)], ids=["real dfu-util", "stand-in"]
)
def test_dfu_util_lists_simulated_boards(real: bool) -> None:
    with Lab(real_programs=real) as lab:
        assert lab.programs is not None
        if real and "dfu-util" in lab.programs.stand_ins.handlers:
            pytest.skip(f"the real dfu-util cannot run here: {lab.programs.why or 'dfu-util is not installed'}")
        dfu_util_lists(lab)


def dfu_util_lists(lab: Lab) -> None:
    board = lab.add_board("b", "boron", "2.3.1")
    board.backup_request = "dfu"
    board.reset("test")
    lab.settle(3)
    found = DfuUtil().list()
    assert [(f.vid_pid, f.alt, f.serial) for f in found] == [  # dfu-util 0.11 lists the last alt first
        ("2b04:d00d", 2, board.device_id),
        ("2b04:d00d", 1, board.device_id),
        ("2b04:d00d", 0, board.device_id),
    ]
    assert found[1].name == "@DCD Flash   /0x00000000/1*016Ke"  # a 2.x bootloader (§2.5)
    with pytest.raises(ToolError, match=r"Could not open file x\.bin for reading: No such file or directory"):
        DfuUtil().download("2b04:d006", 0, 0x08020000, "x.bin")  # the file is opened first
    image = Path(tempfile.mkdtemp()) / "x.bin"
    image.write_bytes(b"\xff" * 16)
    with pytest.raises(ToolError, match="No DFU capable USB device available"):  # -S compares as it is
        DfuUtil().download("2b04:d00d", 0, 0x000F4000, str(image), serial=board.device_id.upper())
    with pytest.raises(ToolError, match="No DFU capable USB device available"):  # -d VID:PID,DFU_VID:DFU_PID
        DfuUtil().download(",2b04:d006", 0, 0x08020000, str(image))
    DfuUtil().download("2b04:d006", 0, 0x000F4000, str(image))  # -d without a comma: any board in DFU mode
    shutil.rmtree(image.parent)


@pytest.mark.parametrize("when", ["while it runs", "while it is launched"])
def test_an_interrupted_tool_ends_and_leaves_no_thread_that_holds_the_exit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, when: str
) -> None:
    """Ctrl-C (or SIGTERM) during a tool's run, or during its launch (the program already started,
    sh not yet returned it: a loaded machine): the program ends and no thread stays behind that
    keeps the interpreter from exiting (sh's `_timeout` timer kept a stopped matrix alive for the
    tool's whole timeout)."""
    pid_file = tmp_path / "pid"
    script = tmp_path / "slow"
    script.write_text(f"#!/bin/sh\necho $$ > {pid_file}.new\nmv {pid_file}.new {pid_file}\nexec sleep 600\n")
    script.chmod(0o755)
    main = threading.main_thread().ident or 0

    def started() -> None:
        end = time.monotonic() + 60
        while not pid_file.exists() and time.monotonic() < end:
            time.sleep(0.02)

    def interrupt() -> None:  # Ctrl-C once the program runs
        started()
        signal.pthread_kill(main, signal.SIGINT)

    def ctrl_c(signum: int, frame: object) -> None:  # as Python's own SIGINT handler (the rig's marks the process)
        raise KeyboardInterrupt

    if when == "while it is launched":  # the Ctrl-C comes before sh hands the running program back
        process_class = sh.RunningCommand.__init__.__globals__["OProc"]  # sh's module hides it behind its wrapper
        launch = process_class.__init__

        def launched_then_interrupted(self: object, *args: object, **kwargs: object) -> None:
            launch(self, *args, **kwargs)
            started()
            signal.pthread_kill(main, signal.SIGINT)

        monkeypatch.setattr(process_class, "__init__", launched_then_interrupted)
    before = set(threading.enumerate())
    saved = signal.signal(signal.SIGINT, ctrl_c)
    try:
        if when == "while it runs":
            threading.Thread(target=interrupt, daemon=True).start()
        with pytest.raises(KeyboardInterrupt):
            finished(sh.Command(str(script)), [], timeout=300)
    finally:
        signal.signal(signal.SIGINT, saved)
    holding = [t for t in threading.enumerate() if t not in before and not t.daemon and t.is_alive()]
    assert holding == []
    with pytest.raises(ProcessLookupError):  # ended and reaped
        os.kill(int(pid_file.read_text()), 0)


def test_a_fast_program_s_whole_output_and_failure_reason_come_back() -> None:
    """A program that ends at once (as uhubctl and dfu-util often do): its stdout, and on failure its
    stderr's reason, are whole every time (sh's wait(timeout) returned before its readers had them)."""
    for _ in range(40):
        assert finished(sh.Command("/bin/echo"), ["hello world"], timeout=30) == "hello world\n"
        with pytest.raises(ToolError, match=r"failed: the reason$"):
            run("/bin/sh", "-", ["-c", "echo the reason >&2; exit 3"], timeout=30)


@pytest.mark.parametrize(
    "real", [True, pytest.param(False, marks=pytest.mark.stand_in)], ids=["real particle-cli", "stand-in"]
)
def test_particle_flash_usb_says_what_the_real_cli_says(real: bool, tmp_path: Path) -> None:
    app = tmp_path / "app.bin"
    app.write_bytes(build(user_app("boron", module_version("2.3.1"), version=42)))
    with Lab(real_programs=real) as lab:
        assert lab.programs is not None
        if real and "particle" in lab.programs.stand_ins.handlers:
            pytest.skip(f"the real Particle CLI cannot run here: {lab.programs.why or 'it is not on PATH'}")
        board = lab.add_board("b", "boron", "2.3.1")
        with pytest.raises(ToolError) as refused:
            ParticleCli().flash_usb(str(app))
        assert str(refused.value) == "particle failed: No devices found"  # the CLI says it on stdout
        board.backup_request = "dfu"
        board.reset("test")
        lab.settle(3)
        said = ParticleCli().flash_usb(str(app))
        assert said == f"Flashing boron device {board.device_id}\nFlashing app.bin\nFlash success!\n"
        lab.settle(5)
        with lab.clock.lock:
            apps = [m for m in board.installed() if m.function == F.USER_PART]
        assert board.mode == Mode.NORMAL and apps[0].module is not None and apps[0].module.data == app.read_bytes()
