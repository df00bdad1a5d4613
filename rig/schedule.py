"""The order of a night's paths: chains in which each path starts where the previous one ended, so
only a chain's first path needs its board flashed to `from` first (issue 17).

The paths of one platform and board class (OTA paths go to connected boards, the others to the
rest) are the edges of a directed multigraph over Device OS versions. A complete matrix (every
ordered pair, once per method) is balanced — every version has as many paths in as out — so one
Eulerian circuit covers it (Hierholzer's algorithm). A filtered one (`--from 2.3.1`) is not: it is
balanced with a virtual version linked to every surplus, and the circuit is cut where it passes
there, which gives the fewest chains possible (one per missing edge pair, at least one per
connected part). Each chain is then split into as many contiguous runs as there are boards of its
class, so the boards stay busy: with the releases at hand, cut where the longest run (by the
planner's estimate, set-ups included) is shortest, over several sets of chains (circuits walked in
seeded shuffled orders pass the boards' version at other points), else into runs of equal length;
under xdist a worker takes a whole run (`ChainScheduling`).
Everything here is a pure function of the sorted selection: every worker computes the same order.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Iterable

from rig.errors import RigError
from rig.firmware import versions
from rig.firmware.release import ReleaseStore
from rig.matrix import MatrixPath
from rig.methods import Via
from rig.plan.planner import installed_release, plan, refused_before_any_write

_VIRTUAL = ""  # the version that balances a filtered matrix; no release has an empty name


def board_class(path: MatrixPath) -> tuple[str, bool]:
    """Which boards a path runs on: its platform, and whether it needs a connected (cloud) board."""
    return path.platform, path.method == Via.OTA


def chains(paths: Iterable[MatrixPath], starts: dict[str, str] | None = None) -> list[list[MatrixPath]]:
    """The paths as chains (each path starts where the previous one left the board: its `to`, or its
    `from` for a path the planner refuses up front, an OTA downgrade), per board class in sorted
    order; a platform's first chain starts at `starts[platform]` (what its boards run now) when it can.
    """
    by_class: dict[tuple[str, bool], list[MatrixPath]] = defaultdict(list)
    for path in sorted(set(paths)):
        by_class[board_class(path)].append(path)
    out: list[list[MatrixPath]] = []
    for (platform, _), group in sorted(by_class.items()):
        out += _trails(group, (starts or {}).get(platform))
    return out


_Edge = tuple[str, "MatrixPath | None"]  # (where it leads, the path; None: through the virtual version)


def _trails(group: list[MatrixPath], start: str | None, shuffle: random.Random | None = None) -> list[list[MatrixPath]]:
    """The fewest chains covering every path of one board class (with `shuffle`, another such set:
    the circuits take their edges in a shuffled order).
    """
    adjacency: dict[str, list[_Edge]] = defaultdict(list)
    surplus: dict[str, int] = defaultdict(int)
    for path in group:
        ends = _ends_at(path)  # a refused path leaves the board where it was: a loop
        adjacency[path.from_version].append((ends, path))
        surplus[path.from_version] += 1
        surplus[ends] -= 1
    for version, extra in surplus.items():
        adjacency[_VIRTUAL] += [(version, None)] * max(0, extra)  # a chain starts at `version`
        adjacency[version] += [(_VIRTUAL, None)] * max(0, -extra)  # a chain ends at `version`
    for edges in adjacency.values():  # pop() takes the smallest edge first (any, shuffled), virtual ones last
        if shuffle is None:
            edges.sort(key=_edge_key, reverse=True)
        else:
            shuffle.shuffle(edges)
            edges.sort(key=lambda edge: edge[1] is None, reverse=True)  # stable: the shuffle stays
    adjacency[_VIRTUAL].sort(key=lambda edge: edge[0] == start)  # the first chain starts where the board is
    trails: list[list[MatrixPath]] = []
    for origin in _origins(adjacency, start):
        if adjacency.get(origin):
            trails += _cut(_circuit(adjacency, origin))
    return [t for t in trails if t]


def _ends_at(path: MatrixPath) -> str:
    """Where a path leaves its board: at `to`, or at `from` when the planner refuses it up front."""
    refused = refused_before_any_write(path.method, path.from_version, path.to_version)
    return path.from_version if refused else path.to_version


def _edge_key(edge: _Edge) -> tuple[bool, tuple[object, ...], str]:
    to, path = edge
    return (path is None, versions.semver_key(to) if to else (), path.method if path else "")


def _origins(adjacency: dict[str, list[_Edge]], start: str | None) -> list[str]:
    """Where circuits start: the virtual version first (it touches every unbalanced part), then the
    version the boards run now, then every other version (one circuit per balanced part).
    """
    others = sorted((v for v in adjacency if v != _VIRTUAL), key=versions.semver_key)
    return [_VIRTUAL, *([start] if start is not None else []), *others]


def _circuit(adjacency: dict[str, list[_Edge]], origin: str) -> list[_Edge]:
    """Hierholzer's algorithm from `origin` (iterative), consuming the edges it walks."""
    stack: list[tuple[str, _Edge | None]] = [(origin, None)]
    walked: list[_Edge] = []
    while stack:
        version, edge = stack[-1]
        if adjacency.get(version):
            step = adjacency[version].pop()
            stack.append((step[0], step))
        else:
            stack.pop()
            if edge is not None:
                walked.append(edge)
    walked.reverse()
    return walked


