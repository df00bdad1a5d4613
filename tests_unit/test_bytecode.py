"""The unit suite's shared bytecode folder (testsupport/bytecode.py) starts with the compiled files
of the modules already loaded, where a child under PYTHONPYCACHEPREFIX looks for them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from testsupport.paths import ROOT

SEED = "import json, sys; from pathlib import Path; from testsupport.bytecode import _seed; _seed(Path(sys.argv[1])); print(json.__spec__.cached)"  # noqa: E501
WHERE_PYTHON_LOOKS = "import importlib.util, json; print(importlib.util.cache_from_source(json.__file__))"


def _python(code: str, *args: str, **env: str) -> str:
    plain = {k: v for k, v in os.environ.items() if k != "PYTHONPYCACHEPREFIX"}  # as the suite's first process
    done = subprocess.run([sys.executable, "-c", code, *args], env={**plain, **env}, cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=True)  # fmt: skip
    return done.stdout.strip()


def test_a_child_finds_a_loaded_module_compiled_in_the_seeded_folder(tmp_path: Path) -> None:
    own = Path(_python(SEED, str(tmp_path)))  # the interpreter's own compiled json, in its __pycache__
    looked = Path(_python(WHERE_PYTHON_LOOKS, PYTHONPYCACHEPREFIX=str(tmp_path), PYTHONDONTWRITEBYTECODE="1"))
    assert tmp_path in looked.parents
    assert looked.read_bytes() == own.read_bytes()  # there, linked or copied (the child wrote nothing)
