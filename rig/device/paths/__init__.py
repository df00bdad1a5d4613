"""The flashing paths: one module per path in this package, each with a `PATH` for its `Via`.

Adding a path is a module here plus its member of `rig.methods.Via` (the registry of names the
planner and the CLI use); the modules are found at import, and a `Via` without a module, or a
module whose `PATH` is not a `FlashPath`, stops the import with the file to fix.
"""

from __future__ import annotations

import importlib
import pkgutil

from rig.device.paths.base import DfuWriter, FlashPath, FlashRefused, ModuleFile
from rig.methods import Via


def _registry() -> dict[Via, FlashPath]:
    found: dict[Via, FlashPath] = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        path = getattr(module, "PATH", None)
        if path is None:
            continue  # a helper module (base, rules)
        if not isinstance(path, FlashPath) or path.via in found:
            raise ImportError(f"rig/device/paths/{info.name}.py: PATH must be one FlashPath per Via")
        found[path.via] = path
    missing = [str(v) for v in Via if v not in found]
    if missing:
        raise ImportError(f"no module in rig/device/paths for {', '.join(missing)}")
    return {v: found[v] for v in Via}


PATHS = _registry()
DFU_WRITERS: dict[Via, DfuWriter] = {v: p for v, p in PATHS.items() if isinstance(p, DfuWriter)}

__all__ = ["DFU_WRITERS", "PATHS", "DfuWriter", "FlashPath", "FlashRefused", "ModuleFile"]
