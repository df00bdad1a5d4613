"""The board fixtures of the rig's pytest plugin: `board` (a claimed board of this host, set up and
handed back) and `rig_try` (one try of the test's path: on such a board, or as `rig path run` on the
host of a claimed labgrid place). rig/pytest_plugin.py imports them, so pytest registers them there.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import pytest

from rig import matrix
from rig.clock import SystemClock
from rig.device import Device
from rig.firmware.release import ReleaseStore
from rig.pool import Claimer, NoBoardError
from rig.pytest_session import RigSession, listed
from rig.report import results as report_results
from rig.report.collect import claimed_property
from rig.runner.path import attempt
from rig.runner.prepare import hand_back, take_over

FAILED = pytest.StashKey[bool]()  # set by the plugin's report hook: the test's call failed (the board is recovered)


def _candidates(request: pytest.FixtureRequest, rig_session: RigSession) -> list[str]:
    """The boards the test may claim (its platform; OTA wants a connected board), or a skip."""
    params = request.node.callspec.params if hasattr(request.node, "callspec") else {}
    path = params.get("rig_path") or params.get("rig_app_case")
    marker = request.node.get_closest_marker("rig_platform")
    wanted = {path.platform} if path else set(marker.args) if marker else None
    method_marker = request.node.get_closest_marker("rig_method")
    chosen = listed(request.config, "--rig-methods")
    if path is None and method_marker and chosen and not set(method_marker.args) & set(chosen):
        pytest.skip(f"--rig-methods {','.join(chosen)} leaves out {', '.join(method_marker.args)}")
    method = path.method if path is not None else (method_marker.args[0] if method_marker else None)
    candidates = rig_session.candidates(wanted, method)
    if not candidates and rig_session.unusable:
        why = "; ".join(f"{name}: {reason}" for name, reason in sorted(rig_session.unusable.items()))
        pytest.fail(f"No {', '.join(sorted(wanted or []))} place is left whose host runs paths ({why}).", pytrace=False)
    if not candidates:
        pytest.skip(f"no board for {', '.join(sorted(wanted or []))} in devices.yaml")
    return candidates


@contextlib.contextmanager
def _claimed(
    request: pytest.FixtureRequest, rig_session: RigSession, pool: Claimer, at: str | None = None
) -> Iterator[str]:
    """One board of the test's candidates (one that runs `at` if the claimer knows) held for the
    block, named in the test's report (a try the watchdog ends still says where it ran); the test
    fails in one sentence if none comes free.
    """
    candidates = _candidates(request, rig_session)
    # this process's own xdist worker number (not PYTEST_XDIST_WORKER, which a run started from
    # another pytest's worker inherits): the workers start their search at different boards
    workerinput = getattr(request.config, "workerinput", None)
    worker = int(str(workerinput["workerid"])[2:] or 0) if workerinput else 0
    with contextlib.ExitStack() as held:
        try:
            name = held.enter_context(pool.claim(candidates, SystemClock(), start=worker, at=at))
        except NoBoardError as exc:  # every such board is busy for too long, or quarantined
            pytest.fail(str(exc), pytrace=False)
        request.node.user_properties.append(claimed_property(name, rig_session.host_of(name)))
        yield name


@pytest.fixture
def board(request: pytest.FixtureRequest, rig_session: RigSession) -> Iterator[Device]:
    """A claimed, locked, powered board of the test's platform; released (port powered) afterwards."""
    if rig_session.remote:
        pytest.skip("this test drives a board of this host: pass --rig-devices")
    devices = rig_session.devices()
    pool = rig_session.pool()
    with _claimed(request, rig_session, pool) as name:
        dev = devices[name]
        take_over(dev)  # a crashed worker may have left it off
        try:
            yield dev
        finally:  # the watchdog may end the recovery: the port is switched on all the same
            failed = request.node.stash.get(FAILED, False)
            hand_back(dev, pool, rig_session.store(), failed, lambda said: _teardown_note(request, said))


@pytest.fixture
def rig_try(
    request: pytest.FixtureRequest, rig_session: RigSession, rig_path: matrix.MatrixPath, rig_releases: ReleaseStore
) -> Iterator[Callable[[], report_results.PathResult]]:
    """One try of the test's path: on a claimed board of this host, or (a labgrid lab) as `rig path
    run` on the host of a claimed place, which sets the board up and hands it back itself.
    """
    if not rig_session.remote:
        board = request.getfixturevalue("board")
        yield lambda: attempt(rig_path, board, rig_releases)
        return
    pool = rig_session.pool()
    with _claimed(request, rig_session, pool, rig_path.from_version) as place:
        yield lambda: rig_session.remote_try(rig_path, place, pool)


def _teardown_note(request: pytest.FixtureRequest, text: str) -> None:
    request.node.add_report_section("teardown", "rig", text)
