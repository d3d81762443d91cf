"""The live protocol: everything the publisher, the relay, ``qlop ws tail`` and the GUI must agree on.

One home for: the event envelope ``{v, task_id, seq, timestamp_utc, type, payload}`` and its JSON text
(with the one size limit), task ids, the final-state rule, the relay's URLs (publish, subscribe with
``since``, healthz) and where a relay URL and token come from, the auth header, which HTTP answers
mean "refused" (stop) rather than "unreachable" (retry), the close codes, the reconnect backoff, the
publisher/relay control messages, the client-side connect options, and the ``events.jsonl`` reader.

Only the standard library is imported here (websockets only inside :func:`connect`), so the relay,
``qlop --help`` and ``qlop ws`` stay light.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qlop.errors import QlopError

# -- the event envelope ---------------------------------------------------------------------------

PROTOCOL_VERSION = 1
EVENT_TYPES = ("log", "progress", "status", "artifact_path", "metric")
ENVELOPE_FIELDS = ("v", "task_id", "seq", "timestamp_utc", "type", "payload")
#: ``status`` values that end a task: the last event of every run is one of these.
FINAL_STATES = ("completed", "failed")
#: The one size limit: the relay refuses (close 1009) and clients do not accept longer messages
#: (bytes of the UTF-8 JSON text). :func:`encode` cuts an event's longest strings to fit.
MAX_EVENT_BYTES = 64 * 1024
#: Task ids are used in URLs and file names.
TASK_ID_MAX_CHARS = 128
TASK_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
TASK_ID_RULE = "use 1-128 letters, digits, '.', '_' or '-'"


def valid_task_id(task_id: str) -> bool:
    return 0 < len(task_id) <= TASK_ID_MAX_CHARS and set(task_id) <= TASK_ID_CHARS and task_id not in (".", "..")


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def make_event(task_id: str, seq: int, type_: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    if type_ not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type_!r} (expected one of {', '.join(EVENT_TYPES)})")
    return {
        "v": PROTOCOL_VERSION,
        "task_id": task_id,
        "seq": int(seq),
        "timestamp_utc": utc_now(),
        "type": type_,
        "payload": dict(payload),
    }


def _dumps(event: Mapping[str, Any]) -> str:
    return json.dumps(event, separators=(",", ":"), default=str, ensure_ascii=False)


def fits(text: str) -> bool:
    """True when ``text`` is within :data:`MAX_EVENT_BYTES`."""
    return len(text) <= MAX_EVENT_BYTES // 4 or len(text.encode("utf-8")) <= MAX_EVENT_BYTES


def encode(event: Mapping[str, Any]) -> str:
    """Compact JSON that always fits the limit: an oversized event has its longest strings cut and
    ``truncated: true`` in its payload; extra fields (envelope or payload) are kept as they are."""
    text = _dumps(event)
    if fits(text):
        return text
    payload = dict(event.get("payload") or {})
    budget = MAX_EVENT_BYTES // 2
    for key, value in sorted(payload.items(), key=lambda kv: -len(str(kv[1]))):
        if isinstance(value, str) and len(value.encode("utf-8")) > budget // 4:
            payload[key] = value[: budget // 8] + f"... [{len(value)} chars, truncated]"
    text = _dumps({**event, "payload": {**payload, "truncated": True}})
    if not fits(text):  # many medium fields: keep only the envelope
        text = _dumps({**event, "payload": {"truncated": True}})
    return text


def decode(text: str | bytes) -> dict[str, Any]:
    """Parse and check one event; ``ValueError`` says what is wrong. Fields beyond the envelope (and any
    payload fields) are accepted and kept, so producers can add optional ones without breaking readers."""
    try:
        event = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(event, dict):
        raise ValueError("an event must be a JSON object")
    missing = [k for k in ENVELOPE_FIELDS if k not in event]
    if missing:
        raise ValueError(f"event lacks {', '.join(missing)}")
    if event["type"] not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event['type']!r}")
    if not isinstance(event["seq"], int) or isinstance(event["seq"], bool) or event["seq"] < 1:
        raise ValueError("seq must be a positive integer")
    if not isinstance(event["payload"], dict):
        raise ValueError("payload must be an object")
    return event


def is_final(event: Mapping[str, Any]) -> bool:
    """The final-state rule: a task is finished by its ``status`` event of ``completed`` or ``failed``."""
    return event.get("type") == "status" and (event.get("payload") or {}).get("status") in FINAL_STATES


# -- the events.jsonl reader ---------------------------------------------------------------------


def iter_events(path: str | Path, task_id: str | None = None) -> Iterator[dict[str, Any]]:
    """Events of a JSONL log in file order (optionally of one task); a missing file yields nothing and a
    line torn by a crash (or otherwise not a valid event) is skipped."""
    try:
        fh = open(path, encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return
    with fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                event = decode(line)
            except ValueError:
                continue
            if task_id is None or event["task_id"] == task_id:
                yield event


def read_events(path: str | Path, task_id: str | None = None) -> list[dict[str, Any]]:
    return list(iter_events(path, task_id))


def last_seq(path: str | Path, task_id: str) -> int:
    return max((e["seq"] for e in iter_events(path, task_id)), default=0)


# -- where the relay is, and the token ------------------------------------------------------------

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
DEFAULT_WS_URL = f"ws://{DEFAULT_HOST}:{DEFAULT_PORT}"
URL_ENV = "QLOP_WS_URL"
TOKEN_ENV = "QLOP_WS_TOKEN"


def configured_relay_url(explicit: str | None = None, env: Mapping[str, str] | None = None) -> str | None:
    """``explicit`` (an option), else ``QLOP_WS_URL``, else None (nothing configured)."""
    return explicit or (env if env is not None else os.environ).get(URL_ENV) or None


def relay_url(explicit: str | None = None, env: Mapping[str, str] | None = None) -> str:
    """The relay URL to use: as :func:`configured_relay_url`, defaulting to :data:`DEFAULT_WS_URL`."""
    return configured_relay_url(explicit, env) or DEFAULT_WS_URL


def relay_token(env: Mapping[str, str] | None = None) -> str | None:
    """The token from ``QLOP_WS_TOKEN`` (None when unset or empty)."""
    return (env if env is not None else os.environ).get(TOKEN_ENV) or None


# -- URLs and auth --------------------------------------------------------------------------------

PUBLISH, SUBSCRIBE, HEALTHZ = "publish", "subscribe", "healthz"
AUTH_HEADER = "Authorization"
TOKEN_QUERY = "token"


def auth_headers(token: str | None) -> dict[str, str]:
    return {AUTH_HEADER: f"Bearer {token}"} if token else {}


def _task_path(base_url: str, route: str, task_id: str) -> str:
    return f"{base_url.rstrip('/')}/{route}/{urllib.parse.quote(task_id, safe='')}"


def publish_url(base_url: str, task_id: str) -> str:
    return _task_path(base_url, PUBLISH, task_id)


def subscribe_url(base_url: str, task_id: str, since: int = 0) -> str:
    """Every event of ``task_id`` with ``seq > since``, then the live ones."""
    return f"{_task_path(base_url, SUBSCRIBE, task_id)}?since={int(since)}"


def http_url(ws_url: str, path: str) -> str:
    """``ws://host:port/...`` -> ``http://host:port<path>`` (``wss`` -> ``https``)."""
    base = ws_url.split("://", 1)[-1].split("/", 1)[0]
    scheme = "https" if ws_url.startswith("wss://") else "http"
    return f"{scheme}://{base}{path}"


