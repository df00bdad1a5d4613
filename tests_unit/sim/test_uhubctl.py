"""uhubctl on the lab's hubs, the real program and the stand-in alike: each case runs against both.

The real uhubctl 2.5 drives the hubs on the lab's umockdev bus (rig/sim/hub_usb.py); the stand-in
(rig/sim/hub.py, for hosts without uhubctl or umockdev) must print what it prints. Output line by
line as uhubctl prints it (python-stack §4), real power effects.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import sh

from rig.sim.board import Mode
from rig.sim.lab import Lab
from testsupport.programs import AS_NOBODY, real_uhubctl_bus

HEADER = re.compile(
    r"^(Current|New) status for hub (\S+) \[([0-9a-f]{4}):([0-9a-f]{4})(.*?)"
    r"(?:, USB (\d+\.\d\d), (\d+) ports(?:, (ppps|ganged|nops))?)?\]$"
)
PORT = re.compile(r"^  Port (\d+): ([0-9a-f]{4})((?: [A-Za-z0-9.]+)*?)(?: \[(.*)\])?$")
REAL, STAND_IN = "real uhubctl", "stand-in"


def uhubctl(*args: str) -> str:
    return str(sh.Command("uhubctl")(*args, _timeout=20))


@pytest.fixture(params=[REAL, pytest.param(STAND_IN, marks=pytest.mark.stand_in)])
def lab(request: pytest.FixtureRequest) -> Iterator[Lab]:
    """A lab whose uhubctl is the real one on its bus, or the stand-in."""
    with Lab(time_scale=0, real_programs=request.param == REAL) as sim:
        if request.param == REAL:
            real_uhubctl_bus(sim)
        yield sim


@pytest.fixture
def bench(lab: Lab) -> Lab:
    hub = lab.hubs.hub("1-1")
    hub.vid_pid, hub.ports = "0424:9514", 5
    lab.add_board("boron", "boron", "2.3.1", hub="1-1", port=3)
    return lab


def uses_real(lab: Lab) -> bool:
    assert lab.programs is not None
    return "uhubctl" not in lab.programs.stand_ins.handlers


def test_status_lines_match_the_real_grammar(bench: Lab) -> None:
    lines = uhubctl().splitlines()
    assert HEADER.match(lines[0]) and lines[0].endswith("USB 2.00, 5 ports, ppps]")
    assert all(PORT.match(line) for line in lines[1:])
    assert lines[1] == "  Port 1: 0100 power"  # as in mvp/uhubctl #601
    board = bench.board("boron")
    assert lines[3] == f"  Port 3: 0103 power enable connect [2b04:c00d Particle Boron {board.device_id}]"


def test_off_on_sequences_match_issue_293(bench: Lab) -> None:
    board = bench.board("boron")
    out = uhubctl("-N", "-l", "1-1", "-p", "3", "-a", "off").splitlines()
    assert out == [
        "Current status for hub 1-1 [0424:9514, USB 2.00, 5 ports, ppps]",
        "  Port 3: 0103 power enable connect [2b04:c00d]",
        "Sent power off request",
        "New status for hub 1-1 [0424:9514, USB 2.00, 5 ports, ppps]",
        "  Port 3: 0000 off",
    ]
    assert board.mode == Mode.OFF and not board.usb_present
    out = uhubctl("-N", "-l", "1-1", "-p", "3", "-a", "on").splitlines()
    assert out[2:] == [
        "Sent power on request",
        "New status for hub 1-1 [0424:9514, USB 2.00, 5 ports, ppps]",
        "  Port 3: 0100 power",
    ]  # not enumerated yet: wait for pyusb, not for uhubctl
    bench.settle(3)
    assert board.mode == Mode.NORMAL


def test_cycle_prints_two_rounds(bench: Lab) -> None:
    out = uhubctl("-l", "1-1", "-p", "3", "-a", "cycle", "-d", "1").splitlines()
    assert [line for line in out if line.startswith("Sent")] == ["Sent power off request", "Sent power on request"]
    assert sum(line.startswith("Current status") for line in out) == 2
    assert out[6] == "  Port 3: 0000 off"


def test_a_usb3_hub_is_two_hubs_and_both_halves_are_switched(lab: Lab) -> None:
    # the real uhubctl pairs the halves by their BOS Container ID (uhubctl.c v2.5.0, get_hub_info)
    hub = lab.hubs.hub("1-1.4")
    hub.usb3_twin, hub.vid_pid, hub.product = "2-1.3", "2109:2822", "VIA Labs, Inc. USB2.0 Hub"
    board = lab.add_board("p", "photon", "2.3.1", hub="1-1.4", port=1)
    usb3 = "status for hub 2-1.3 [2109:2822 VIA Labs, Inc. USB2.0 Hub, USB 3.00, 4 ports, ppps]"
    usb2 = "status for hub 1-1.4 [2109:2822 VIA Labs, Inc. USB2.0 Hub, USB 2.10, 4 ports, ppps]"
    listed = uhubctl("-l", "1-1.4").splitlines()
    assert listed[0] == f"Current {usb3}" and listed[1:5] == [
        f"  Port {n}: 02a0 power 5gbps Rx.Detect" for n in range(1, 5)
    ]
    assert listed[5] == f"Current {usb2}" and listed[6].startswith("  Port 1: 0103 power enable connect [2b04:c006")
    out = uhubctl("-l", "1-1.4", "-p", "1", "-a", "off").splitlines()
    assert out == [
        f"Current {usb3}", "  Port 1: 02a0 power 5gbps Rx.Detect", "Sent power off request", f"New {usb3}",
        "  Port 1: 00a0 off",
        f"Current {usb2}", "  Port 1: 0000 off", "Sent power off request", f"New {usb2}", "  Port 1: 0000 off",
    ]  # fmt: skip
    assert not board.powered
    uhubctl("-l", "1-1.4", "-p", "1", "-a", "on")
    assert board.powered
    exact = uhubctl("-l", "2-1.3", "-e").splitlines()  # -e: no duality, the SuperSpeed half alone
    assert exact[0] == f"Current {usb3}" and len(exact) == 5


@pytest.mark.parametrize(
    ("args", "stderr"),
    [
        (["-l", "9-9"], "No compatible devices detected at location 9-9!\nRun with -h to get usage info.\n"),
        (
            ["-a", "off"],
            "Error: changing port state for multiple hubs at once is not supported.\n"
            "Use -l to limit operation to one hub!\n",
        ),
        (["-l", "1-1", "-p", "99-99"], "Bad port spec 99-99, port numbers must be from 1 to 14\n"),
        (["-l", "1-1", "-p", "0"], "Bad port spec 0-0, port numbers must be from 1 to 14\n"),
        (["-x"], "uhubctl: invalid option -- 'x'\nRun with -h to get usage info.\n"),
        (["-l"], "uhubctl: option requires an argument -- 'l'\nRun with -h to get usage info.\n"),
        (["--bogus"], "uhubctl: unrecognized option '--bogus'\nRun with -h to get usage info.\n"),
        (["extra"], "Invalid command line syntax!\nRun with -h to get usage info.\n"),
    ],
)
def test_errors_go_to_stderr_with_exit_1(bench: Lab, args: list[str], stderr: str) -> None:
    bench.add_board("other", "photon", "2.3.1", hub="1-2", port=1)  # a second hub
    with pytest.raises(sh.ErrorReturnCode_1) as info:
        uhubctl(*args)
    said = re.sub(r"^\S*/uhubctl:", "uhubctl:", info.value.stderr.decode(), flags=re.M)  # getopt names argv[0]
    assert said == stderr


def test_an_unknown_action_lists_the_status(bench: Lab) -> None:
    out = uhubctl("-l", "1-1", "-a", "sideways").splitlines()
    assert out[0].startswith("Current status for hub 1-1 ") and len(out) == 6
    assert bench.board("boron").mode == Mode.NORMAL


def test_permission_problem(bench: Lab) -> None:
    if uses_real(bench):  # the kernel refuses another user's open of a root-only node for writing
        real_uhubctl_bus(bench).admit_other_users()
        command = sh.Command(AS_NOBODY[0]).bake(*AS_NOBODY[1:], "uhubctl")  # uhubctl.c speaks only to non-root
    else:
        bench.hubs.permission = False
        command = sh.Command("uhubctl")
    with pytest.raises(sh.ErrorReturnCode_1) as info:
        command("-l", "1-1", _timeout=20)
    assert info.value.stderr.decode() == (
        "There were permission problems while accessing USB.\nFollow https://git.io/JIB2Z for a fix!\n"
        "No compatible devices detected at location 1-1!\nRun with -h to get usage info.\n"
    )


def test_hanging_uhubctl_leaves_the_port_off_until_told(bench: Lab) -> None:
    board = bench.board("boron")
    bench.hubs.hub("1-1").hang = True
    running = sh.Command("uhubctl")("-l", "1-1", "-p", "3", "-a", "cycle", _bg=True, _bg_exc=False)
    assert bench.hubs.hung.wait(60)  # it switched the port off and got stuck in the delay
    running.kill()
    with pytest.raises(sh.SignalException_SIGKILL):
        running.wait(timeout=60)
    assert board.mode == Mode.OFF  # killed during the delay: uhubctl has no signal handling
    bench.hubs.hub("1-1").hang = False
    uhubctl("-l", "1-1", "-p", "3", "-a", "on")
    bench.settle(3)
    assert board.mode == Mode.NORMAL


def test_port_that_does_not_cut_power(bench: Lab) -> None:
    board = bench.board("boron")
    board.faults.port_keeps_power = True
    uhubctl("-l", "1-1", "-p", "3", "-a", "off")
    assert board.mode == Mode.NORMAL and board.usb_present


@pytest.mark.parametrize("real", [True, pytest.param(False, marks=pytest.mark.stand_in)], ids=[REAL, STAND_IN])
def test_hubs_with_no_board_and_hubs_on_other_buses_are_on_the_bus(real: bool) -> None:
    lab = Lab(time_scale=0, real_programs=real)
    lab.hubs.hub("1-2").ports = 7  # no board behind it; the lab knew it before its bus started
    with lab:
        if real:
            real_uhubctl_bus(lab)
        board = lab.add_board("b", "boron", "2.3.1", hub="3-1", port=2)  # a bus of its own
        out = uhubctl("-l", "1-2").splitlines()
        assert out[0].startswith("Current status for hub 1-2 [0424:2514 USB 2.0 Hub, USB 2.00, 7 ports")
        assert out[1:] == [f"  Port {n}: 0100 power" for n in range(1, 8)]
        uhubctl("-l", "3-1", "-p", "2", "-a", "off")
        assert not board.powered
