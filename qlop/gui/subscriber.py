"""A background relay subscriber: one thread per browser session and task, filling a buffer.

The thread runs the protocol's one subscription loop (:func:`qlop.live.client.subscribe`: resume with
``since`` after a drop, the shared backoff, stop at the final status, stop at once when refused) and
never calls ``st.*`` (Streamlit does not support that); the page's fragment reads
:meth:`Subscriber.snapshot` on each poll.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from qlop.live.protocol import is_final


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

    def _ingest(self, event: dict[str, Any]) -> None:
        if event.get("task_id") != self.task_id:
            return
        with self._lock:
            if event["seq"] <= self.last_seq:
                return  # already have it (from the run's own events.jsonl)
            self._events.append(event)
            self.last_seq = event["seq"]
            self.last_received = time.time()
        if is_final(event):
            self.finished = True
            self._stop.set()

    def _on_state(self, connected: bool, error: str | None) -> None:
        self.connected, self.error = connected, error

    def _run(self) -> None:
        from qlop.live.client import RelayRefused, subscribe

        try:
            for event in subscribe(
                self.ws_url,
                self.task_id,
                self._token,
                self.last_seq,
                wait=None,
                stop=self._stop,
                on_state=self._on_state,
            ):
                self._ingest(event)
        except RelayRefused as exc:
            self.error = f"the relay refused the subscription (HTTP {exc.status})"
        finally:
            self.connected = False
