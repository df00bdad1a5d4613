"""Where the project and the real Particle binaries are."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Real Particle binaries live beside the project (../shared/firmware); RIG_FIRMWARE_DIR overrides.
FIRMWARE_DIR = Path(os.environ.get("RIG_FIRMWARE_DIR", ROOT.parent / "shared" / "firmware"))
