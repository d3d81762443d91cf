"""Recording a task's events: numbered, appended to ``events.jsonl`` and handed to sinks.

One :class:`EventRecorder` per task numbers events (``seq`` rises by one per task, starting after the
last event of that task already in the log, so a resumed run continues its sequence), appends every
event to ``events.jsonl`` and hands it to any sinks (the relay publisher). The relay de-duplicates by
``seq``, which is what makes resending after a reconnect safe. The envelope, its JSON text and the
log's reader are the protocol's: :mod:`qlop.live.protocol`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from qlop.live.protocol import TASK_ID_RULE, encode, last_seq, make_event, valid_task_id

Sink = Callable[[dict[str, Any], str], None]


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
            raise ValueError(f"task id {task_id!r}: {TASK_ID_RULE}")
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
