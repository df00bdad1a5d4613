"""Scheduling the matrix as chains (rig/schedule.py, rig/pytest_chains.py): every path once, each
starting where the previous one ended, the fewest chains a selection allows, one run per board."""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rig import matrix
from rig.matrix import MatrixPath
from rig.plan.planner import refused_before_any_write
from rig.pool import Pool
from rig.pytest_chains import reorder, scopes
from rig.pytest_session import RigSession
from rig.schedule import Estimates, board_class, chains, order, runs

VERSIONS = ["1.5.2", "2.3.1", "4.0.1", "5.0.0"]
ALL = [MatrixPath("boron", a, b, m) for a in VERSIONS for b in VERSIONS if a != b for m in ("dfu", "serial", "ota")]


def ends(path: MatrixPath) -> str:
    """Where a path leaves its board (an OTA downgrade is refused: the board stays at `from`)."""
    return (
        path.from_version
        if refused_before_any_write(path.method, path.from_version, path.to_version)
        else path.to_version
    )


def linked(chain: list[MatrixPath]) -> bool:
    return all(ends(a) == b.from_version for a, b in itertools.pairwise(chain))


def root(parent: dict[str, str], v: str) -> str:
    while parent[v] != v:
        v = parent[v]
    return v


def fewest_chains(paths: list[MatrixPath]) -> int:
    """The lower bound: per board class and weakly connected part, its surplus of starts, at least one."""
    total = 0
    by_class: dict[tuple[str, bool], list[MatrixPath]] = defaultdict(list)
    for path in paths:
        by_class[board_class(path)].append(path)
    for group in by_class.values():
        parent = {v: v for p in group for v in (p.from_version, ends(p))}
        for p in group:
            parent[root(parent, p.from_version)] = root(parent, ends(p))
        surplus: dict[str, int] = defaultdict(int)
        for p in group:
            surplus[p.from_version] += 1
            surplus[ends(p)] -= 1
        for part in {root(parent, v) for v in parent}:
            starts = sum(max(0, s) for v, s in surplus.items() if root(parent, v) == part)
            total += max(1, starts)
    return total


DFU_SERIAL = [p for p in ALL if p.method != "ota"]
OTA = [p for p in ALL if p.method == "ota"]


def test_a_complete_matrix_is_one_chain_per_board_class_from_where_the_board_is() -> None:
    found = chains(DFU_SERIAL, {"boron": "4.0.1"})
    assert [len(c) for c in found] == [24] and linked(found[0])  # dfu and serial: one circuit
    assert found[0][0].from_version == "4.0.1" and found[0][-1].to_version == "4.0.1"


def test_ota_never_goes_down_so_its_chains_are_the_upgrade_staircases() -> None:
    """OTA downgrades are refused (the board stays), so OTA paths only climb: each version with more
    upgrades out than in starts a chain (a set-up flash down to it), the refusals ride along."""
    found = chains(OTA, {"boron": "1.5.2"})
    assert len(found) == fewest_chains(OTA) == 4 and all(linked(c) for c in found)
    assert sorted(p for c in found for p in c) == sorted(OTA) and found[0][0].from_version == "1.5.2"


def test_a_filtered_selection_starts_its_first_chain_where_the_board_is() -> None:
    selected = [MatrixPath("boron", "1.5.2", "4.0.1", "dfu"), MatrixPath("boron", "5.0.0", "4.0.1", "dfu")]
    for start in ("1.5.2", "5.0.0"):  # two chains either way; the first is the one the board can start
        found = chains(selected, {"boron": start})
        assert len(found) == 2 and found[0][0].from_version == start


def test_refused_ota_downgrades_leave_the_board_in_place_in_the_chain() -> None:
    chain = chains(OTA, {"boron": "1.5.2"})[0]
    downgrade = next(i for i, p in enumerate(chain[:-1]) if not p.upgrade)
    assert chain[downgrade + 1].from_version == chain[downgrade].from_version  # the board did not move


def test_paths_from_one_version_cannot_chain_and_each_is_its_own() -> None:
    selected = [p for p in DFU_SERIAL if p.from_version == "2.3.1"]
    found = chains(selected)
    assert len(found) == 6 and all(len(c) == 1 for c in found)


