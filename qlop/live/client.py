"""Subscribing to a task on the relay: every event after ``since``, in order, until the final status.

Used by ``qlop ws tail`` and the GUI. A dropped connection (relay restart, "too slow" close) is resumed
with ``since=<last seq received>``, so the caller sees each event exactly once.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

from qlop.errors import QlopError
from qlop.live.events import MAX_EVENT_BYTES, decode, is_final
from qlop.live.handler import auth_headers


class RelayRefused(QlopError):
    """The relay refused the subscription (wrong token, bad task id)."""


class RelayUnavailable(QlopError):
    """The relay could not be reached for longer than the caller was willing to wait."""


def subscribe_url(base_url: str, task_id: str, since: int = 0) -> str:
    return f"{base_url.rstrip('/')}/subscribe/{urllib.parse.quote(task_id, safe='')}?since={int(since)}"


def subscribe(base_url: str, task_id: str, token: str | None, since: int = 0, *, wait: float = 10.0,
              stop_at_final: bool = True, open_timeout: float = 2.0) -> Iterator[dict[str, Any]]:
    """Yield events of ``task_id`` with ``seq > since``; reconnects for up to ``wait`` s at a time.

    Ends after the final ``status`` event (when ``stop_at_final``). Raises :class:`RelayRefused` on
    HTTP 401/403/404 and :class:`RelayUnavailable` when no connection succeeds within ``wait`` s.
    """
    from websockets.exceptions import ConnectionClosed, InvalidStatus
    from websockets.sync.client import connect

    last = int(since)
    down_since: float | None = None
    delay = 0.05
    while True:
        try:
            ws = connect(subscribe_url(base_url, task_id, last), additional_headers=auth_headers(token),
                         proxy=None, compression=None, open_timeout=open_timeout, close_timeout=1.0,
                         max_size=MAX_EVENT_BYTES, legacy=True)
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status in (401, 403, 404, 400):
                body = (exc.response.body or b"").decode("utf-8", "replace").strip()
                raise RelayRefused(f"relay refused the subscription: HTTP {status} {body}".rstrip()) from None
            ws = None
        except (OSError, TimeoutError, ConnectionClosed, Exception):  # noqa: BLE001 - retried below
            ws = None
        if ws is None:
            now = time.monotonic()
            down_since = down_since or now
            if now - down_since > wait:
                raise RelayUnavailable(f"relay at {base_url} unreachable for {wait:g} s") from None
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
            continue
        down_since, delay = None, 0.05
        try:
            for message in ws:
                event = decode(message)
                if event["seq"] <= last:
                    continue
                last = event["seq"]
                yield event
                if stop_at_final and is_final(event):
                    return
            if stop_at_final and ws.close_code == 1000 and ws.close_reason == "task finished":
                return  # the task had already ended before ``since``: nothing more will come
        except ConnectionClosed:
            pass
        except ValueError:
            continue
        finally:
            try:
                ws.close()
            except Exception:  # noqa: BLE001
                pass


def relay_healthy(base_url: str, timeout: float = 1.0) -> bool:
    """True when ``GET /healthz`` answers 200."""
    import http.client

    parts = urllib.parse.urlsplit(base_url.replace("ws://", "http://").replace("wss://", "https://"))
    conn_cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    try:
        conn = conn_cls(parts.hostname or "127.0.0.1", parts.port or (443 if parts.scheme == "https" else 80),
                        timeout=timeout)
        conn.request("GET", "/healthz")
        ok = conn.getresponse().status == 200
        conn.close()
        return ok
    except OSError:
        return False


def event_line(event: dict[str, Any]) -> str:
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False)