def healthz_url(ws_url: str) -> str:
    """Plain HTTP ``GET`` that answers 200 ``ok`` while the relay is up (no token needed)."""
    return http_url(ws_url, f"/{HEALTHZ}")


def relay_address(url: str) -> tuple[str, int]:
    """``(host, port)`` of a relay URL, for a bare TCP probe."""
    parts = urllib.parse.urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or (443 if parts.scheme in ("wss", "https") else 80)


@dataclass
class Route:
    kind: str  # publish | subscribe | healthz
    task_id: str = ""
    since: int = 0


def parse_route(path: str) -> Route | tuple[int, str]:
    """The relay's reading of a request path: a :class:`Route`, or an HTTP ``(status, text)`` refusal."""
    parts = urllib.parse.urlsplit(path)
    segments = [urllib.parse.unquote(s) for s in parts.path.split("/") if s]
    query = urllib.parse.parse_qs(parts.query)
    if segments == [HEALTHZ]:
        return Route(HEALTHZ)
    if len(segments) != 2 or segments[0] not in (PUBLISH, SUBSCRIBE):
        return 404, "unknown route: use /publish/<task_id>, /subscribe/<task_id>?since=N or /healthz\n"
    if not valid_task_id(segments[1]):
        return 404, "bad task id\n"
    since = 0
    if segments[0] == SUBSCRIBE and "since" in query:
        try:
            since = int(query["since"][-1])
        except ValueError:
            return 400, "since must be an integer\n"
        if since < 0:
            return 400, "since must be >= 0\n"
    return Route(segments[0], segments[1], since)