@settings(max_examples=200, deadline=None)
@given(st.sets(st.sampled_from(ALL), min_size=1))
def test_any_selection_gets_every_path_once_in_the_fewest_chains(selected: set[MatrixPath]) -> None:
    found = chains(selected)
    assert sorted(p for c in found for p in c) == sorted(selected)
    assert all(linked(c) for c in found)
    assert len(found) == fewest_chains(list(selected))


def test_a_class_with_several_boards_is_split_into_contiguous_runs_of_equal_length() -> None:
    found = order(DFU_SERIAL, lambda key: 3)
    assert [len(r) for r in found] == [8, 8, 8]
    assert all(linked(r) for r in found)
    assert found[0][-1].to_version == found[1][0].from_version  # contiguous pieces of one circuit


def test_fewer_paths_than_boards_makes_no_empty_run() -> None:
    assert runs([ALL[:2]], lambda key: 5) == [[ALL[0]], [ALL[1]]]


class _Weights:
    """Estimates (rig.schedule.Estimates' interface) from given figures: seconds per path, set-up per platform."""

    def __init__(self, seconds: dict[MatrixPath, float], setup: float, starts: dict[str, str]) -> None:
        self.figures, self.setup_seconds, self.starts = seconds, setup, starts

    def seconds(self, path: MatrixPath) -> float:
        return self.figures[path]

    def setup(self, path: MatrixPath) -> float:
        return self.setup_seconds


def longest(run_list: list[list[MatrixPath]], weights: _Weights) -> float:
    """The longest run's seconds: its paths, a set-up before a first path not at the boards' version, one
    wherever a path does not start where the previous one left the board."""
    out = 0.0
    for run in run_list:
        first = 0.0 if run[0].from_version == weights.starts.get(run[0].platform) else weights.setup_seconds
        joins = sum(ends(a) != b.from_version for a, b in itertools.pairwise(run)) * weights.setup_seconds
        out = max(out, first + joins + sum(weights.figures[p] for p in run))
    return out


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(1, 60), min_size=6, max_size=6),
    st.integers(2, 4),
    st.integers(0, 40),
    st.sampled_from([None, "1.5.2", "2.3.1"]),
)
def test_weighted_runs_make_the_longest_run_as_short_as_any_contiguous_split(
    figures: list[int], boards: int, setup: int, start: str | None
) -> None:
    selected = [p for p in ALL if p.method == "dfu" and "5.0.0" not in (p.from_version, p.to_version)]
    chain_list = chains(selected, {"boron": start} if start else None)
    weights = _Weights(
        dict(zip(selected, map(float, figures), strict=True)), float(setup), {"boron": start} if start else {}
    )
    found = runs(chain_list, lambda key: boards, weights)  # type: ignore[arg-type]
    joined = [p for c in chain_list for p in c]
    assert [p for r in found for p in r] == joined and len(found) == boards and all(found)
    best = min(
        longest([joined[a:b] for a, b in itertools.pairwise((0, *cuts, len(joined)))], weights)
        for cuts in itertools.combinations(range(1, len(joined)), boards - 1)
    )
    assert longest(found, weights) == pytest.approx(best)


def test_weighted_runs_cut_where_the_boards_are_rather_than_set_one_up() -> None:
    two = ("1.5.2", "2.3.1")
    selected = [p for p in DFU_SERIAL if p.from_version in two and p.to_version in two]
    (chain,) = chains(selected, {"boron": "2.3.1"})  # 2.3.1 -> 1.5.2 -> 2.3.1 -> 1.5.2 -> 2.3.1
    assert [p.from_version for p in chain] == ["2.3.1", "1.5.2", "2.3.1", "1.5.2"]
    figures = dict(zip(chain, (10.0, 10.0, 10.0, 30.0), strict=True))
    # 30 s | 30 s would start the second board at 1.5.2, where it must be set up first (25 s)
    with_setups = runs([chain], lambda key: 2, _Weights(figures, 25.0, {"boron": "2.3.1"}))  # type: ignore[arg-type]
    assert with_setups == [chain[:2], chain[2:]]
    free_setups = runs([chain], lambda key: 2, _Weights(figures, 0.0, {"boron": "2.3.1"}))  # type: ignore[arg-type]
    assert free_setups == [chain[:3], chain[3:]]


