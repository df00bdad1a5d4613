"""`rig releases fetch` against a local HTTP server laid out like the release pages."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from rig.firmware import fetch
from rig.firmware.fetch import ReleaseFetchError, assets, fetch_release
from rig.firmware.release import ReleaseStore
from rig.firmware.synthetic import write_release
from rig.firmware.versions import UnknownVersionError
from rig.platforms import UnknownPlatformError, by_name


class Server:
    """A release page mirror on loopback that records what was asked."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[str] = []
        server = self

        class Handler(SimpleHTTPRequestHandler):
            def __init__(self, *args: object, **kwargs: object) -> None:
                super().__init__(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

            def do_GET(self) -> None:
                server.requests.append(self.path)
                super().do_GET()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/download"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)

    def release(self, platform: str, version: str, with_user_app: bool = True) -> list[Path]:
        return write_release(self.root / "download" / f"v{version}", platform, version, with_user_app)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = Server(tmp_path / "www")
    srv.thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


def test_asset_names_follow_the_release_layout() -> None:
    names = [a.name for a in assets(by_name("photon"), "2.3.1")]
    assert names == [
        "photon-system-part1@2.3.1.bin",
        "photon-system-part2@2.3.1.bin",
        "photon-bootloader@2.3.1+lto.bin",
        "photon-tinker@2.3.1.bin",
    ]
    electron = {a.name: a.required for a in assets(by_name("electron"), "2.3.1")}
    assert electron["electron-bootloader@2.3.1+lto.bin"] is False  # carried by the system parts
    assert "boron-softdevice@4.0.1.bin" in [a.name for a in assets(by_name("boron"), "4.0.1")]


def test_fetch_downloads_checks_and_caches(server: Server, tmp_path: Path) -> None:
    server.release("boron", "4.0.1")
    dest, cache = tmp_path / "releases", tmp_path / "cache"
    seen: list[tuple[str, int]] = []
    result = fetch_release(
        "4.0.1",
        "boron",
        dest=dest,
        base_url=server.url,
        cache_dir=cache,
        progress=lambda name, done, total: seen.append((name, done)),
    )
    assert sorted(result.downloaded) == sorted(p.name for p in (server.root / "download" / "v4.0.1").iterdir())
    assert {p.parent for p in result.files} == {dest}
    assert seen and all(done > 0 for _, done in seen)
    assert result.warnings and "plain http" in result.warnings[0]  # the test mirror is http://127.0.0.1
    release = ReleaseStore.scan(dest).get("boron", "4.0.1")
    assert release.complete
    # second run: everything from the cache, no request reaches the server
    before = len(server.requests)
    again = fetch_release("4.0.1", "boron", dest=tmp_path / "other", base_url=server.url, cache_dir=cache)
    assert again.downloaded == [] and len(again.cached) == 4 and len(server.requests) == before


def test_optional_assets_may_be_absent(server: Server, tmp_path: Path) -> None:
    server.release("photon", "2.3.1", with_user_app=False)
    result = fetch_release("2.3.1", "photon", base_url=server.url, cache_dir=tmp_path / "c")
    assert result.absent == ["photon-tinker@2.3.1.bin"] and len(result.downloaded) == 3


def test_missing_required_asset_is_one_sentence(server: Server, tmp_path: Path) -> None:
    files = server.release("photon", "2.3.1")
    next(f for f in files if "part2" in f.name).unlink()
    with pytest.raises(ReleaseFetchError, match=r"Device OS 2\.3\.1 has no photon-system-part2@2\.3\.1\.bin at"):
        fetch_release("2.3.1", "photon", base_url=server.url, cache_dir=tmp_path / "c")


def test_corrupt_download_is_rejected_and_not_cached(server: Server, tmp_path: Path) -> None:
    files = server.release("boron", "2.3.1")
    part1 = next(f for f in files if "part1" in f.name)
    data = bytearray(part1.read_bytes())
    data[5000] ^= 1
    part1.write_bytes(bytes(data))
    cache = tmp_path / "c"
    with pytest.raises(ReleaseFetchError, match=r"is unusable \(.*CRC-32 mismatch.*\); the download is corrupt"):
        fetch_release("2.3.1", "boron", base_url=server.url, cache_dir=cache)
    assert not any(p.name == part1.name for p in cache.rglob("*"))
    assert not list(cache.rglob(".part-*"))


def test_wrong_file_behind_a_name_is_rejected(server: Server, tmp_path: Path) -> None:
    files = server.release("boron", "2.3.1")
    boot = next(f for f in files if "bootloader" in f.name)
    tinker = next(f for f in files if "tinker" in f.name)
    boot.write_bytes(tinker.read_bytes())
    with pytest.raises(ReleaseFetchError, match="holds a Boron user part"):
        fetch_release("2.3.1", "boron", base_url=server.url, cache_dir=tmp_path / "c")


def test_another_version_behind_the_name_is_not_cached(server: Server, tmp_path: Path) -> None:
    """A mirror serving 1.5.2's parts under 2.3.1's names: refused before it enters the cache."""
    server.release("photon", "1.5.2")
    older = server.root / "download" / "v1.5.2"
    newer = server.root / "download" / "v2.3.1"
    newer.mkdir(parents=True)
    for f in older.iterdir():
        (newer / f.name.replace("1.5.2", "2.3.1")).write_bytes(f.read_bytes())
    cache = tmp_path / "c"
    with pytest.raises(ReleaseFetchError, match=r"holds Device OS 1\.5\.2, not the 2\.3\.1 asked for"):
        fetch_release("2.3.1", "photon", base_url=server.url, cache_dir=cache)
    assert not [p for p in cache.rglob("*.bin")]


def test_a_file_larger_than_any_module_is_refused(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.release("boron", "2.3.1")
    monkeypatch.setattr(fetch, "MAX_ASSET_BYTES", 1000)  # the release's files are all larger
    with pytest.raises(ReleaseFetchError, match=r"bytes, far more than any module: the mirror is wrong"):
        fetch_release("2.3.1", "boron", base_url=server.url, cache_dir=tmp_path / "c")
    assert not list((tmp_path / "c").rglob(".part-*"))


def test_a_server_that_drips_meets_the_deadline(tmp_path: Path) -> None:
    """Every byte comes well within the read timeout, the file never ends: the total deadline ends it."""
    stop = threading.Event()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)

        def drip() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n")
                while not stop.wait(0.05):
                    try:
                        conn.sendall(b"x")
                    except OSError:
                        return

        threading.Thread(target=drip, daemon=True).start()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        try:
            with pytest.raises(ReleaseFetchError, match=r"did not finish within 0\.5 s"):
                fetch_release("2.3.1", "photon", base_url=url, cache_dir=tmp_path / "c", timeout=60, deadline=0.5)
        finally:
            stop.set()


def test_offline_is_one_sentence(tmp_path: Path) -> None:
    with socket.socket() as s:  # bound but not listening while we connect: always refused, no port race
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        with pytest.raises(ReleaseFetchError, match=r"Cannot reach http://127\.0\.0\.1:\d+ .*check the network"):
            fetch_release("2.3.1", "photon", base_url=f"http://127.0.0.1:{port}", cache_dir=tmp_path / "c", timeout=60)


def test_silent_server_times_out(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)  # accepts connections in the backlog, never answers
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
        with pytest.raises(ReleaseFetchError, match=r"timed out after 0\.05 s"):
            fetch_release("2.3.1", "photon", base_url=url, cache_dir=tmp_path / "c", timeout=0.05)


def test_unknown_version_and_platform(tmp_path: Path) -> None:
    with pytest.raises(UnknownVersionError, match="not in the version table"):
        fetch_release("9.9.9", "boron", base_url="http://127.0.0.1:9", cache_dir=tmp_path)
    with pytest.raises(UnknownPlatformError, match="Unknown platform"):
        fetch_release("2.3.1", "toaster", base_url="http://127.0.0.1:9", cache_dir=tmp_path)
