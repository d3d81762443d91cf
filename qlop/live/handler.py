"""Publishing a task's events to the relay without ever slowing down or failing the run.

``RelayPublisher.publish`` only puts the event on a bounded queue. A background thread moves events
into a bounded history and sends them with the websockets sync client, reconnecting with backoff.

Delivery protocol (see ``docs/live.md``): on connect the relay says ``{"kind": "hello", "last_seq": N}``
- the highest ``seq`` it holds for the task - and the publisher resends everything after ``N`` from its
history, then streams; the relay answers ``{"kind": "ack", "seq": M}`` and drops duplicates by ``seq``.
A relay restarted mid-run says ``last_seq: 0`` and gets the whole history again, so a subscriber that
resumes with ``since`` loses nothing. At exit, :meth:`RelayPublisher.close` waits a short time for the
final event to be acknowledged.

:class:`EventLogHandler` turns records of the ``qlop`` logger into ``log`` events.
"""

from __future__ import annotations

import collections
import logging
import queue
import sys
import threading
import time
from typing import Any

from qlop.layout import RunLayout
from qlop.live.events import EventRecorder
from qlop.live.protocol import (
    OPEN_TIMEOUT,
    Backoff,
    RelayRefused,
    RelayUnavailable,
    connect,
    control_seq,
    encode,
    fits,
    is_final,
    publish_url,
    relay_address,
)


def _warn(message: str) -> None:
    try:
        print(f"qlop: {message}", file=sys.stderr, flush=True)
    except Exception:  # noqa: BLE001 - stderr closed: nothing to do
        pass