def test_the_night_is_cut_from_the_set_of_chains_whose_longest_run_is_shortest() -> None:
    three = ("1.5.2", "2.3.1", "4.0.1")
    selected = [MatrixPath("boron", a, b, m) for a in three for b in three if a != b for m in ("dfu", "serial", "usb")]
    per_method = {"dfu": 36.3, "serial": 43.6, "usb": 46.7}  # the planner's estimates on the loopback lab
    starts = {"boron": "2.3.1"}
    weights = _Weights({p: per_method[p.method] for p in selected}, 26.3, starts)
    first_circuit = runs(chains(selected, starts), lambda key: 4, weights)  # type: ignore[arg-type]
    found = order(selected, lambda key: 4, starts, weights)  # type: ignore[arg-type]
    assert sorted(p for r in found for p in r) == sorted(selected) and len(found) == 4
    # the first circuit passes 2.3.1 where no balanced cut falls: 225.5 s; another set of chains cuts at 203 s
    assert longest(first_circuit, weights) == pytest.approx(225.5)
    assert longest(found, weights) < 205.0
    assert order(selected, lambda key: 4, starts, weights) == found  # the same in every process  # type: ignore[arg-type]


def test_estimates_come_from_the_planner_and_a_board_already_at_from_needs_no_set_up(tmp_path: Path) -> None:
    store = matrix.write_synthetic_store(tmp_path, ["boron"])
    estimates = Estimates(store, {"boron": "2.3.1"})
    down_dfu, down_usb = MatrixPath("boron", "2.3.1", "1.5.2", "dfu"), MatrixPath("boron", "2.3.1", "1.5.2", "usb")
    assert (
        estimates.seconds(down_usb) > estimates.seconds(down_dfu) > Estimates.TRY_SECONDS
    )  # validated writes cost more
    assert estimates.seconds(MatrixPath("boron", "2.3.1", "1.5.2", "ota")) == Estimates.TRY_SECONDS  # refused up front
    assert estimates.setup(down_dfu) == 0.0  # its boards run 2.3.1
    up = MatrixPath("boron", "1.5.2", "2.3.1", "dfu")
    assert (
        0.0 < estimates.setup(up) < Estimates(store, {}).setup(up)
    )  # from 2.3.1 less is flashed than from nothing known


class _Item:
    def __init__(self, nodeid: str) -> None:
        self.nodeid = nodeid


def test_pytest_items_are_put_in_chain_order_and_other_tests_keep_their_place() -> None:
    ids = [f"rig/hil/test_matrix.py::test_path[{p.id}]" for p in sorted(ALL)]
    items = [_Item("t.py::test_first"), *map(_Item, ids), _Item("t.py::test_last")]
    reorder(items, lambda paths: order(paths, lambda key: 1))  # type: ignore[arg-type]
    assert items[0].nodeid == "t.py::test_first" and items[-1].nodeid == "t.py::test_last"
    got = [MatrixPath.from_id(i.nodeid.split("[")[1][:-1]) for i in items[1:-1]]
    assert got == [p for c in chains(ALL) for p in c]
    scope = scopes([i.nodeid for i in items], lambda paths: order(paths, lambda key: 1))
    assert len(set(scope.values())) == 2 and "t.py::test_first" not in scope


BENCH = """devices:
  - {name: b1, platform: boron, device_id: e00fce68a1b2c3d4e5f60711, hub: {location: "1-1", port: 1},
     sim: {device_os: 4.0.1}}
  - {name: p1, platform: photon, device_id: 3a0027000547343233323031, hub: {location: "1-1", port: 2},
     sim: {device_os: 2.3.1}}
"""


