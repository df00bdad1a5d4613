"""`rig path run`: one path on a board of this host's bench, its record printed as one JSON object
(the record `rig matrix` journals, plus the host): what an exporter host runs for a client that owns
the matrix (docs/multi-host.md). The board is claimed through the host's lock folder, set up at
`from`, the path run (rig/runner/path.py), and the board handed back recovered and powered.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import signal
import tempfile
import threading
from dataclasses import asdict
from pathlib import Path

from rich.console import Console

from rig import assemble, matrix
from rig.cli.matrix import check_json_out
from rig.cli.parser import DEVICES_ENV
from rig.clock import SystemClock
from rig.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_PASSED, EXIT_QUARANTINED, ConfigError
from rig.firmware.release import ReleaseStore
from rig.inventory import DeviceSpec, load_inventory
from rig.report.collect import as_interrupted
from rig.report.results import PathResult
from rig.runner.path import as_planned, attempt
from rig.runner.prepare import hand_back, take_over


def cmd_path_run(args: argparse.Namespace, out: Console) -> int:
    """`rig path run`: the path's record on stdout; 0 passed or refused as planned, 1 failed, 4 quarantined."""
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    path, specs = _checked(args)
    if args.stop_on_eof:
        _stop_when_stdin_closes()
    tmp = Path(tempfile.mkdtemp(prefix="rig-synthetic-")) if args.sim and not args.releases else None
    try:
        store = _store(args, path.platform, tmp)
        matrix.check_selection(store.versions, [path.platform], [path.method], [path.from_version], [path.to_version])
        names = _candidates(specs, path, args.board)
        bench = assemble.open_bench(specs, args.sim, args.time_scale, store if args.sim else None)
    except BaseException:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    bench.tmp = tmp  # removed with the bench
    try:
        claimer = bench.claimer()
        with claimer.claim(names, SystemClock(), timeout=args.claim_timeout) as name:
            dev = bench.devices[name]
            _say(err, f"{path.id} on {name}")
            take_over(dev)  # a holder that died may have left it off
            failed = True  # until the record says otherwise (an interrupted path is recovered too)
            try:
                result = as_interrupted(attempt(path, dev, store))
                failed = not as_planned(path, result)
            finally:
                hand_back(dev, claimer, store, failed, lambda said: _say(err, said))
            quarantined = claimer.quarantined(name)
    finally:
        bench.close()
    code = _report(result, path, args.json_out, err)
    if quarantined is not None:
        _say(err, f"{name} is quarantined on this host: {quarantined}")
        return EXIT_QUARANTINED
    return code


def _say(err: Console, text: str) -> None:
    """A line on stderr for a person; a client whose ssh is gone (a closed pipe) must not stop the hand-back."""
    with contextlib.suppress(OSError, SystemExit):  # rich turns a broken pipe into SystemExit
        err.print(text, markup=False)


def _stop_when_stdin_closes() -> None:
    """SIGTERM to this process once stdin reaches its end: a client whose ssh is gone (killed, timed
    out) stops the command, which then hands its board back as on Ctrl-C.
    """

    def watch() -> None:
        with contextlib.suppress(OSError):  # the raw descriptor: a buffered stdin's lock would stop the exit
            while os.read(0, 4096):
                pass
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="stop-on-eof", daemon=True).start()


def _report(result: PathResult, path: matrix.MatrixPath, json_out: str | None, err: Console) -> int:
    """The record on stdout (and in --json-out), a line for a person on stderr, and the exit code."""
    text = json.dumps(asdict(result))
    if json_out:
        Path(json_out).write_text(text + "\n")
    print(text, flush=True)
    _say(err, f"{path.id}: {result.outcome}" + (f": {result.error}" if result.error else ""))
    if result.outcome == "interrupted":
        return EXIT_INTERRUPTED
    return EXIT_PASSED if as_planned(path, result) else EXIT_FAILED


def _checked(args: argparse.Namespace) -> tuple[matrix.MatrixPath, list[DeviceSpec]]:
    """The path and the bench's entries, or one sentence for what is wrong (nothing touched yet)."""
    matrix.check_numbers(None, None, args.time_scale)
    if not math.isfinite(args.claim_timeout) or args.claim_timeout < 0:
        raise ConfigError(
            f"--claim-timeout {args.claim_timeout:g}: give the seconds to wait for a busy board, 0 or more."
        )
    if args.from_version == args.to_version:
        raise ConfigError(
            f"--from and --to are both {args.from_version}: a path goes from one Device OS version to another."
        )
    if args.json_out:
        check_json_out(Path(args.json_out))
    platform = matrix.run_platforms([args.platform], None)[0]
    devices = args.devices or os.environ.get(DEVICES_ENV)
    if devices:
        specs = load_inventory(Path(devices)).devices
    elif args.sim:
        specs = assemble.matrix_bench([platform])  # the bench `rig matrix --sim` makes for the platform
    else:
        raise ConfigError(
            f"Say which bench: --devices devices.yaml or ${DEVICES_ENV} (with --sim: its simulated lab), "
            "or --sim alone."
        )
    return matrix.MatrixPath(platform, args.from_version, args.to_version, args.method), specs


def _store(args: argparse.Namespace, platform: str, tmp: Path | None) -> ReleaseStore:
    """--releases, or with --sim the synthetic releases `rig matrix --sim` writes for the platform."""
    if args.releases:
        return ReleaseStore.scan(Path(args.releases)).require_releases()
    if tmp is None:
        raise ConfigError("Say which releases to run: --releases DIR (a folder of Device OS binaries).")
    return matrix.write_synthetic_store(tmp, [platform])


def _candidates(specs: list[DeviceSpec], path: matrix.MatrixPath, board: str | None) -> list[str]:
    """The boards the path may claim: --board, else those the matrix would (OTA prefers `cloud` boards)."""
    names = assemble.candidates(specs, {path.platform}, path.method)
    if board is None:
        if not names:
            raise ConfigError(f"No {path.platform} board in devices.yaml: add one or pick another --platform.")
        return names
    spec = next((s for s in specs if s.name == board), None)
    if spec is None:
        known = ", ".join(sorted(s.name for s in specs)) or "none"
        raise ConfigError(f"No board named '{board}' in devices.yaml (boards: {known}).")
    if board not in assemble.candidates(specs, {path.platform}, None):
        raise ConfigError(f"--board {board} is a {spec.platform}, not a {path.platform}: pick a {path.platform} board.")
    return [board]
