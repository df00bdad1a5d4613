"""A loopback HTTP server with the subset of the Particle Cloud API the rig uses, and the cloud's
side of simulated boards: connections, OTA flashing, events, the safe-mode healer (§6.3, §6.6).

Endpoints (Bearer token): GET /v1/devices/{id}; PUT /v1/devices/{id} with a multipart `file`
(flash a binary over the air); GET /v1/devices/{id}/events and /v1/devices/events (server-sent
events: spark/status online|offline, spark/status/safe-mode, spark/flash/status
started|success|failed).
"""

from __future__ import annotations

import json
import select
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from rig.firmware.format import ModuleFunction as F
from rig.firmware.module import Dependency, Module, ModuleError
from rig.firmware.parse import read_modules
from rig.signals import held
from rig.sim import installed as inst
from rig.sim import ota
from rig.sim.board import Board, Mode
from rig.sim.clock import SimClock, Timer
from rig.sim.console import describe

OTA_BYTES_PER_SECOND = 20_000.0  # assumption: a few hundred kbit/s over Wi-Fi/LTE-M
CONNECT_SECONDS = 3.0
TOKEN = "sim-token"


@dataclass
class Event:
    """One server-sent event."""

    name: str
    data: str
    device_id: str
    at: float


@dataclass
class CloudDevice:
    """The cloud's view of one board."""

    board: Board
    name: str
    connected: bool = False
    timer: Timer | None = None


@dataclass
class Cloud:
    """Devices, events and the healer; `serve()` exposes them over HTTP on 127.0.0.1."""

    clock: SimClock
    modules_for: Callable[[str, int, int, int], Module | None]  # (platform, function, index, min version)
    devices: dict[str, CloudDevice] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    reachable: bool = True  # fault: the whole cloud is offline
    token: str = TOKEN
    changed: threading.Condition = field(default_factory=threading.Condition)
    _server: ThreadingHTTPServer | None = None
    _serving: threading.Thread | None = None  # the thread running the server's loop

    def attach(self, board: Board, name: str) -> None:
        """Make a board known to the cloud; it connects when online and running."""
        self.devices[board.device_id] = CloudDevice(board, name)
        board.listeners.append(self._on_board)
        self._on_board(board)

    def publish(self, device_id: str, name: str, data: str) -> None:
        """Record an event and wake the event streams."""
        with self.changed:
            self.events.append(Event(name, data, device_id, self.clock.now()))
            self.changed.notify_all()

    # ---- connection and healing ---------------------------------------------------------

    def _can_connect(self, board: Board) -> bool:
        return self.reachable and board.settings.online and board.mode in (Mode.NORMAL, Mode.SAFE)

    def _on_board(self, board: Board) -> None:
        dev = self.devices.get(board.device_id)
        if dev is None:
            return
        if dev.timer:
            dev.timer.cancel()
            dev.timer = None
        if self._can_connect(board):
            if not dev.connected:
                dev.timer = self.clock.schedule(CONNECT_SECONDS, lambda: self._connect(dev))
        elif dev.connected:
            dev.connected = False
            self.publish(board.device_id, "spark/status", "offline")

    def _connect(self, dev: CloudDevice) -> None:
        board = dev.board
        dev.timer = None
        if not self._can_connect(board):
            return
        dev.connected = True
        self.publish(board.device_id, "spark/status", "online")
        if board.mode == Mode.SAFE:
            self.publish(board.device_id, "spark/status/safe-mode", describe(board))
            if board.settings.heal:
                self._heal(dev)

    def _missing(self, board: Board) -> Module | None:
        """The next module the healer would send: a dependency that is not met, its own
        dependencies first; only ever newer versions (§6.3, §6.6).
        """
        found = board.installed()
        wanted: list[Dependency] = []
        for m in found:
            if m.function in (F.SYSTEM_PART, F.USER_PART) or m is board.running_user_app(found):
                wanted += [d for d in m.dependencies if not inst.dependency_met(found, d)]
        for dep in wanted:
            module = self._resolve(board, found, dep, depth=0)
            if module is not None:
                return module
        return None

    def _resolve(self, board: Board, found: list[inst.Installed], dep: Dependency, depth: int) -> Module | None:
        if dep.function == F.NCP_FIRMWARE or depth > 4:
            return None
        module = self.modules_for(board.platform.name, int(dep.function), dep.index, dep.version)
        if module is None:
            return None
        for i, sub in enumerate(module.dependencies):
            if sub.empty or (i == 1 and sub.function == F.BOOTLOADER) or inst.dependency_met(found, sub):
                continue
            first = self._resolve(board, found, sub, depth + 1)
            if first is not None:
                return first
        return module

    def _heal(self, dev: CloudDevice) -> None:
        module = self._missing(dev.board)
        if module is not None:
            dev.board.note(f"safe-mode healer sends {module.describe()}")
            self.flash(dev, module.data)

    def flash(self, dev: CloudDevice, data: bytes) -> str | None:
        """OTA: transfer, validate on the device, reboot; None when started, else why not."""
        board = dev.board
        if not dev.connected:
            return "Device is not connected"
        self.publish(board.device_id, "spark/flash/status", "started")
        seconds = len(data) / OTA_BYTES_PER_SECOND

        def deliver() -> None:
            if not dev.connected or board.mode not in (Mode.NORMAL, Mode.SAFE):
                self.publish(board.device_id, "spark/flash/status", "failed")
                return
            board.take_cost()
            code = ota.begin_update(board, len(data))
            if code == 0:
                code = ota.write_update(board, 0, data)
            if code == 0:
                code = ota.finish_update(board)
            if code != 0:
                self.publish(board.device_id, "spark/flash/status", "failed")
                return
            self.publish(board.device_id, "spark/flash/status", "success")
            board.reset("OTA update", delay=board.take_cost() + 0.5)

        self.clock.schedule(seconds, deliver)
        return None

    # ---- HTTP -----------------------------------------------------------------------------

    def serve(self) -> str:
        """Start the HTTP server on loopback; returns its base URL."""
        cloud = self

        class Handler(_CloudHandler):
            owner = cloud

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._serving = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="sim-cloud", daemon=True
        )
        with held():  # a stop signal during start() would leave a thread that stop() cannot see alive
            self._serving.start()
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        """Stop the HTTP server and end the event streams."""
        if self._server is not None:
            if self._serving is not None and self._serving.is_alive():  # shutdown() waits for its loop forever
                self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self.changed:
            self.changed.notify_all()


