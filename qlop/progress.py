"""One progress API for every stage: ``with stage_progress("train", total=n, unit="fold") as p: p.advance()``.

Stages only call this API. Listeners turn the calls into a terminal progress bar and into live
``progress``/``status`` events (see :mod:`qlop.live`); with no listener it costs next to nothing.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

Listener = Callable[["ProgressUpdate"], None]

_listeners: list[Listener] = []
_lock = threading.Lock()


@dataclass
class ProgressUpdate:
    """A snapshot of one stage's progress; ``kind`` is ``start``, ``advance`` or ``end``."""

    kind: str
    stage: str
    step: int
    total: int | None
    unit: str
    started: float
    message: str | None = None
    ok: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def eta_seconds(self) -> float | None:
        """Linear estimate of the time left in this stage."""
        if not self.total or self.step <= 0:
            return None
        return max(0.0, self.elapsed * (self.total - self.step) / self.step)


def add_listener(listener: Listener) -> None:
    with _lock:
        _listeners.append(listener)


def remove_listener(listener: Listener) -> None:
    with _lock:
        if listener in _listeners:
            _listeners.remove(listener)


def _emit(update: ProgressUpdate) -> None:
    for listener in list(_listeners):
        listener(update)


class StageProgress:
    """Handle returned by :func:`stage_progress`; ``advance`` is cheap enough for per-item calls."""

    def __init__(self, stage: str, total: int | None, unit: str) -> None:
        self.stage, self.total, self.unit = stage, total, unit
        self.step = 0
        self.started = time.monotonic()

    def _update(self, kind: str, message: str | None = None, ok: bool = True, **extra: Any) -> ProgressUpdate:
        return ProgressUpdate(kind, self.stage, self.step, self.total, self.unit, self.started, message, ok, extra)

    def advance(self, n: int = 1, message: str | None = None, **extra: Any) -> None:
        self.step += n
        if _listeners:
            _emit(self._update("advance", message, **extra))

    def set_total(self, total: int) -> None:
        self.total = total


@contextlib.contextmanager
def stage_progress(stage: str, total: int | None = None, unit: str = "step") -> Iterator[StageProgress]:
    """Report a stage's progress: a ``start`` update, ``advance`` calls, then an ``end`` update."""
    handle = StageProgress(stage, total, unit)
    _emit(handle._update("start"))
    try:
        yield handle
    except BaseException as exc:
        _emit(handle._update("end", message=str(exc), ok=False))
        raise
    _emit(handle._update("end"))