@pytest.mark.parametrize(("schedule", "workers"), [("circuit", "2"), ("circuit", "0"), ("naive", "2")])
def test_a_circuit_night_sets_no_board_up_where_a_naive_one_does(tmp_path: Path, schedule: str, workers: str) -> None:
    """Under xdist (ChainScheduling) and without it, each path runs on the board the previous one left."""
    (tmp_path / "bench.yaml").write_text(BENCH)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "rig/hil/test_matrix.py", "--rig-sim",
         "--rig-devices", str(tmp_path / "bench.yaml"), "--rig-methods", "dfu,serial", "--rig-schedule", schedule,
         "-n", workers, "--rig-report", str(tmp_path / "report")],
        capture_output=True, text=True, timeout=600, check=False, cwd=Path(__file__).resolve().parent.parent,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:]
    results = json.loads((tmp_path / "report" / "results.json").read_text())["results"]
    assert len(results) == 16 and {r["outcome"] for r in results} == {"pass"}
    setups = [r["setup_modelled_seconds"] for r in results]
    if schedule == "circuit":
        assert setups == [0.0] * 16  # each chain starts at the version its board runs
    else:
        assert sum(s > 0 for s in setups) >= 8, setups


REAL_BENCH = """devices:
  - {name: b1, platform: boron, device_id: e00fce68a1b2c3d4e5f60711, hub: {location: "1-1", port: 1}}
  - {name: b2, platform: boron, device_id: e00fce68a1b2c3d4e5f60712, hub: {location: "1-1", port: 2}}
"""


class _Config:
    """The little of pytest.Config a RigSession reads, for a real bench (no board is touched)."""

    def __init__(self, devices: Path, locks: Path) -> None:
        self.options: dict[str, object] = {"--rig-devices": str(devices), "--rig-lock-dir": str(locks)}

    def getoption(self, name: str) -> object:
        return self.options.get(name, [] if name == "--rig-platforms" else None)

    def getini(self, name: str) -> object:
        return None


def test_a_quarantined_board_gets_no_run_of_the_chains(tmp_path: Path) -> None:
    """Two borons share the dfu/serial circuit; once one is quarantined in the host's lock folder,
    the other gets the whole circuit (no run is left waiting for a board that will never take it)."""
    (tmp_path / "bench.yaml").write_text(REAL_BENCH)
    session = RigSession(_Config(tmp_path / "bench.yaml", tmp_path / "locks"))  # type: ignore[arg-type]
    assert [len(r) for r in session.schedule(DFU_SERIAL)] == [12, 12]
    Pool(["b1", "b2"], tmp_path / "locks").quarantine("b2", "failed 3 health checks")
    [whole] = session.schedule(DFU_SERIAL)
    assert sorted(whole) == sorted(DFU_SERIAL) and linked(whole)


@pytest.mark.parametrize("dist", ["worksteal", "each"])
def test_any_dist_mode_keeps_the_chains_and_says_it_is_replaced(tmp_path: Path, dist: str) -> None:
    """One board, two workers: xdist's own modes would give both workers paths of its one chain
    (worksteal: half each; each: all to both); the chain scheduler gives the whole chain to one."""
    (tmp_path / "bench.yaml").write_text(BENCH)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-v", "rig/hil/test_matrix.py", "--rig-sim",
         "--rig-devices", str(tmp_path / "bench.yaml"), "--rig-platforms", "photon", "--rig-methods", "dfu,serial",
         "-n", "2", "--dist", dist, "--rig-report", str(tmp_path / "report")],
        capture_output=True, text=True, timeout=600, check=False, cwd=Path(__file__).resolve().parent.parent,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:]
    sentence = f"rig: --dist {dist} is replaced by the rig's chain scheduler (each worker runs whole chains of paths"
    assert done.stdout.count(sentence) == 1, done.stdout[:2000]  # said once, by the controller
    ran = re.findall(r"\[(gw\d)\] \[ *\d+%\] PASSED rig/hil/test_matrix.py::test_path\[(\S+)\]", done.stdout)
    assert len(ran) == 4 and len({worker for worker, _ in ran}) == 1, done.stdout[-3000:]  # one worker, in order
    results = json.loads((tmp_path / "report" / "results.json").read_text())["results"]
    assert len(results) == 4 and [r["setup_modelled_seconds"] for r in results] == [0.0] * 4
