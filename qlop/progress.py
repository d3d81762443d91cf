"""One progress API for every stage: ``with stage_progress("train", total=n, unit="fold") as p: p.advance()``.

Stages only call this API. Listeners turn the calls into a terminal progress bar and into live
``progress``/``status`` events (see :mod:`qlop.live`); with no listener it costs next to nothing.

Progress calls are also a run's *safe points*: a stop requested with :func:`request_stop` (the CLI does
this on the first Ctrl-C or SIGTERM) is raised at the next ``advance`` or stage start. Raising an
interrupt asynchronously is not safe: it can land inside a library's native callback (XGBoost's data
iterator swallows it there, or worse), so the CLI only interrupts immediately on a second signal.
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
_stop_request: BaseException | None = None


def request_stop(error: BaseException) -> None:
    """Ask the running stage to stop: ``error`` is raised at the next safe point in the main thread."""
    global _stop_request
    _stop_request = error


def clear_stop() -> None:
    global _stop_request
    _stop_request = None


def stop_requested() -> BaseException | None:
    return _stop_request


def check_stop() -> None:
    """Raise the requested stop, if any (only in the main thread: workers just finish their item)."""
    error = _stop_request
    if error is not None and threading.current_thread() is threading.main_thread():
        clear_stop()
        raise error


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
        if _stop_request is not None:
            check_stop()

    def set_total(self, total: int) -> None:
        self.total = total


@contextlib.contextmanager
def stage_progress(stage: str, total: int | None = None, unit: str = "step") -> Iterator[StageProgress]:
    """Report a stage's progress: a ``start`` update, ``advance`` calls, then an ``end`` update."""
    check_stop()
    handle = StageProgress(stage, total, unit)
    _emit(handle._update("start"))
    try:
        yield handle
    except BaseException as exc:
        _emit(handle._update("end", message=str(exc), ok=False))
        raise
    _emit(handle._update("end"))
