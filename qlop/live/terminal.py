"""The terminal view of a run on stderr: a rich progress bar per stage on a TTY, one line per stage.

On a TTY, stage lines and warnings are printed above the live bars; elsewhere (pipes, CI, tests) there
are no bars, only the stage lines, so logs stay readable.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

from qlop.progress import ProgressUpdate


def _fmt_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m{secs:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


class TerminalView:
    """Stage lines always; live bars only when ``stream`` is a TTY."""

    def __init__(self, stream: TextIO | None = None, live: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.live = bool(self.stream.isatty()) if live is None else live
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}
        self._console: Any = None
        if self.live:
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn,
                                       TimeElapsedColumn, TimeRemainingColumn)

            self._console = Console(file=self.stream, stderr=self.stream is sys.stderr)
            self._progress = Progress(SpinnerColumn(), TextColumn("[bold]{task.description:<10}"),
                                      BarColumn(bar_width=24), MofNCompleteColumn(), TextColumn("{task.fields[unit]}"),
                                      TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                                      TextColumn("{task.fields[note]}"), console=self._console, transient=True,
                                      refresh_per_second=5)

    def start(self) -> None:
        if self._progress is not None:
            self._progress.start()

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()

    def line(self, text: str) -> None:
        if self._console is not None:
            self._console.print(text, markup=False, highlight=False)
        else:
            print(text, file=self.stream, flush=True)

    def on_progress(self, update: ProgressUpdate) -> None:
        if self._progress is None:
            return
        task = self._tasks.get(update.stage)
        if update.kind == "start" or task is None:
            task = self._progress.add_task(update.stage, total=update.total, unit=update.unit, note="")
            self._tasks[update.stage] = task
        note = (update.message or "")[:36]
        if update.kind == "end":
            self._progress.remove_task(task)
            self._tasks.pop(update.stage, None)
            return
        self._progress.update(task, completed=update.step, total=update.total, note=note)

    def log_handler(self) -> logging.Handler:
        """Warnings and errors of the ``qlop`` logger, printed without tearing the bars."""
        view = self

        class _Handler(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                try:
                    view.line(f"{record.levelname.lower()}: {record.getMessage()}")
                except Exception:  # noqa: BLE001
                    self.handleError(record)

        return _Handler(logging.WARNING)