class RelayPublisher:
    """Background sender of one task's events to ``<base_url>/publish/<task_id>``."""

    def __init__(
        self,
        base_url: str,
        task_id: str,
        token: str | None,
        *,
        queue_size: int = 20_000,
        history_size: int = 200_000,
        open_timeout: float = OPEN_TIMEOUT,
        warn: Any = _warn,
    ) -> None:
        self.url = publish_url(base_url, task_id)
        self.task_id = task_id
        self.token = token
        self.open_timeout = open_timeout
        self.backoff = Backoff()
        self.warn = warn
        self._queue: queue.Queue[tuple[int, str, bool] | None] = queue.Queue(maxsize=queue_size)
        self._final: tuple[int, str, bool] | None = None  # never dropped, even with a full queue
        self._history: collections.deque[tuple[int, str]] = collections.deque(maxlen=history_size)
        self._pending: collections.deque[tuple[int, str]] = collections.deque()
        self._stop = threading.Event()
        self._deadline: float | None = None
        self.last_published = 0
        self.acked = 0
        self.dropped = 0
        self.connects = 0
        self.ever_connected = False
        self.refused: str | None = None
        self._warned = False
        self._thread = threading.Thread(target=self._run, name=f"qlop-relay-{task_id}", daemon=True)
        self._thread.start()

    # -- producer side (any thread; never blocks) ---------------------------------------------

    def publish(self, event: dict[str, Any], text: str) -> None:
        if not fits(text):  # the relay would close the connection on it, again after every resend
            text = encode(event)
        item = (int(event["seq"]), text, is_final(event))
        self.last_published = item[0]
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            if item[2]:
                self._final = item  # the final status is never dropped
            else:
                self.dropped += 1

    __call__ = publish  # usable directly as an EventRecorder sink

    def close(self, timeout: float = 2.0) -> bool:
        """Stop after the last event is acknowledged or ``timeout`` passes; True if all was acknowledged.

        If the relay was never reachable during the run, only one more attempt is made, so a run
        without a relay exits as fast as one that does not stream.
        """
        self._deadline = time.monotonic() + timeout
        self._stop.set()
        try:
            self._queue.put_nowait(None)  # wake the sender
        except queue.Full:
            pass
        self._thread.join(timeout + 0.5)
        return self.acked >= self.last_published

    # -- sender thread -----------------------------------------------------------------------

    def _take_queued(self, wait: float) -> None:
        """Move queued events into the history and the pending list, waiting up to ``wait`` for one."""
        block = wait > 0
        while True:
            try:
                item = self._queue.get(timeout=wait) if block else self._queue.get_nowait()
            except queue.Empty:
                break
            block = False
            if item is not None and not self.refused:  # refused: nothing will ever be sent
                self._history.append(item[:2])
                self._pending.append(item[:2])
        if self._final is not None:
            item, self._final = self._final, None
            self._history.append(item[:2])
            self._pending.append(item[:2])

    def _done(self) -> bool:
        if not self._stop.is_set():
            return False
        if self.refused or self.acked >= self.last_published:
            return True
        return self._deadline is not None and time.monotonic() >= self._deadline

    def _run(self) -> None:
        next_attempt = 0.0
        ws = None
        while True:
            if self.refused:
                wait = 0.05  # streaming is off: only keep the queue drained
            elif ws is None:
                wait = min(max(0.0, next_attempt - time.monotonic()), 0.05)
            else:
                wait = 0.0 if self._pending or self._stop.is_set() else 0.05
            self._take_queued(wait)
            if self._done():
                break
            if ws is None:
                if self.refused and self._stop.is_set():
                    break
                last_try = self._stop.is_set() and not self.ever_connected  # no backoff before it
                if self.refused or (time.monotonic() < next_attempt and not last_try):
                    continue
                ws = self._connect()
                if ws is None:
                    if self._stop.is_set() and not self.ever_connected:
                        break  # the relay was never up: do not hold the exit for it
                    next_attempt = time.monotonic() + self.backoff.next()
                    continue
                self.backoff.reset()
            try:
                self._send_pending(ws)
                self._read_acks(ws, 0.02 if self._stop.is_set() and not self._pending else 0.0)
            except Exception:  # noqa: BLE001 - any connection problem: reconnect with backoff
                self._close_quietly(ws)
                ws = None
                next_attempt = time.monotonic() + self.backoff.next()
        if ws is not None:
            self._close_quietly(ws)

    def _reachable(self) -> bool:
        """A bare TCP connect: while no relay listens, websockets is never even imported (~80 ms of CPU)."""
        import socket

        try:
            socket.create_connection(relay_address(self.url), timeout=self.open_timeout).close()
            return True
        except OSError as exc:
            self._warn_once(
                f"live relay at {self.url} unreachable ({type(exc).__name__}); "
                f"retrying in the background, events are kept in {RunLayout.EVENTS}"
            )
            return False

    def _connect(self) -> Any:
        self.connects += 1
        if "websockets.sync.client" not in sys.modules and not self._reachable():
            return None
        try:
            ws = connect(self.url, self.token, open_timeout=self.open_timeout, close_timeout=0.5)
        except RelayRefused as exc:
            self.refused = f"HTTP {exc.status}"
            self.warn(f"live relay refused {self.url} (HTTP {exc.status}); the run goes on without streaming")
            return None
        except RelayUnavailable as exc:
            self._warn_once(f"live {exc}; retrying in the background, events are kept in {RunLayout.EVENTS}")
            return None
        try:
            relay_has = control_seq(ws.recv(timeout=self.open_timeout), "hello")
        except Exception:  # noqa: BLE001
            relay_has = None
        if relay_has is None:
            self._close_quietly(ws)
            return None
        self.ever_connected = True
        self.acked = relay_has  # a restarted relay holds nothing: resend everything
        self._pending = collections.deque(item for item in self._history if item[0] > relay_has)
        return ws

    def _warn_once(self, message: str) -> None:
        if not self._warned:
            self._warned = True
            self.warn(message)

    def _send_pending(self, ws: Any) -> None:
        sent = 0
        while self._pending and sent < 500:
            seq, text = self._pending[0]
            ws.send(text)
            self._pending.popleft()
            sent += 1

    def _read_acks(self, ws: Any, timeout: float) -> None:
        """Apply every acknowledgement already received (waiting up to ``timeout`` for the first)."""
        while True:
            try:
                message = ws.recv(timeout=timeout)
            except TimeoutError:
                return
            timeout = 0.0
            seq = control_seq(message, "ack")
            if seq is not None:
                self.acked = max(self.acked, seq)

    @staticmethod
    def _close_quietly(ws: Any) -> None:
        try:
            ws.close()
        except Exception:  # noqa: BLE001
            pass


class EventLogHandler(logging.Handler):
    """A ``log`` event per record (attach to the ``qlop`` logger at INFO)."""

    def __init__(self, recorder: EventRecorder, level: int = logging.INFO) -> None:
        super().__init__(level)
        self.recorder = recorder

    def emit(self, record: logging.LogRecord) -> None:
        try:
            payload: dict[str, Any] = {"level": record.levelname, "logger": record.name, "message": record.getMessage()}
            stage = getattr(record, "stage", None)
            if stage:
                payload["stage"] = stage
            if record.exc_info and record.exc_info[1] is not None:
                payload["error"] = f"{type(record.exc_info[1]).__name__}: {record.exc_info[1]}"
            self.recorder.emit("log", payload)
        except Exception:  # noqa: BLE001 - logging must never break the run
            self.handleError(record)
