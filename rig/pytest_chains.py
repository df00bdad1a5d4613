"""The matrix scheduled as chains in pytest (rig/schedule.py): once the selection is final, the
matrix's items are put in chain order; under xdist, `ChainScheduling` hands each worker a whole
run (a chain's share for one board) and the worker runs it in that order, so each path starts
where the previous one ended. Nothing depends on the order xdist would choose: the controller
computes the runs from the collected ids with the same pure function the workers used. It runs
whatever `--dist` says (any xdist mode would cut chains between workers) and says so in one line.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from xdist.remote import Producer
from xdist.scheduler import LoadScopeScheduling

from rig.matrix import MatrixPath

STARTS_KEY = "rig_chain_starts"  # the controller's chain starts, in each xdist worker's workerinput

Runs = Callable[[list[MatrixPath]], list[list[MatrixPath]]]


def _by_function(nodeids: list[str]) -> dict[str, dict[MatrixPath, str]]:
    """The matrix tests' ids by test function and path."""
    out: dict[str, dict[MatrixPath, str]] = {}
    for nodeid in nodeids:
        function, path = nodeid.partition("[")[0], MatrixPath.from_nodeid(nodeid)
        if path is not None:
            out.setdefault(function, {})[path] = nodeid
    return out


def scopes(nodeids: list[str], runs: Runs) -> dict[str, str]:
    """Each matrix test's run as a scope name (`function@run-N`, runs per test function)."""
    out: dict[str, str] = {}
    for function, ids in _by_function(nodeids).items():
        for number, run in enumerate(runs(sorted(ids))):
            out.update({ids[path]: f"{function}@run-{number}" for path in run})
    return out


def reorder(items: list[pytest.Item], runs: Runs) -> None:
    """Put the matrix's items in chain order, in the places they held (other tests stay put)."""
    grouped = _by_function([item.nodeid for item in items])
    chained = [ids[path] for ids in grouped.values() for run in runs(sorted(ids)) for path in run]
    rank = {nodeid: number for number, nodeid in enumerate(chained)}
    slots = [i for i, item in enumerate(items) if item.nodeid in rank]
    in_order = sorted((items[i] for i in slots), key=lambda item: rank[item.nodeid])
    for slot, item in zip(slots, in_order, strict=True):
        items[slot] = item


class ChainScheduling(LoadScopeScheduling):  # type: ignore[misc]
    """xdist's scope scheduling with a run of chained paths as the scope: one worker runs a run
    whole and in order; other tests are each a scope of their own (as `--dist load`).
    """

    def __init__(self, config: pytest.Config, log: Producer | None, runs: Runs) -> None:
        super().__init__(config, log)
        self._runs = runs
        self._scopes: dict[str, str] | None = None

    def _split_scope(self, nodeid: str) -> str:
        if self._scopes is None:
            self._scopes = scopes(list(self.collection or []), self._runs)
        return self._scopes.get(nodeid, nodeid)


class ChainPlugin:
    """Plugin for `--rig-schedule circuit`: chain order after selection, and the xdist scheduler."""

    def __init__(self, runs: Runs, starts: Callable[[], dict[str, str]]) -> None:
        self.runs = runs
        self.starts = starts

    @pytest.hookimpl(trylast=True)  # after every deselection (-k, -m, --rig-skip-paths)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        """The matrix's items in chain order."""
        reorder(items, self.runs)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Producer) -> ChainScheduling:
        """Whole runs per worker, whatever `--dist` says (any other mode would break the chains)."""
        return ChainScheduling(config, log, self.runs)

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """Hand each xdist worker the controller's chain starts (where the boards are is read once,
        so that every process orders the paths alike; a worker that read them later could differ).
        """
        node.workerinput[STARTS_KEY] = json.dumps(self.starts())

    @pytest.hookimpl(trylast=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """Say in one line (also under -q) when a `--dist` mode given is replaced by the chain scheduler."""
        config = session.config
        sentence = replaced_dist(config.getoption("dist", "no"), bool(config.getoption("numprocesses", None)))
        terminal = config.pluginmanager.get_plugin("terminalreporter")
        if sentence and terminal is not None and not hasattr(config, "workerinput"):
            terminal.write_line(sentence)


def replaced_dist(dist: str, workers: bool) -> str | None:
    """The sentence for a `--dist` mode other than xdist's default under `--rig-schedule circuit`."""
    if not workers or dist in ("no", "load"):
        return None
    return (
        f"rig: --dist {dist} is replaced by the rig's chain scheduler (each worker runs whole chains of paths, "
        f"so no board is set up twice); pass --rig-schedule naive to use --dist {dist}."
    )