def _cut(walk: list[_Edge]) -> list[list[MatrixPath]]:
    """A circuit cut where it passes through the virtual version: the chains."""
    trails: list[list[MatrixPath]] = [[]]
    for _, path in walk:
        if path is None:
            trails.append([])
        else:
            trails[-1].append(path)
    return trails


Seconds = Callable[[MatrixPath], float]  # estimated bench seconds of a path, or of setting its board up for it


def runs(
    chain_list: list[list[MatrixPath]],
    boards: Callable[[tuple[str, bool]], int],
    estimates: Estimates | None = None,
) -> list[list[MatrixPath]]:
    """Each board class's chains joined in order and split into `boards(class)` contiguous runs (one
    per board, so every board of the class stays busy): of about equal length, or with `estimates`
    so that the longest run, set-ups included, is as short as it can be.
    """
    joined: dict[tuple[str, bool], list[MatrixPath]] = defaultdict(list)
    for chain in chain_list:
        joined[board_class(chain[0])] += chain
    out: list[list[MatrixPath]] = []
    for key in sorted(joined):
        group, parts = joined[key], max(1, min(boards(key), len(joined[key])))
        if estimates is not None:
            out += _balanced(group, parts, estimates, estimates.starts.get(key[0]))[1]
            continue
        cuts = [round(i * len(group) / parts) for i in range(parts + 1)]
        out += [group[cuts[i] : cuts[i + 1]] for i in range(parts)]
    return out


def _balanced(
    group: list[MatrixPath], parts: int, estimates: Estimates, start: str | None
) -> tuple[float, list[list[MatrixPath]]]:
    """`group` cut into `parts` contiguous runs whose longest is as short as can be (dynamic
    programming over the cuts), with that longest run's seconds. A run pays a set-up where its first
    path starts elsewhere than `start` (where the class's boards are) and where it joins two chains.
    """
    n = len(group)
    setups = [estimates.setup(p) for p in group]
    joins = [i > 0 and p.from_version != _ends_at(group[i - 1]) for i, p in enumerate(group)]
    total = [0.0]
    for i, path in enumerate(group):
        total.append(total[-1] + estimates.seconds(path) + (setups[i] if joins[i] else 0.0))

    def load(i: int, j: int) -> float:  # the run group[i:j]
        first = 0.0 if group[i].from_version == start else setups[i]
        return total[j] - total[i] - (setups[i] if joins[i] else 0.0) + first

    # longest[k][j]: the shortest longest run covering group[:j] with k runs; begins[k][j]: where its last run begins
    longest = [[0.0] + [float("inf")] * n] + [[float("inf")] * (n + 1) for _ in range(parts)]
    begins = [[0] * (n + 1) for _ in range(parts + 1)]
    for k in range(1, parts + 1):
        for j in range(k, n - (parts - k) + 1):
            for i in range(k - 1, j):
                candidate = max(longest[k - 1][i], load(i, j))
                if candidate < longest[k][j]:
                    longest[k][j], begins[k][j] = candidate, i
    out: list[list[MatrixPath]] = []
    end = n
    for k in range(parts, 0, -1):
        out.append(group[begins[k][end] : end])
        end = begins[k][end]
    return longest[parts][n], out[::-1]


