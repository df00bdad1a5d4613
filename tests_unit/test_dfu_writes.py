"""rig.firmware.dfu_writes (the one owner of the DFU write rules) and the registry of flashing paths."""

from __future__ import annotations

from rig import platforms
from rig.device.paths import DFU_WRITERS, PATHS
from rig.firmware import synthetic
from rig.firmware.build import build
from rig.firmware.dfu_writes import FORMER_USER_PART, module_writes, setup_done_write
from rig.firmware.format import PREFIX_SIZE
from rig.firmware.module import Module
from rig.firmware.parse import read_modules
from rig.methods import METHODS, Via

BORON = platforms.by_name("boron")


def release(platform: str, version: str) -> dict[str, Module]:
    files = synthetic.release_files(platform, version)
    return {name.split("-", 1)[1].split("@")[0]: read_modules(data, name)[0] for name, data in files.items()}


def test_a_module_goes_to_its_start_and_a_softdevice_drops_its_prefix() -> None:
    mods = release("boron", "4.0.1")
    [part] = module_writes(BORON, mods["system-part1"])
    assert (part.alt, part.address, part.data, part.erase) == (0, 0x30000, mods["system-part1"].data, True)
    [sd] = module_writes(BORON, mods["softdevice"])
    assert sd.address == mods["softdevice"].start and sd.data == mods["softdevice"].data[PREFIX_SIZE:]


def test_a_bootloader_goes_through_the_ota_region_and_the_flag() -> None:
    boot, flag = module_writes(BORON, release("boron", "4.0.1")["bootloader"])
    region = BORON.ota_region
    assert region is not None and (boot.alt, boot.address) == (region.dfu_alt, region.dfu_address)
    assert (flag.alt, flag.address, flag.data, flag.erase, flag.of_module) == (
        BORON.dct_alt,
        BORON.ota_flag_offset,
        b"\xa5",
        False,
        False,
    )


def test_only_a_gen3_app_for_3_1_0_or_later_invalidates_the_former_user_part() -> None:
    new_app = read_modules(build(synthetic.user_app("boron", 3103)), "app.bin")[0]
    invalidate, app = module_writes(BORON, new_app)
    assert (invalidate.address, invalidate.data, invalidate.of_module) == (FORMER_USER_PART, b"\xff" * 4096, False)
    assert app.address == new_app.start
    old_app = read_modules(build(synthetic.user_app("boron", 2300)), "old.bin")[0]
    assert [w.address for w in module_writes(BORON, old_app)] == [old_app.start]
    photon_app = read_modules(build(synthetic.user_app("photon", 2300)), "p.bin")[0]
    assert len(module_writes(platforms.by_name("photon"), photon_app)) == 1


def test_setup_done_byte_only_where_the_platform_has_one() -> None:
    write = setup_done_write(BORON)
    assert write is not None and (write.data, write.erase) == (b"\x01", False)
    assert setup_done_write(platforms.by_name("photon")) is None


def test_every_path_has_one_module_and_the_methods_follow_the_paths() -> None:
    assert list(PATHS) == list(Via) and all(PATHS[v].via == v for v in Via)
    assert set(DFU_WRITERS) == {Via.DFU, Via.DFU_UTIL}
    assert set(Via) <= set(METHODS)
