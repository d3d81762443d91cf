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
    #: Work the stage does besides the counted items (the final model after the folds): it weighs in
    #: the stage's fraction and ETA, never in the ``step/total`` counter a person reads.
    extra_total: int = 0
    extra_done: int = 0

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def fraction(self) -> float | None:
        """Share of the stage's work done (counted items and extra work), None without a total."""
        if self.kind == "end":
            return 1.0
        work_total = (self.total or 0) + self.extra_total
        if not self.total or not work_total:
            return None
        return max(0.0, min(1.0, (self.step + self.extra_done) / work_total))

    @property
    def eta_seconds(self) -> float | None:
        """Linear estimate of the time left in this stage (over all its work, extra work included)."""
        fraction = self.fraction
        if fraction is None or fraction <= 0:
            return None
        return max(0.0, self.elapsed * (1.0 - fraction) / fraction)


def add_listener(listener: Listener) -> None:
    """Send every progress update to ``listener`` (the terminal bar, live events, or a test's list)."""
    with _lock:
        _listeners.append(listener)


def remove_listener(listener: Listener) -> None:
    """Stop sending updates to ``listener``; a listener that was never added is ignored."""
    with _lock:
        if listener in _listeners:
            _listeners.remove(listener)


def _emit(update: ProgressUpdate) -> None:
    for listener in list(_listeners):
        listener(update)


class StageProgress:
    """Handle returned by :func:`stage_progress`; ``advance`` is cheap enough for per-item calls."""

    def __init__(self, stage: str, total: int | None, unit: str, extra_work: int = 0) -> None:
        self.stage, self.total, self.unit = stage, total, unit
        self.step = 0
        self.extra_total, self.extra_done = extra_work, 0
        self.started = time.monotonic()

    def _update(self, kind: str, message: str | None = None, ok: bool = True, **extra: Any) -> ProgressUpdate:
        return ProgressUpdate(
            kind,
            self.stage,
            self.step,
            self.total,
            self.unit,
            self.started,
            message,
            ok,
            extra,
            self.extra_total,
            self.extra_done,
        )

    def advance(self, n: int = 1, message: str | None = None, **extra: Any) -> None:
        self.step += n
        if _listeners:
            _emit(self._update("advance", message, **extra))
        if _stop_request is not None:
            check_stop()

    def work(self, n: int = 1, message: str | None = None) -> None:
        """Finish ``n`` items of the stage's extra work (declared with ``extra_work``): the counter stays."""
        self.extra_done = min(self.extra_total, self.extra_done + n)
        self.advance(0, message)

    def set_total(self, total: int) -> None:
        self.total = total


@contextlib.contextmanager
def stage_progress(
    stage: str, total: int | None = None, unit: str = "step", extra_work: int = 0
) -> Iterator[StageProgress]:
    """Report a stage's progress: a ``start`` update, ``advance`` calls, then an ``end`` update.

    ``total`` counts what a person reads (``3/10 fold``); ``extra_work`` items (finished with
    :meth:`StageProgress.work`) count in the fraction and ETA only. A name with a dot
    (``train.rounds``) is a sub-progress of its stage: it refines the current item, never the count.
    """
    check_stop()
    handle = StageProgress(stage, total, unit, extra_work)
    _emit(handle._update("start"))
    try:
        yield handle
    except BaseException as exc:
        _emit(handle._update("end", message=str(exc), ok=False))
        raise
    _emit(handle._update("end"))
