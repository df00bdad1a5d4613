"""particle-rig installed as a tool, not run from the checkout: a wheel built from the sources and
installed into a folder of its own; `rig matrix --sim` from an empty folder, and the example product
repository (docs/example-product) running its own tests against the installed plugin.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rig.firmware.build import build
from rig.firmware.synthetic import user_app
from rig.firmware.versions import module_version
from rig.matrix import sim_versions

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """(site folder, environment) of a rig installed from a wheel; the checkout is not on the path."""
    src = tmp_path_factory.mktemp("src")  # a copy: the build writes build/ and egg-info beside the sources
    shutil.copytree(ROOT / "rig", src / "rig", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    site = tmp_path_factory.mktemp("site")
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(site)]
    done = subprocess.run([*pip, str(src)], capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    env = {**os.environ, "PYTHONPATH": str(site), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTEST_XDIST_WORKER", None)
    return site, env


def run(argv: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """A program of the installed rig, in `cwd` (generous timeout: only a hang should reach it)."""
    return subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=600, check=False)


def test_the_installed_rig_runs_the_matrix_from_an_empty_folder(
    installed: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    site, env = installed
    where = run([sys.executable, "-c", "import rig.hil; print(rig.hil.__file__)"], env, tmp_path)
    assert Path(where.stdout.strip()).is_relative_to(site), where.stdout  # not the checkout's copy
    assert (site / "rig" / "hil" / "test_matrix.py").is_file()
    selection = ["--sim", "--platforms", "boron", "--methods", "dfu", "usb", "--from", "2.3.1", "-n", "1"]
    done = run([str(site / "bin" / "rig"), "matrix", *selection, "--json-out", "paths.json"], env, tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    paths = json.loads((tmp_path / "paths.json").read_text())
    assert sorted((p["from"], p["to"], p["method"], p["outcome"]) for p in paths) == sorted(
        ("2.3.1", v, m, "pass") for v in sim_versions("boron") if v != "2.3.1" for m in ("dfu", "usb")
    )
    for name in ("results.json", "junit.xml", "report.html", "matrix.html", "trend.html"):
        assert (tmp_path / "report" / name).is_file(), name
    assert "<system-out>" in (tmp_path / "report" / "junit.xml").read_text()  # the rig's own pytest settings


def test_a_product_repository_runs_its_tests_with_the_installed_plugin(
    installed: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    _, env = installed
    product = tmp_path / "our-product"
    shutil.copytree(ROOT / "docs" / "example-product", product)
    newest = sim_versions("boron")[-1]
    app = product / "build" / "app.bin"  # the product's firmware: needs the newest Device OS
    app.parent.mkdir()
    app.write_bytes(build(user_app("boron", module_version(newest), version=42)))
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-v", "--rig-user-binary", str(app)]
    skipped = run(cmd, env, product)
    assert skipped.returncode == 0, skipped.stdout[-3000:]
    assert "3 skipped" in skipped.stdout and "no boards: pass --rig-devices FILE" in skipped.stdout
    done = run(
        [*cmd, "--rig-sim", "--rig-platforms", "boron", "--rig-methods", "dfu", "--rig-from", newest], env, product
    )
    assert done.returncode == 0, done.stdout[-4000:]
    assert "test_our_app_runs_on_the_newest_device_os PASSED" in done.stdout
    assert "test_our_app_is_refused_by_an_older_device_os PASSED" in done.stdout
    others = [v for v in sim_versions("boron") if v != newest]
    for v in others:
        assert f"test_path[boron-{newest}-to-{v}-dfu] PASSED" in done.stdout
    assert f"{2 + len(others)} passed" in done.stdout
