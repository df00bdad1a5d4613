"""The Particle Cloud API from the rig (httpx): device info, OTA flashing, the event stream.

Base URL and token come from arguments or the environment (RIG_CLOUD_URL, default
https://api.particle.io; RIG_CLOUD_TOKEN). Events are read by a background thread into a queue
that callers poll on their own clock, so waits stay bounded and work in simulated time.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import socket
import threading
from dataclasses import dataclass
from typing import Any

import httpx

from rig.clock import Clock, Deadline
from rig.errors import EXIT_USER_ERROR
from rig.transport.errors import TimeoutError_, TransportError

DEFAULT_URL = "https://api.particle.io"
URL_ENV = "RIG_CLOUD_URL"
TOKEN_ENV = "RIG_CLOUD_TOKEN"
CONNECT_WAIT = 10.0  # wall seconds to wait for the event stream to open (a network wait)
CLOSE_WAIT = 5.0  # wall seconds to wait for a closed stream's reader to end (a network wait)


class CloudError(TransportError):
    """The cloud refused or could not be reached."""


class CloudAuthError(CloudError):
    """The token is missing or rejected."""

    exit_code = EXIT_USER_ERROR


class CloudNotFoundError(CloudError):
    """The cloud does not know the device."""


class CloudOfflineError(CloudError):
    """The device is not connected to the cloud."""


@dataclass(frozen=True)
class CloudEvent:
    """One server-sent event."""

    name: str
    data: str
    device_id: str


class EventStream:
    """Events of one device (or all) collected by a reader thread, over a connection of the cloud's
    client that the stream holds until closed.
    """

    def __init__(self, client: httpx.Client, path: str) -> None:
        self.queue: queue.Queue[CloudEvent] = queue.Queue()
        self._client = client
        self._path = path
        self._stop = threading.Event()
        self._socket: socket.socket | None = None  # the stream's connection, shut down by close()
        self.error: str | None = None
        self.ready = threading.Event()  # set once the server has accepted the stream
        self._thread = threading.Thread(target=self._read, daemon=True, name="cloud-events")
        self._thread.start()
        self.ready.wait(CONNECT_WAIT)

    def _read(self) -> None:
        name = ""
        try:
            with self._client.stream("GET", self._path, timeout=httpx.Timeout(10.0, read=None)) as response:
                if response.status_code != 200:
                    self.error = f"HTTP {response.status_code}"
                    return
                stream = response.extensions.get("network_stream")
                self._socket = stream.get_extra_info("socket") if stream is not None else None
                self.ready.set()
                if self._stop.is_set():
                    return
                for line in response.iter_lines():
                    if self._stop.is_set():
                        return
                    if line.startswith("event: "):
                        name = line[7:]
                    elif line.startswith("data: "):
                        body = json.loads(line[6:])
                        self.queue.put(CloudEvent(name, str(body.get("data", "")), str(body.get("coreid", ""))))
        except (httpx.HTTPError, json.JSONDecodeError, ValueError, RuntimeError, OSError) as exc:
            self.error = str(exc)  # also the normal end: close() shuts the connection under the reader
        finally:
            self.ready.set()

    def poll(self, wall_timeout: float = 0.02) -> list[CloudEvent]:
        """Events received so far, waiting up to `wall_timeout` real seconds for the first one (the
        network delivers in wall time even when the bench clock is simulated).
        """
        try:
            first = [self.queue.get(timeout=wall_timeout)]
        except queue.Empty:
            return []
        return first + self.drain()

    def drain(self) -> list[CloudEvent]:
        """Every event received so far and not yet drained."""
        out = []
        while True:
            try:
                out.append(self.queue.get_nowait())
            except queue.Empty:
                return out

    def close(self) -> None:
        """Stop reading: shut the stream's connection down (the reader wakes, the server sees the
        stream end) and wait (bounded) for the reader; the cloud's client stays open.
        """
        self._stop.set()
        if self._socket is not None:
            with contextlib.suppress(OSError):  # already closed by the server
                self._socket.shutdown(socket.SHUT_RDWR)
        self._thread.join(CLOSE_WAIT)


class CloudClient:
    """A few Particle Cloud API calls with one-sentence errors."""

    def __init__(self, base_url: str | None = None, token: str | None = None, timeout: float = 30.0) -> None:
        self.base_url = (base_url or os.environ.get(URL_ENV) or DEFAULT_URL).rstrip("/")
        self.token = token if token is not None else os.environ.get(TOKEN_ENV)
        if not self.token:
            raise CloudAuthError(f"No cloud access token: set {TOKEN_ENV} (or pass --cloud-token).")
        self.client = httpx.Client(
            base_url=self.base_url, timeout=timeout, headers={"Authorization": f"Bearer {self.token}"}
        )

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self.client.close()

    def _call(self, method: str, path: str, device_id: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self.client.request(method, path, **kwargs)
        except httpx.TimeoutException:
            raise TimeoutError_(f"The cloud at {self.base_url} did not answer in time.") from None
        except httpx.HTTPError as exc:
            raise CloudError(
                f"Cannot reach the cloud at {self.base_url} ({exc}): check the network or {URL_ENV}."
            ) from None
        try:
            body: dict[str, Any] = response.json()
        except ValueError:
            body = {}
        if response.status_code == 401:
            raise CloudAuthError(f"The cloud rejected the access token: set {TOKEN_ENV} to a valid token.")
        if response.status_code == 404:
            raise CloudNotFoundError(f"The cloud does not know device {device_id}: check the id, or claim it.")
        if response.status_code >= 400:
            error = str(body.get("error", f"HTTP {response.status_code}"))
            if "not connected" in error.lower() or "offline" in error.lower():
                raise CloudOfflineError(f"Device {device_id} is not connected to the cloud: bring it online first.")
            raise CloudError(f"The cloud refused the request for {device_id}: {error}.")
        return body

    def device(self, device_id: str) -> dict[str, Any]:
        """GET /v1/devices/{id}."""
        return self._call("GET", f"/v1/devices/{device_id}", device_id)

    def flash(self, device_id: str, data: bytes, filename: str = "firmware.bin") -> dict[str, Any]:
        """PUT /v1/devices/{id} with the binary: an OTA update."""
        return self._call("PUT", f"/v1/devices/{device_id}", device_id, files={"file": (filename, data)})

    def events(self, device_id: str | None = None) -> EventStream:
        """The event stream of a device (or of all devices), on a connection of the one client (and
        TLS context) of this cloud: the stream holds that connection until closed, the other calls
        take others from the pool.
        """
        path = f"/v1/devices/{device_id}/events" if device_id else "/v1/devices/events"
        return EventStream(self.client, path)

    def wait_online(self, device_id: str, clock: Clock, timeout: float = 120.0, online: bool = True) -> None:
        """Poll device info until the device is (or is no longer) connected."""
        deadline = Deadline(clock, timeout)
        while bool(self.device(device_id).get("online")) != online:
            if deadline.expired():
                state = "online" if online else "offline"
                raise TimeoutError_(f"Device {device_id} did not go {state} within {timeout:g} s.")
            clock.sleep(1.0)
