"""A background relay subscriber: one thread per browser session and task, filling a buffer.

The thread never calls ``st.*`` (Streamlit does not support that); the page's fragment reads
:meth:`Subscriber.snapshot` on each poll. On a dropped connection it reconnects with
``since=<last seq>`` so every event arrives exactly once and in order; it stops by itself after the
run's final ``status`` event (``completed`` or ``failed``).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

#: ``status`` values that end a task (the protocol of :mod:`qlop.live.events`).
FINAL_STATES = frozenset({"completed", "failed"})

#: The relay checks the token in this request header before the handshake completes.
TOKEN_HEADER = "Authorization"


def token_headers(token: str | None) -> dict[str, str]:
    return {TOKEN_HEADER: f"Bearer {token}"} if token else {}


def subscribe_url(ws_url: str, task_id: str, since: int) -> str:
    return f"{ws_url.rstrip('/')}/subscribe/{quote(task_id, safe='')}?since={since}"


def is_final(event: dict[str, Any]) -> bool:
    """The last event of a run: a ``status`` whose status is completed or failed."""
    return event.get("type") == "status" and (event.get("payload") or {}).get("status") in FINAL_STATES


@dataclass
class Snapshot:
    """What the page draws: the events so far and the connection state."""

    events: list[dict[str, Any]]
    connected: bool
    finished: bool
    error: str | None
    last_received: float | None


class Subscriber:
    """Subscribes to ``/subscribe/<task_id>`` on the relay in a daemon thread."""

    def __init__(self, ws_url: str, task_id: str, token: str | None, since: int = 0) -> None:
        self.ws_url, self.task_id, self._token = ws_url, task_id, token
        self.last_seq = since
        self._events: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.connected = False
        self.finished = False
        self.error: str | None = None
        self.last_received: float | None = None
        self._thread = threading.Thread(target=self._run, name=f"qlop-gui-subscriber-{task_id[:8]}", daemon=True)

    def start(self) -> "Subscriber":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def snapshot(self) -> Snapshot:
        with self._lock:
            events = list(self._events)
        return Snapshot(events, self.connected, self.finished, self.error, self.last_received)

    def add_events(self, events: list[dict[str, Any]]) -> None:
        """Add events from another source (``events.jsonl``), keeping seq order and uniqueness."""
        for event in sorted(events, key=lambda e: e.get("seq", 0)):
            self._ingest(event)

    def _ingest(self, event: Any) -> None:
        if not isinstance(event, dict) or event.get("task_id", self.task_id) != self.task_id:
            return
        seq = event.get("seq")
        if not isinstance(seq, int):
            return
        with self._lock:
            if seq <= self.last_seq:
                return  # already have it (a replay after reconnecting)
            self._events.append(event)
            self.last_seq = seq
            self.last_received = time.time()
        if is_final(event):
            self.finished = True

    def _handle(self, message: str | bytes) -> None:
        try:
            data = json.loads(message)
        except ValueError:
            return
        for event in data if isinstance(data, list) else [data]:
            self._ingest(event)

    def _run(self) -> None:
        from websockets.exceptions import InvalidStatus, WebSocketException
        from websockets.sync.client import connect

        backoff = 0.1
        while not self._stop.is_set() and not self.finished:
            try:
                with connect(subscribe_url(self.ws_url, self.task_id, self.last_seq),
                             additional_headers=token_headers(self._token), proxy=None,
                             open_timeout=5, close_timeout=1, max_size=2**20) as ws:
                    self.connected, self.error, backoff = True, None, 0.1
                    while not self._stop.is_set() and not self.finished:
                        try:
                            message = ws.recv(timeout=0.5)
                        except TimeoutError:
                            continue
                        self._handle(message)
            except InvalidStatus as exc:
                status = exc.response.status_code
                self.error = f"the relay refused the subscription (HTTP {status})"
                if status in (401, 403):
                    self.connected = False
                    return  # a wrong token will not get better by retrying
            except (OSError, TimeoutError, WebSocketException) as exc:
                self.error = f"relay unreachable: {type(exc).__name__}: {exc}".splitlines()[0]
            self.connected = False
            if self._stop.wait(backoff):
                break
            backoff = min(backoff * 2, 2.0)
        self.connected = False
