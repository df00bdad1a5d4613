"""Module builder: parse(build(x)) == x, for every kind of module the format allows."""

from __future__ import annotations

import re
import struct
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rig import platforms
from rig.firmware.build import ModuleSpec, build, build_combined, module_spec, spec_of
from rig.firmware.format import ExtensionType, ModuleFlag
from rig.firmware.format import ModuleFunction as F
from rig.firmware.module import (
    NO_DEPENDENCY,
    Dependency,
    Extension,
    ModuleRangeError,
    product_data_extension,
)
from rig.firmware.parse import parse_module, parse_modules, read_modules

FLASHABLE = [p for p in platforms.PLATFORMS if p.flashable]
u16 = st.integers(0, 0xFFFF)
functions = st.sampled_from([f for f in F if f != F.NONE])


@st.composite
def dependencies(draw: st.DrawFn) -> Dependency:
    if draw(st.booleans()):
        return NO_DEPENDENCY
    return Dependency(draw(functions), draw(st.integers(0, 255)), draw(u16))


@st.composite
def extensions(draw: st.DrawFn, types: list[int]) -> Extension:
    return Extension(draw(st.sampled_from(types)), draw(st.binary(max_size=24)))


@st.composite
def specs(draw: st.DrawFn) -> ModuleSpec:
    plat = draw(st.sampled_from(FLASHABLE))
    slot = draw(st.sampled_from([s for s in plat.slots if s.storage != "ncp"]))
    compressed = draw(st.booleans())
    drop = slot.prefix_offset == 0 and draw(st.booleans())
    prefix_offset = 0 if (compressed or drop) else draw(st.sampled_from([0, slot.prefix_offset]))
    content = draw(st.binary(min_size=prefix_offset, max_size=prefix_offset + 600))
    pext: tuple[Extension, ...] = ()
    if draw(st.booleans()):
        body = draw(st.lists(extensions([0x11, 0x10, 0x13, 0x1234]), max_size=3))
        pext = (*body, Extension(ExtensionType.END, draw(st.binary(max_size=4))))
    product: tuple[int | None, int | None] = (None, None)
    sext: tuple[Extension, ...] = ()
    choice = draw(st.sampled_from(["none", "legacy", "ext"]))
    if choice == "legacy":
        product = (draw(u16), draw(u16))
    elif choice == "ext":
        sext = (*draw(st.lists(extensions([2, 3, 0x11]), max_size=2)), product_data_extension(draw(u16), draw(u16)))
    flags = (ModuleFlag.DROP_MODULE_INFO if drop else ModuleFlag.NONE) | (
        ModuleFlag.ENCRYPTED if draw(st.booleans()) else ModuleFlag.NONE
    )
    return ModuleSpec(
        platform_id=plat.id,
        function=slot.function,
        index=slot.index,
        version=draw(u16),
        start=slot.start,
        content=content,
        prefix_offset=prefix_offset,
        dependencies=(draw(dependencies()), draw(dependencies())),
        mcu_target=draw(st.integers(0, 255)),
        flags=flags,
        product_id=product[0],
        product_version=product[1],
        prefix_extensions=pext,
        suffix_extensions=sext,
        compressed=compressed,
    )


@given(specs())
def test_round_trip(spec: ModuleSpec) -> None:
    data = build(spec)
    modules = read_modules(data)
    assert len(modules) == 1
    m = modules[0]
    assert m.crc_ok and m.sha_ok
    assert spec_of(m) == spec
    assert bool(m.flags & ModuleFlag.COMPRESSED) == spec.compressed
    if spec.compressed:
        assert m.uncompressed_size is not None and m.inner is not None and m.inner.crc_ok


@given(st.lists(specs(), min_size=2, max_size=3))
def test_combined_round_trip(spec_list: list[ModuleSpec]) -> None:
    modules = read_modules(build_combined(spec_list))
    assert [spec_of(m) for m in modules] == spec_list
    assert [m.combined for m in modules] == [True] * (len(spec_list) - 1) + [False]


def test_compressed_user_part_inflates_to_its_original() -> None:
    spec = module_spec(
        "boron",
        F.USER_PART,
        2,
        6,
        (Dependency(F.SYSTEM_PART, 1, 4005),),
        size=20000,
        system_version=4005,
        content=bytes(20000),
    )
    plain = build(spec)
    packed = build(replace(spec, compressed=True))
    m = parse_module(packed)
    assert len(packed) < len(plain) // 10
    assert m.uncompressed_size == len(plain) and m.inner is not None and m.inner.data == plain
    assert m.end - m.start + 4 == len(packed)


def test_compressed_softdevice_rebuilds_prefix_and_suffix() -> None:
    spec = module_spec("argon", F.RADIO_STACK, 0, 202, size=3000, compressed=True)
    m = parse_module(build(spec))
    assert m.flags & ModuleFlag.DROP_MODULE_INFO and m.inner is not None
    assert m.uncompressed_size == 3000
    assert m.inner.data == build(module_spec("argon", F.RADIO_STACK, 0, 202, size=3000))


def test_rtl_user_part_grows_left_and_carries_extensions() -> None:
    spec = module_spec(
        "p2",
        F.USER_PART,
        1,
        6,
        (Dependency(F.SYSTEM_PART, 1, 5002),),
        product_id=None,
        product_version=None,
        suffix_extensions=(Extension(2, struct.pack("<III", 0x85F4000, 0, 0)), product_data_extension(32, 4)),
    )
    m = parse_module(build(spec))
    assert m.end + 4 == 0x08600000 and m.suffix_size == 62
    assert (m.product_id, m.product_version) == (32, 4)


def test_address_range_outside_platform_is_rejected() -> None:
    spec = module_spec("photon", F.USER_PART, 1, 6, start=0xD4000)
    with pytest.raises(ModuleRangeError, match=r"0xd4000-.* does not fit the Photon's user part 1 slot"):
        parse_modules(build(spec), "app.bin")


def test_module_too_big_for_its_slot_is_rejected() -> None:
    spec = module_spec("electron", F.SYSTEM_PART, 1, 2302, size=0x20000)
    with pytest.raises(ModuleRangeError):
        parse_modules(build(spec))


def test_function_without_slot_on_platform_is_rejected() -> None:
    spec = replace(module_spec("boron", F.RADIO_STACK, 0, 202), platform_id=6)
    with pytest.raises(ModuleRangeError, match="Photon has no radio stack"):
        parse_modules(build(spec))


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"flags": ModuleFlag.COMBINED}, "spec.flags may only hold DROP_MODULE_INFO and ENCRYPTED"),
        ({"prefix_extensions": (Extension(0x11, b"x"),)}, "prefix extensions must end with an END extension"),
        (
            {"suffix_extensions": (product_data_extension(1, 2),)},
            "with suffix extensions, product data goes in a PRODUCT_DATA extension",
        ),
        ({"compressed": True, "prefix_offset": 0x200}, "compressed modules carry their prefix at offset 0 (§1.4)"),
    ],
    ids=["combined-flag", "prefix-extensions-without-end", "product-twice", "compressed-with-prefix-offset"],
)
def test_builder_refuses_impossible_specs(bad: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        build(module_spec("boron", F.SYSTEM_PART, 1, 2202, **bad))
