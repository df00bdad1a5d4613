"""The unit suite's shared bytecode folder (testsupport/bytecode.py) starts with the compiled files
of the modules already loaded, where a child under PYTHONPYCACHEPREFIX looks for them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from testsupport.bytecode import _seed

WHERE_PYTHON_LOOKS = "import importlib.util, json; print(importlib.util.cache_from_source(json.__file__))"


def test_a_child_finds_a_loaded_module_compiled_in_the_seeded_folder(tmp_path: Path) -> None:
    assert json.__spec__ is not None and json.__spec__.cached is not None
    _seed(tmp_path)
    env = {**os.environ, "PYTHONPYCACHEPREFIX": str(tmp_path), "PYTHONDONTWRITEBYTECODE": "1"}  # the child writes none
    done = subprocess.run([sys.executable, "-c", WHERE_PYTHON_LOOKS], env=env, capture_output=True, text=True,
                          timeout=60, check=True)  # fmt: skip
    looked = Path(done.stdout.strip())
    assert tmp_path in looked.parents
    assert looked.read_bytes() == Path(json.__spec__.cached).read_bytes()  # the interpreter's own, linked or copied
