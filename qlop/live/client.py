"""Subscribing to a task on the relay: every event after ``since``, in order, until the final status.

The one subscription loop, used by ``qlop ws tail`` and by the GUI's subscriber thread. A dropped
connection (relay restart, "too slow" close) is resumed with ``since=<last seq received>`` after the
protocol's backoff, so the caller sees each event exactly once; a refusing answer ends it at once.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from qlop.live.protocol import (
    OPEN_TIMEOUT,
    Backoff,
    RelayRefused,
    RelayUnavailable,
    connect,
    decode,
    finished_close,
    is_final,
    subscribe_url,
)

__all__ = ["RelayRefused", "RelayUnavailable", "event_line", "subscribe"]

#: How often a waiting subscription checks its ``stop`` flag (seconds).
POLL_SECONDS = 0.5

StateCallback = Callable[[bool, "str | None"], None]


def subscribe(
    base_url: str,
    task_id: str,
    token: str | None,
    since: int = 0,
    *,
    wait: float | None = 10.0,
    stop_at_final: bool = True,
    stop: threading.Event | None = None,
    on_state: StateCallback | None = None,
    open_timeout: float = OPEN_TIMEOUT,
) -> Iterator[dict[str, Any]]:
    """Yield events of ``task_id`` with ``seq > since``, reconnecting with ``since`` whenever a connection drops.

    Ends after the final ``status`` event (when ``stop_at_final``), or soon after ``stop`` is set.
    ``on_state(connected, error)`` hears every connect and disconnect. Raises :class:`RelayRefused` for
    a refusing answer (wrong token, bad task id) and :class:`RelayUnavailable` when no connection
    succeeds for ``wait`` s in a row (``None``: keep trying).
    """
    last = int(since)
    down_since: float | None = None
    backoff = Backoff()
    stop = stop or threading.Event()

    def state(connected: bool, error: str | None) -> None:
        if on_state is not None:
            on_state(connected, error)

    while not stop.is_set():
        try:
            ws = connect(subscribe_url(base_url, task_id, last), token, open_timeout=open_timeout)
        except RelayUnavailable as exc:
            state(False, str(exc))
            now = time.monotonic()
            down_since = down_since or now
            if wait is not None and now - down_since > wait:
                raise RelayUnavailable(f"relay at {base_url} unreachable for {wait:g} s") from None
            stop.wait(backoff.next())
            continue
        down_since = None
        backoff.reset()
        state(True, None)
        try:
            while not stop.is_set():
                try:
                    message = ws.recv(timeout=POLL_SECONDS)
                except TimeoutError:
                    continue
                try:
                    event = decode(message)
                except ValueError:
                    continue  # the relay only forwards valid events; ignore anything else
                if event["seq"] <= last:
                    continue
                last = event["seq"]
                yield event
                if stop_at_final and is_final(event):
                    return
        except Exception:  # noqa: BLE001 - closed or broken: resume with since below
            if stop_at_final and finished_close(ws.close_code, ws.close_reason):
                return  # the task had already ended before ``since``: nothing more will come
            state(False, f"relay connection closed ({ws.close_code or 'no close frame'}); resuming at seq {last}")
        finally:
            try:
                ws.close()
            except Exception:  # noqa: BLE001
                pass


def event_line(event: dict[str, Any]) -> str:
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False)
