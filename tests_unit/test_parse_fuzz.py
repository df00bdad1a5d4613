"""Mutated, truncated and random bytes never raise anything but the rig's own ModuleError."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rig.firmware.build import build, build_combined, module_spec
from rig.firmware.format import ModuleFunction as F
from rig.firmware.module import Dependency, ModuleError, TruncatedModuleError
from rig.firmware.parse import parse_modules, read_modules

SAMPLES = [
    "boron-system-part1@2.2.0.bin",
    "electron-system-part1@2.3.1.bin",
    "argon-softdevice@4.0.1.bin",
    "tinker-0.4.5-photon.bin",
    "core_tinker.bin",
    "photon-bootloader@2.3.1+lto.bin",
]
SYNTHETIC = [
    build(module_spec("boron", F.USER_PART, 1, 6, (Dependency(F.SYSTEM_PART, 1, 2202),), size=700, compressed=True)),
    build_combined(
        [
            module_spec("photon", F.SYSTEM_PART, 2, 2302, size=600),
            module_spec("photon", F.USER_PART, 1, 6, size=300),
        ]
    ),
]


def _check(data: bytes) -> None:
    try:
        parse_modules(data, "fuzz.bin")
    except ModuleError as exc:
        assert str(exc) and "\n" not in str(exc)


@pytest.fixture(scope="module")
def samples(firmware_dir: Path) -> list[bytes]:
    return [(firmware_dir / n).read_bytes() for n in SAMPLES] + SYNTHETIC


@given(st.data())
def test_mutated_real_files(samples: list[bytes], data: st.DataObject) -> None:
    blob = bytearray(data.draw(st.sampled_from(samples)))
    for _ in range(data.draw(st.integers(1, 8))):
        # mutations concentrate on the prefix and suffix areas, where the parser looks
        region = data.draw(st.sampled_from(["head", "tail", "any"]))
        lo, hi = {
            "head": (0, min(len(blob), 0x240)),
            "tail": (max(0, len(blob) - 80), len(blob)),
            "any": (0, len(blob)),
        }[region]
        blob[data.draw(st.integers(lo, hi - 1))] = data.draw(st.integers(0, 255))
    _check(bytes(blob))


@given(st.data())
def test_truncated_real_files(samples: list[bytes], data: st.DataObject) -> None:
    blob = data.draw(st.sampled_from(samples))
    cut = data.draw(st.integers(0, len(blob) - 1))
    from_start = data.draw(st.booleans())
    _check(blob[cut:] if from_start else blob[:cut])


@given(st.binary(max_size=2048))
def test_random_bytes(blob: bytes) -> None:
    _check(blob)


def test_truncation_is_named(samples: list[bytes]) -> None:
    """A file cut after its module header: the sentence names the file and the bytes missing."""
    missing = len(samples[0]) - 5000
    with pytest.raises(TruncatedModuleError, match=rf"^cut\.bin is truncated: .*\({missing} bytes missing\)"):
        read_modules(samples[0][:5000], "cut.bin")
