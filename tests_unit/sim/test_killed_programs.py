"""A program killed inside a USB transfer on the lab's umockdev bus leaves the bus working for the
next one (docs/bench-in-a-box.md, "A program killed inside a transfer")."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from rig.sim import hub
from rig.sim.board import Board
from rig.sim.lab import Lab
from rig.sim.usbdevfs import LANES
from testsupport.programs import real_uhubctl_bus

ROUNDS = 6  # umockdev often, not always, puts the next client at the address of the freed one


@pytest.fixture
def lab() -> Iterator[Lab]:
    """A lab whose uhubctl is the real one on its bus, with a Boron on hub 1-1 port 2."""
    with Lab(time_scale=0) as sim:
        real_uhubctl_bus(sim)
        sim.add_board("b", "boron", "2.3.1", hub="1-1", port=2)
        yield sim


def killed_inside_a_stuck_request(lab: Lab, action: str) -> None:
    """`uhubctl -a ACTION` on the Boron's port, its request stuck at the hub, then killed."""
    lab.hubs.hub("1-1").hang = 1  # the next request is switched, never completed
    lab.hubs.hung.clear()
    stuck = subprocess.Popen(["uhubctl", "-l", "1-1", "-p", "2", "-a", action], stdout=subprocess.DEVNULL)
    assert lab.hubs.hung.wait(30), "uhubctl hung before its request reached the hub (no lane, or no answer)"
    stuck.kill()
    stuck.wait(30)


def switched_on(board: Board) -> bool:
    """`uhubctl -a on` on the Boron's port worked."""
    after = subprocess.run(
        ["uhubctl", "-l", "1-1", "-p", "2", "-a", "on"], capture_output=True, text=True, timeout=30, check=False
    )
    assert after.returncode == 0, after.stderr
    return board.powered


def test_a_program_killed_inside_a_transfer_leaves_no_urb_for_the_next_one(lab: Lab) -> None:
    # the rig's watchdog kills uhubctl inside a hub request; umockdev never notices that client go
    # (it reads its socket again only after the completion, which fails), so the bridge kept its
    # URB by the client's address, and the next uhubctl umockdev allocated there reaped that URB:
    # its own request was never answered and it hung (or a later one aborted on EOF)
    for _ in range(ROUNDS):
        killed_inside_a_stuck_request(lab, "off")
        lab.hubs.release_hangs.set()  # the request ends now, its program gone: the completion fails
        lab.hubs.release_hangs.clear()
        assert switched_on(lab.board("b"))


def test_stuck_hub_requests_give_their_lanes_back(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    # a night of `uhubctl_hangs`: each stuck request held one of the bus's lanes until the lab
    # closed, and once every lane was held no program could talk to any board; now a lane is held
    # for hub.STUCK_HOLD wall seconds at most (120 s, past the rig's 20 s uhubctl timeout)
    monkeypatch.setattr(hub, "STUCK_HOLD", 0.2)
    for n in range(LANES + 6):
        killed_inside_a_stuck_request(lab, "off" if n % 2 == 0 else "on")  # a request only to change the port
    assert switched_on(lab.board("b"))
