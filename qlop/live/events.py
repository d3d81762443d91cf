"""The live event protocol: ``{v, task_id, seq, timestamp_utc, type, payload}``, and its JSONL log.

One :class:`EventRecorder` per task numbers events (``seq`` rises by one per task, starting after the
last event of that task already in the log, so a resumed run continues its sequence), appends every
event to ``events.jsonl`` and hands it to any sinks (the relay publisher). The relay de-duplicates by
``seq``, which is what makes resending after a reconnect safe.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

PROTOCOL_VERSION = 1
EVENT_TYPES = ("log", "progress", "status", "artifact_path", "metric")
#: ``status`` values that end a task: the last event of every run is one of these.
FINAL_STATES = ("completed", "failed")
#: The relay refuses messages larger than this (bytes of the UTF-8 JSON text).
MAX_EVENT_BYTES = 64 * 1024
#: Task ids are used in URLs and file names.
TASK_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")

Sink = Callable[[dict[str, Any], str], None]


def valid_task_id(task_id: str) -> bool:
    return 0 < len(task_id) <= 128 and set(task_id) <= TASK_ID_CHARS and task_id not in (".", "..")


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def make_event(task_id: str, seq: int, type_: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    if type_ not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type_!r} (expected one of {', '.join(EVENT_TYPES)})")
    return {"v": PROTOCOL_VERSION, "task_id": task_id, "seq": int(seq), "timestamp_utc": utc_now(),
            "type": type_, "payload": dict(payload)}


def encode(event: Mapping[str, Any]) -> str:
    """Compact JSON; an oversized event has its longest strings cut so it always fits the relay limit."""
    text = json.dumps(event, separators=(",", ":"), default=str, ensure_ascii=False)
    if len(text.encode("utf-8")) <= MAX_EVENT_BYTES:
        return text
    payload = dict(event.get("payload") or {})
    budget = MAX_EVENT_BYTES // 2
    for key, value in sorted(payload.items(), key=lambda kv: -len(str(kv[1]))):
        if isinstance(value, str) and len(value.encode("utf-8")) > budget // 4:
            payload[key] = value[: budget // 8] + f"... [{len(value)} chars, truncated]"
    trimmed = {**event, "payload": {**payload, "truncated": True}}
    text = json.dumps(trimmed, separators=(",", ":"), default=str, ensure_ascii=False)
    if len(text.encode("utf-8")) > MAX_EVENT_BYTES:  # many medium fields: keep only the envelope
        text = json.dumps({**event, "payload": {"truncated": True}}, separators=(",", ":"), default=str)
    return text


def decode(text: str | bytes) -> dict[str, Any]:
    """Parse and check one event; ``ValueError`` says what is wrong."""
    try:
        event = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(event, dict):
        raise ValueError("an event must be a JSON object")
    missing = [k for k in ("v", "task_id", "seq", "timestamp_utc", "type", "payload") if k not in event]
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
    """True for the ``status`` event that ends a task."""
    return event.get("type") == "status" and (event.get("payload") or {}).get("status") in FINAL_STATES


def read_events(path: str | Path, task_id: str | None = None) -> list[dict[str, Any]]:
    """Events of a JSONL log (optionally of one task); a torn last line from a crash is skipped."""
    return list(iter_events(path, task_id))


def iter_events(path: str | Path, task_id: str | None = None) -> Iterator[dict[str, Any]]:
    try:
        fh = open(path, encoding="utf-8")
    except FileNotFoundError:
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


def last_seq(path: str | Path, task_id: str) -> int:
    return max((e["seq"] for e in iter_events(path, task_id)), default=0)


class JsonlWriter:
    """Append-only ``events.jsonl``: one whole line per ``write`` call, flushed at once.

    A log is append-only rather than replaced atomically; a line torn by a hard kill is skipped when
    read back, and the next writer starts on a fresh line.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "a+b", buffering=0)
        self._fh.seek(0, os.SEEK_END)
        if self._fh.tell() > 0:
            self._fh.seek(-1, os.SEEK_END)
            if self._fh.read(1) != b"\n":
                self._fh.write(b"\n")

    def write(self, line: str) -> None:
        if self._fh is not None:
            self._fh.write(line.encode("utf-8") + b"\n")

    def close(self) -> None:
        if self._fh is not None:
            try:
                os.fsync(self._fh.fileno())
            except OSError:
                pass
            self._fh.close()
            self._fh = None


class EventRecorder:
    """Numbers, logs and fans out the events of one task. Thread-safe; ``emit`` never raises on I/O
    problems of a sink (a broken viewer must not break a run)."""

    def __init__(self, task_id: str, log_path: str | Path | None = None, sinks: list[Sink] | None = None) -> None:
        if not valid_task_id(task_id):
            raise ValueError(f"task id {task_id!r}: use 1-128 letters, digits, '.', '_' or '-'")
        self.task_id = task_id
        self.sinks: list[Sink] = list(sinks or [])
        self._lock = threading.Lock()
        self._writer: JsonlWriter | None = None
        self.seq = 0
        if log_path is not None:
            self.seq = last_seq(log_path, task_id)
            self._writer = JsonlWriter(log_path)
        self.closed = False

    def emit(self, type_: str, payload: Mapping[str, Any]) -> dict[str, Any] | None:
        with self._lock:
            if self.closed:
                return None
            self.seq += 1
            event = make_event(self.task_id, self.seq, type_, payload)
            text = encode(event)
            if self._writer is not None:
                self._writer.write(text)
            for sink in self.sinks:
                try:
                    sink(event, text)
                except Exception:  # noqa: BLE001 - a sink failure must never reach the run
                    pass
            return event

    def status(self, status: str, **payload: Any) -> dict[str, Any] | None:
        return self.emit("status", {"status": status, **payload})

    def close(self) -> None:
        with self._lock:
            self.closed = True
            if self._writer is not None:
                self._writer.close()
                self._writer = None