def downgrade(board: Board, modules: list[Module]) -> str | None:
    """Why the cloud refuses: it never installs an older Device OS part than the board has (§6.6)."""
    found = board.installed()
    for m in modules:
        image = m.image
        if image.function in (F.SYSTEM_PART, F.BOOTLOADER, F.RADIO_STACK, F.NCP_FIRMWARE):
            current = inst.find(found, image.function, image.index)
            if current is not None and image.version < current.version:
                return (
                    f"OTA never downgrades Device OS: {image.describe()} is older than the installed v{current.version}"
                )
    return None


def device_json(dev: CloudDevice) -> dict[str, Any]:
    """GET /v1/devices/{id} body."""
    b = dev.board
    return {
        "id": b.device_id,
        "name": dev.name,
        "platform_id": b.platform.id,
        "online": dev.connected,
        "connected": dev.connected,
        "system_firmware_version": b.system_version(),
        "status": "normal" if b.mode != Mode.SAFE else "safe-mode",
    }


class _CloudHandler(BaseHTTPRequestHandler):
    owner: Cloud
    protocol_version = "HTTP/1.1"
    # headers and body go out as two writes; with Nagle's algorithm the body waits for the client's
    # delayed ACK (40 ms on Linux) on every keep-alive request: 300 polls of a 300 s wait cost 13 s
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def _json(self, code: int, body: dict[str, Any]) -> None:
        raw = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _authorized(self) -> bool:
        token = self.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if "access_token=" in self.path:
            token = self.path.split("access_token=", 1)[1].split("&")[0]
        if token != self.owner.token:
            self._json(401, {"error": "invalid_token", "error_description": "The access token provided is invalid."})
            return False
        return True

    def _device(self) -> CloudDevice | None:
        parts = self.path.split("?")[0].strip("/").split("/")
        if len(parts) >= 3 and parts[:2] == ["v1", "devices"]:
            return self.owner.devices.get(parts[2].lower())
        return None

    def _answerable(self) -> bool:
        """False (after dropping the connection or answering 401) when the cloud is offline or the token is wrong."""
        if not self.owner.reachable:
            self.close_connection = True
            return False
        return self._authorized()

    def _device_or_404(self) -> CloudDevice | None:
        """The device the path names, or None after answering 404 as the Particle API does."""
        dev = self._device()
        if dev is None:
            self._json(
                404, {"ok": False, "error": "Permission Denied", "info": "I didn't recognize that device name or ID"}
            )
        return dev

    def do_GET(self) -> None:
        """Device info and event streams."""
        if not self._answerable():
            return
        path = self.path.split("?")[0].rstrip("/")
        if path == "/v1/devices/events":
            self._stream(None)
            return
        dev = self._device_or_404()
        if dev is None:
            return
        if path.endswith("/events"):
            self._stream(dev.board.device_id)
            return
        with self.owner.clock.lock:
            self.owner.clock.run_due()
            body = device_json(dev)
        self._json(200, body)

    def do_PUT(self) -> None:
        """Flash a binary over the air."""
        if not self._answerable():
            return
        dev = self._device_or_404()
        if dev is None:
            return
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        message = BytesParser(policy=HTTP).parsebytes(
            f"Content-Type: {self.headers.get('Content-Type', '')}\r\n\r\n".encode() + body
        )
        data = b""
        for part in message.iter_parts():
            if part.get_param("name", header="content-disposition") == "file":
                payload = part.get_payload(decode=True)
                data = payload if isinstance(payload, bytes) else b""
        try:
            modules = read_modules(data, "upload")
        except ModuleError as exc:
            self._json(400, {"ok": False, "error": str(exc)})
            return
        with self.owner.clock.lock:
            why = downgrade(dev.board, modules) or self.owner.flash(dev, data)
        if why:
            self._json(400, {"ok": False, "error": why})
        else:
            self._json(200, {"id": dev.board.device_id, "status": "Update started"})

    def _client_gone(self) -> bool:
        """True once the client closed the stream's connection (it sends nothing after its request,
        so a readable socket means end of file or a reset).
        """
        return bool(select.select([self.connection], [], [], 0)[0])

    def _stream(self, device_id: str | None) -> None:
        cloud = self.owner
        sent = len(cloud.events)  # counted before the client can see the stream open
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        try:
            self.wfile.write(b":ok\n\n")
            self.wfile.flush()
            while cloud._server is not None and not self._client_gone():
                with cloud.changed:
                    cloud.changed.wait(timeout=0.2)
                    fresh, sent = cloud.events[sent:], len(cloud.events)
                for ev in fresh:
                    if device_id is None or ev.device_id == device_id:
                        data = json.dumps(
                            {"data": ev.data, "ttl": 60, "published_at": f"{ev.at:.3f}", "coreid": ev.device_id}
                        )
                        self.wfile.write(f"event: {ev.name}\ndata: {data}\n\n".encode())
                self.wfile.flush()
        except OSError:
            return