def request_token(path: str, headers: Any) -> str:
    """The token a request carries: ``Authorization: Bearer TOKEN`` or ``?token=TOKEN``."""
    auth = headers.get(AUTH_HEADER, "") or ""
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
    return query.get(TOKEN_QUERY, [""])[-1]


# -- answers, close codes, control messages ---------------------------------------------------------

#: HTTP answers to the handshake that retrying cannot fix (bad ``since``, wrong token, unknown route or
#: task id): every client stops and says so. Any other failure is "unreachable" and is retried.
REFUSED_STATUSES = frozenset({400, 401, 403, 404})

CLOSE_TASK_FINISHED = 1000  # with reason TASK_FINISHED: the task's final event was sent
TASK_FINISHED = "task finished"
CLOSE_BAD_EVENT = 1007  # not a valid event of this task
CLOSE_TOO_BIG = 1009  # over MAX_EVENT_BYTES (sent by websockets itself)
CLOSE_TOO_SLOW = 4008  # subscriber fell behind: reconnect with since=<last seq received>


def finished_close(code: int | None, reason: str | None) -> bool:
    """True when the relay closed a subscription because the task has ended (nothing more will come)."""
    return code == CLOSE_TASK_FINISHED and reason == TASK_FINISHED


def hello_message(last_seq: int) -> str:
    """Relay -> publisher on connect: the highest ``seq`` it holds; the publisher resends the rest."""
    return json.dumps({"kind": "hello", "last_seq": int(last_seq)})


def ack_message(seq: int) -> str:
    """Relay -> publisher: every event up to ``seq`` is held."""
    return json.dumps({"kind": "ack", "seq": int(seq)})


def control_seq(message: str | bytes, kind: str) -> int | None:
    """The seq of a relay control message of ``kind`` (``hello`` or ``ack``), else None."""
    try:
        data = json.loads(message)
    except (TypeError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("kind") != kind:
        return None
    try:
        return int(data.get("last_seq" if kind == "hello" else "seq", 0))
    except (TypeError, ValueError):
        return None


# -- connecting and reconnecting ------------------------------------------------------------------

#: Seconds for the TCP connect plus the handshake (and the publisher's wait for ``hello``).
OPEN_TIMEOUT = 2.0
#: Seconds a client waits for the relay's close frame.
CLOSE_TIMEOUT = 1.0


class RelayRefused(QlopError):
    """The relay answered with a :data:`REFUSED_STATUSES` status: retrying will not help."""

    def __init__(self, status: int, body: str = "") -> None:
        self.status = status
        self.body = body.strip()
        super().__init__(f"the relay refused the connection: HTTP {status} {self.body}".rstrip())


class RelayUnavailable(QlopError):
    """The relay could not be reached (or answered something other than a refusal)."""

    exit_code = 1


class Backoff:
    """The reconnect policy: waits double from ``first`` to ``cap`` seconds, each jittered to between
    half and all of its nominal value (so clients of a restarted relay do not all come back at once);
    :meth:`reset` after a connection succeeds."""

    def __init__(self, first: float = 0.05, cap: float = 2.0) -> None:
        self.first, self.cap = first, cap
        self._nominal = first

    def reset(self) -> None:
        self._nominal = self.first

    def next(self) -> float:
        delay = self._nominal * (0.5 + 0.5 * random.random())
        self._nominal = min(self._nominal * 2, self.cap)
        return delay


def connect(
    url: str, token: str | None, *, open_timeout: float = OPEN_TIMEOUT, close_timeout: float = CLOSE_TIMEOUT
) -> Any:
    """Open a websockets sync connection to a relay route with the protocol's options.

    Never through a proxy (the relay is usually on loopback), no compression, the one size limit.
    Raises :class:`RelayRefused` for a refusing HTTP answer, :class:`RelayUnavailable` otherwise.
    """
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect as ws_connect

    try:
        return ws_connect(
            url,
            additional_headers=auth_headers(token),
            proxy=None,
            compression=None,
            open_timeout=open_timeout,
            close_timeout=close_timeout,
            max_size=MAX_EVENT_BYTES,
            legacy=True,
        )
    except InvalidStatus as exc:
        status = exc.response.status_code
        if status in REFUSED_STATUSES:
            raise RelayRefused(status, (exc.response.body or b"").decode("utf-8", "replace")) from None
        raise RelayUnavailable(f"relay at {url} answered HTTP {status}") from None
    except Exception as exc:  # noqa: BLE001 - down, reset, timeout, bad handshake: all "unreachable"
        detail = str(exc).splitlines()[0] if str(exc) else ""
        raise RelayUnavailable(
            f"relay at {url} unreachable ({type(exc).__name__}{': ' + detail if detail else ''})"
        ) from None
