"""No temporary folder or partial download outlives a `rig` command, whether it ends normally, fails
or is stopped by SIGINT, SIGTERM or SIGHUP (each command runs with TMPDIR pointed at a fresh folder).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rig.errors import EXIT_INTERRUPTED
from rig.firmware.build import build
from rig.firmware.fetch import ReleaseFetchError, fetch_release
from rig.firmware.synthetic import user_app
from rig.firmware.versions import module_version
from testsupport.paths import ROOT

# SIGINT and SIGHUP reset to their defaults first: a background job (as CI runs the tests) inherits
# SIGINT ignored, a run under nohup SIGHUP, and an ignored signal stays ignored, as it should.
RIG = [
    sys.executable,
    "-c",
    "import signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); signal.signal(signal.SIGHUP, signal.SIG_DFL); "
    "import rig.cli; sys.exit(rig.cli.main())",
]
STOPS = [signal.SIGTERM, signal.SIGINT, signal.SIGHUP]
WITHIN = 300.0  # seconds: only a hang reaches it


def rig(tmp_path: Path, tmp: Path, *args: str) -> subprocess.Popen[str]:
    """`rig ARGS` in an empty folder, TMPDIR `tmp` (a fresh empty folder), its own process group."""
    (tmp_path / "cwd").mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RIG_")}
    env.update(TMPDIR=str(tmp), PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]))
    return subprocess.Popen(
        [*RIG, *args],
        cwd=tmp_path / "cwd",
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def wait_until(ready: Callable[[], bool], process: subprocess.Popen[str]) -> None:
    """Poll until `ready()`; the command must still be running (a generous bound: only a hang reaches it)."""
    end = time.monotonic() + WITHIN
    while not ready():
        assert process.poll() is None, f"the command ended first: {process.communicate()}"
        assert time.monotonic() < end, f"not ready within {WITHIN:g} s"
        time.sleep(0.05)


def left_in(folder: Path) -> list[str]:
    """Everything under `folder`, as relative paths."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.fixture
def app(tmp_path: Path) -> Path:
    path = tmp_path / "app.bin"
    path.write_bytes(build(user_app("boron", module_version("2.3.1"), version=42)))
    return path


def test_check_app_on_the_simulated_lab_leaves_no_temp_folder(tmp_path: Path, short_tmp: Path, app: Path) -> None:
    process = rig(tmp_path, short_tmp, "check-app", str(app), "--versions", "2.3.1", "--sim")
    out, err = process.communicate(timeout=WITHIN)
    assert process.returncode == 0, out + err
    assert "runs" in out
    assert left_in(short_tmp) == []


class Lines:
    """A process's stdout, read line by line in a thread (so waiting for a line never blocks)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        assert process.stdout is not None
        stream = process.stdout
        self.thread = threading.Thread(target=lambda: self.lines.extend(iter(stream.readline, "")), daemon=True)
        self.thread.start()

    def text(self) -> str:
        """What was read so far (all of it once the thread has ended)."""
        return "".join(self.lines)


@pytest.mark.parametrize(
    ("moment", "signum"),
    [
        ("opening", signal.SIGTERM),
        ("checking", signal.SIGTERM),
        ("checking", signal.SIGINT),
        ("checking", signal.SIGHUP),
    ],
    ids=lambda v: v if isinstance(v, str) else v.name,
)
def test_a_stopped_check_app_leaves_no_temp_folder(
    tmp_path: Path, short_tmp: Path, app: Path, moment: str, signum: signal.Signals
) -> None:
    """Stopped while the simulated bench opens (its synthetic releases and tools folder made) or while
    the app is checked; modelled time runs at wall speed, so each moment lasts seconds.
    """
    process = rig(tmp_path, short_tmp, "check-app", str(app), "--versions", "2.3.1,4.0.1", "--sim", "--time-scale", "1")
    tmp, out = short_tmp, Lines(process)
    if moment == "opening":
        wait_until(lambda: any(tmp.glob("rig-bench-*/*.bin")) and any(tmp.glob("rig-sim-*/bin/pyocd")), process)
    else:
        wait_until(lambda: "checking app.bin on " in out.text(), process)
    os.killpg(process.pid, signum)
    _, err = process.communicate(timeout=WITHIN)
    out.thread.join(timeout=WITHIN)
    assert process.returncode == EXIT_INTERRUPTED, out.text() + err
    assert f"interrupted by {signum.name}." in err and "Traceback" not in err
    assert "runs" not in out.text()  # stopped before any verdict
    assert left_in(tmp) == []


@pytest.fixture
def dripping_server() -> Iterator[str]:
    """A release mirror whose every file starts and then never ends (1000 bytes every 50 ms)."""
    stop = threading.Event()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.settimeout(0.1)

        def drip(conn: socket.socket) -> None:
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5000000\r\n\r\n")
                while not stop.wait(0.05):
                    try:
                        conn.sendall(b"x" * 1000)
                    except OSError:
                        return

        def accept() -> None:
            while not stop.is_set():
                try:
                    conn, _ = listener.accept()
                except TimeoutError:
                    continue
                except OSError:
                    return
                threading.Thread(target=drip, args=(conn,), daemon=True).start()

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{listener.getsockname()[1]}"
        finally:
            stop.set()
            thread.join(timeout=10)


@pytest.mark.parametrize("signum", STOPS, ids=lambda s: s.name)
def test_a_stopped_fetch_leaves_no_partial_download(
    tmp_path: Path, short_tmp: Path, dripping_server: str, signum: signal.Signals
) -> None:
    cache = tmp_path / "cache"
    process = rig(
        tmp_path, short_tmp, "releases", "fetch", "2.3.1", "--platform", "photon", "--base-url", dripping_server,
        "--cache", str(cache), "--dest", str(tmp_path / "releases"),
    )  # fmt: skip
    wait_until(lambda: any(p.stat().st_size > 0 for p in cache.rglob(".part-*")), process)  # mid-download
    os.killpg(process.pid, signum)
    out, err = process.communicate(timeout=WITHIN)
    assert process.returncode == EXIT_INTERRUPTED, out + err
    assert left_in(cache) == ["2.3.1", "2.3.1/photon"]
    assert left_in(short_tmp) == []


def test_a_fetch_removes_partial_downloads_older_than_any_live_one(tmp_path: Path) -> None:
    """A killed fetch (SIGKILL) cannot clean up: the next fetch into the cache removes its part, once no
    download could still be writing it (older than the deadline), and leaves a recent one alone.
    """
    cache = tmp_path / "c" / "2.3.1" / "photon"
    cache.mkdir(parents=True)
    stale, recent = cache / ".part-killed", cache / ".part-live"
    for part in (stale, recent):
        part.write_bytes(b"x" * 100)
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    with socket.socket() as s:  # bound, not listening: the fetch fails at once, after the sweep
        s.bind(("127.0.0.1", 0))
        with pytest.raises(ReleaseFetchError, match="Cannot reach"):
            fetch_release(
                "2.3.1", "photon", base_url=f"http://127.0.0.1:{s.getsockname()[1]}", cache_dir=tmp_path / "c",
                deadline=600,
            )  # fmt: skip
    assert not stale.exists() and recent.exists()