SEARCH_STEPS = 400_000  # the steps of cutting (parts × paths², the DP above) spent on each board class


def _searched(group: list[MatrixPath], parts: int, estimates: Estimates, start: str | None) -> list[list[MatrixPath]]:
    """One board class's runs: its chains as built, cut at their best, unless another set of chains
    (circuits walked in a seeded shuffled order, so every process finds the same) cuts into a shorter
    longest run. A circuit's cuts are limited to where it passes the version the boards run;
    another circuit passes there at other points, so runs that need no set-up can be balanced too.
    """
    # one board takes the whole class as one run, and every circuit's chains begin at the same versions
    # (where the class has more paths out than in): there is nothing to choose between
    attempts = 1 if parts == 1 else max(1, min(64, SEARCH_STEPS // (parts * len(group) ** 2)))
    best_seconds, best = _balanced([p for c in _trails(group, start) for p in c], parts, estimates, start)
    for seed in range(1, attempts):
        shuffled = _trails(group, start, random.Random(seed))
        seconds, found = _balanced([p for c in shuffled for p in c], parts, estimates, start)
        if seconds < best_seconds - 1e-9:
            best_seconds, best = seconds, found
    return best


class Estimates:
    """Estimated bench seconds of each path and of setting a board up for it, from the releases
    (the planner's own model of the steps, plus a try's fixed cost); `starts` holds the Device OS
    each platform's boards run now, where it is known. Memoised: the order is computed per process.
    """

    TRY_SECONDS = 10.0  # a try beyond its plan: claim, checks, hand-back (about 10 s on the loopback lab)

    def __init__(self, store: ReleaseStore, starts: dict[str, str]) -> None:
        self.store = store
        self.starts = starts
        self._memo: dict[tuple[str, str, str, str], float] = {}

    def _plan(self, platform: str, installed: str, target: str, method: str) -> float:
        key = (platform, installed, target, method)
        if key not in self._memo:
            try:
                have = installed_release(self.store.get(platform, installed)) if installed else []
                self._memo[key] = plan(have, self.store.get(platform, target), method).modelled_seconds
            except RigError:  # refused up front, or a release the store lacks: the try's own cost only
                self._memo[key] = 0.0
        return self._memo[key]

    def seconds(self, path: MatrixPath) -> float:
        """A path's estimated bench seconds, its board already at `from`."""
        return self.TRY_SECONDS + self._plan(path.platform, path.from_version, path.to_version, path.method)

    def setup(self, path: MatrixPath) -> float:
        """Estimated seconds to bring a board to the path's `from` (over DFU, from where its platform's
        boards are, else from nothing known).
        """
        return self._plan(path.platform, self.starts.get(path.platform, ""), path.from_version, Via.DFU)


def order(
    paths: Iterable[MatrixPath],
    boards: Callable[[tuple[str, bool]], int],
    starts: dict[str, str] | None = None,
    estimates: Estimates | None = None,
) -> list[list[MatrixPath]]:
    """The runs of a night, in the order they are handed out: with `estimates`, the shortest longest run
    found over several sets of chains.
    """
    if estimates is None:
        return runs(chains(paths, starts), boards)
    by_class: dict[tuple[str, bool], list[MatrixPath]] = defaultdict(list)
    for path in sorted(set(paths)):
        by_class[board_class(path)].append(path)
    out: list[list[MatrixPath]] = []
    for key, group in sorted(by_class.items()):
        out += _searched(group, max(1, min(boards(key), len(group))), estimates, estimates.starts.get(key[0]))
    return out
