"""Which bench a CLI command works on: the devices.yaml it names (or a default simulated bench) and
the releases; rig.assemble builds it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from rig import assemble
from rig.assemble import Bench
from rig.cli.parser import DEVICES_ENV
from rig.firmware.release import ReleaseStore
from rig.firmware.synthetic import write_release
from rig.firmware.versions import known as known_version
from rig.inventory import load_inventory


def devices_file(given: str | None) -> Path:
    """--devices, $RIG_DEVICES or ./devices.yaml."""
    return Path(given or os.environ.get(DEVICES_ENV) or "devices.yaml")


def command_bench(
    devices: str | None,
    sim: bool,
    time_scale: float = 0.0,
    releases: str | None = None,
    platform_names: list[str] | None = None,
    versions: list[str] | None = None,
) -> Bench:
    """The bench of a command: with `sim`, a simulated lab of the same devices.yaml — or, when
    `platform_names` is given and there is no devices.yaml, one simulated board per platform.
    With `sim` and no `releases`, synthetic releases of `versions` (those Device OS knows) are
    made for `platform_names`, whatever devices.yaml says.
    """
    store = ReleaseStore.scan(Path(releases)) if releases else None
    synthetic = bool(sim and platform_names and store is None)
    default_bench = bool(sim and platform_names and not devices and not devices_file(None).exists())
    known = [v for v in versions or [] if known_version(v)]
    tmp: Path | None = None
    try:
        if synthetic:
            tmp = Path(tempfile.mkdtemp(prefix="rig-bench-"))  # removed by Bench.close, or below on failure
            for name in platform_names or []:
                for version in known:
                    write_release(tmp, name, version)
            store = ReleaseStore.scan(tmp)
        if default_bench:
            specs = assemble.app_bench(platform_names or [], next(iter(known), "2.3.1"))
        else:
            specs = load_inventory(devices_file(devices)).devices
        bench = assemble.open_bench(specs, sim, time_scale, store)
    except BaseException:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    bench.tmp = tmp
    return bench
