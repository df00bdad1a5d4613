"""External tools: missing programs are one sentence naming what to install; a CLI source folder
runs with `npm start`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rig.transport.errors import ToolError
from rig.transport.tools import DfuUtil, ParticleCli, PyOcd


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


def test_dfu_util_lists_simulated_boards(lab) -> None:
    board = lab.add_board("b", "boron", "2.3.1")
    board.backup_request = "dfu"
    board.reset("test")
    lab.settle(3)
    found = DfuUtil().list()
    assert [(f.vid_pid, f.alt, f.serial) for f in found] == [
        ("2b04:d00d", 0, board.device_id),
        ("2b04:d00d", 1, board.device_id),
        ("2b04:d00d", 2, board.device_id),
    ]
    assert found[1].name == "@DCD Flash   /0x00000000/1*016Ke"  # a 2.x bootloader (§2.5)
    with pytest.raises(ToolError, match="No DFU capable USB device available"):
        DfuUtil().download("2b04:d006", 0, 0x08020000, "x.bin")
