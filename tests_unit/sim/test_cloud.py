"""The simulated Particle cloud: API, events, OTA, the safe-mode healer (protocols §6.3, §6.6)."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import httpx
import pytest

from rig.firmware.build import build
from rig.firmware.format import ModuleFunction as F
from rig.firmware.synthetic import user_app
from rig.sim.board import BoardSettings, Mode
from rig.sim.lab import Lab
from testsupport.dfu import dfu_release


def api(lab: Lab) -> httpx.Client:
    assert lab.cloud_url
    return httpx.Client(base_url=lab.cloud_url, headers={"Authorization": f"Bearer {lab.cloud.token}"}, timeout=10)


def online() -> BoardSettings:
    return BoardSettings(online=True)


def test_device_info_and_auth(lab: Lab) -> None:
    board = lab.add_board("b1", "boron", "2.3.1", settings=online())
    lab.settle(5)
    with api(lab) as client:
        info = client.get(f"/v1/devices/{board.device_id}").json()
        assert info == {**info, "online": True, "platform_id": 13, "system_firmware_version": "2.3.1", "name": "b1"}
        assert client.get("/v1/devices/ffffffffffffffffffffffff").status_code == 404
    bad = httpx.get(f"{lab.cloud_url}/v1/devices/{board.device_id}", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_token"


def test_ota_user_app_with_events(lab: Lab) -> None:
    board = lab.add_board("b1", "boron", "2.3.1", settings=online())
    lab.settle(5)
    got: list[str] = []
    ready = threading.Event()

    def listen() -> None:
        with api(lab) as client, client.stream("GET", f"/v1/devices/{board.device_id}/events") as stream:
            ready.set()
            name = None
            for line in stream.iter_lines():
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: "):
                    got.append(f"{name}={json.loads(line[6:])['data']}")
                    if len(got) >= 4:
                        return

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    assert ready.wait(5)
    app = build(user_app("boron", 2302, seed=9))
    with api(lab) as client:
        reply = client.put(f"/v1/devices/{board.device_id}", files={"file": ("app.bin", app)})
    assert reply.json() == {"id": board.device_id, "status": "Update started"}
    lab.settle(30)
    thread.join(5)
    assert got[:4] == [
        "spark/flash/status=started",
        "spark/flash/status=success",
        "spark/status=offline",
        "spark/status=online",
    ]
    assert board.running_user_app(board.installed()).module.data == app  # type: ignore[union-attr]


def test_offline_board_and_unreachable_cloud(lab: Lab) -> None:
    board = lab.add_board("b1", "boron", "2.3.1")  # online: false
    with api(lab) as client:
        reply = client.put(f"/v1/devices/{board.device_id}", files={"file": ("a.bin", build(user_app("boron", 2302)))})
        assert reply.status_code == 400 and reply.json()["error"] == "Device is not connected"
        lab.cloud.reachable = False
        with pytest.raises(httpx.HTTPError):
            client.get(f"/v1/devices/{board.device_id}")


def test_ota_refuses_downgrades(real_lab: Lab, real_store) -> None:
    board = real_lab.add_board("p", "photon", "2.3.1", settings=online())
    real_lab.settle(5)
    old = real_store.get("photon", "1.5.2").system_parts[1].module.data
    with api(real_lab) as client:
        reply = client.put(f"/v1/devices/{board.device_id}", files={"file": ("p.bin", old)})
    assert reply.status_code == 400 and "never downgrades" in reply.json()["error"]


def test_safe_mode_board_is_healed_to_the_newer_version(real_lab: Lab, real_store) -> None:
    board = real_lab.add_board("p", "photon", "1.5.2", settings=online())
    dfu_release(real_lab, board, real_store.get("photon", "2.3.1"), skip={F.BOOTLOADER})
    # safe mode (bootloader 502 < 1003); online: the healer sends the bootloader, one per reboot
    real_lab.settle(60)
    assert board.mode == Mode.NORMAL
    assert {(m.function, m.version) for m in board.installed()} >= {(F.BOOTLOADER, 1006), (F.SYSTEM_PART, 2302)}
    assert any("healer sends Photon bootloader 0 v1006" in text for _, text in board.log)


def test_healer_chain_for_an_app_needing_a_newer_device_os(lab: Lab) -> None:
    board = lab.add_board("b", "boron", "1.5.2", settings=online())
    from rig.sim.lab import provision

    provision(board, [lab._parse(build(user_app("boron", 2302)))])
    board.reset("test")
    lab.settle(300)
    assert board.mode == Mode.NORMAL and board.system_version() == "2.3.1"
    sent = [text for _, text in board.log if "healer sends" in text]
    assert sent[0].endswith("bootloader 0 v1005")  # part 1 @2.3.1 needs bootloader >= 1005 first (dep1)
    assert any("system part 1 v2302" in text for text in sent)


def test_healing_can_be_switched_off(real_lab: Lab, real_store) -> None:
    board = real_lab.add_board("p", "photon", "1.5.2", settings=BoardSettings(online=True, heal=False))
    dfu_release(real_lab, board, real_store.get("photon", "2.3.1"), skip={F.BOOTLOADER})
    real_lab.settle(60)
    assert board.mode == Mode.SAFE


def test_a_fork_of_the_lab_stops_its_cloud_at_once(lab: Lab) -> None:
    """A forked child has no copy of the server's thread (sh forks the rig before each exec); stopping
    the cloud there must not wait for that loop, which never ends."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child's exit code says how it went)
        try:
            lab.cloud.stop()
        finally:
            os._exit(0)
    deadline = time.monotonic() + 60  # only a hang reaches it
    while (ended := os.waitpid(pid, os.WNOHANG)) == (0, 0) and time.monotonic() < deadline:
        time.sleep(0.05)
    if ended == (0, 0):
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    assert ended[0] == pid and os.waitstatus_to_exitcode(ended[1]) == 0, "the fork waited for the cloud's loop"
    assert httpx.get(f"{lab.cloud_url}/v1/devices", timeout=10).status_code in (200, 401)  # ours still serves
