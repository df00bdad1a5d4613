"""One bytecode cache for the unit suite's child processes (its xdist workers, the pytest and `rig`
runs its tests start), in a folder of its own that the suite removes at its end.

With PYTHONDONTWRITEBYTECODE set (tox and CI set it: no __pycache__ in the checkout), every child
compiled the rig from source and pytest assertion-rewrote the rig, hypothesis, xdist and its other
plugins (some 260 modules, about 2 s of CPU) in each of its processes. Under PYTHONPYCACHEPREFIX
the first child writes that bytecode outside the checkout and the others read it; what runs is
the same code. The suite's own process is left as it started.

Python reads no `__pycache__` under a prefix, so the folder starts with the compiled files of the
modules the suite's first process has loaded (pytest, its plugins, the standard library, the rig's
dependencies) linked in: the same bytes Python would write, checked against their sources as
always. The workers, which start together, then do not each compile those 900 modules (about 3 s
of CPU each).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from testsupport.paths import ROOT

OWNER = "RIG_TEST_PYCACHE"  # set in the process that made the folder and removes it
_NO_BYTECODE = "PYTHONDONTWRITEBYTECODE"
UNIT = ROOT / "tests_unit"


def _runs_the_unit_suite(config: pytest.Config) -> bool:
    """Whether this session's arguments (or testpaths, when none) lie in tests_unit/."""
    args = config.args or [str(ROOT / p) for p in config.getini("testpaths")]
    paths = [Path(config.invocation_params.dir, a.split("::")[0]).resolve() for a in args]
    return any(p == UNIT or UNIT in p.parents for p in paths)


def share_bytecode(config: pytest.Config) -> None:
    """In the unit suite's first process: give its children one bytecode cache (not when one is set)."""
    if os.environ.get("PYTHONPYCACHEPREFIX") or not _runs_the_unit_suite(config):
        return
    folder = tempfile.mkdtemp(prefix="rig-test-pycache-")
    _seed(Path(folder))
    os.environ["PYTHONPYCACHEPREFIX"] = folder
    os.environ[OWNER] = f"{os.getpid()} {os.environ.pop(_NO_BYTECODE, '')}"


def remove_bytecode() -> None:
    """In the process that made the cache: remove it, and put PYTHONDONTWRITEBYTECODE back."""
    owner, _, no_bytecode = os.environ.get(OWNER, "").partition(" ")
    if owner == str(os.getpid()):
        shutil.rmtree(os.environ.pop("PYTHONPYCACHEPREFIX"), ignore_errors=True)
        del os.environ[OWNER]
        if no_bytecode:
            os.environ[_NO_BYTECODE] = no_bytecode


def _seed(folder: Path) -> None:
    """Link the compiled file of every module this process loaded from one where Python looks under `folder`."""
    for module in list(sys.modules.values()):
        spec = getattr(module, "__spec__", None)
        if spec is None or not spec.cached or not spec.origin:
            continue
        compiled = Path(spec.cached)
        if compiled.parent.name != "__pycache__" or not compiled.is_file():
            continue
        target = folder / Path(spec.origin).parent.relative_to(compiled.anchor) / compiled.name
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(compiled, target)
        except OSError:  # another file system, or links not allowed: a copy does as well
            shutil.copyfile(compiled, target)
