"""Drawing a run's progress in a terminal: ``qlop run`` (on stderr) and ``qlop ws tail --format pretty``.

Both draw a :class:`~qlop.live.progress_model.RunState` folded from the run's events, so the overall
percentage, the ETAs and the ``3/10 fold`` counters are the ones the events and the GUI carry. On a
TTY the bars are redrawn in place (rich) and lines are printed above them; elsewhere (pipes, CI, tests)
there are no bars, only the lines, so logs stay readable.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Mapping
from typing import Any, TextIO

from qlop.formatting import duration
from qlop.live.progress_model import RunState, StageState, SweepState

#: Width of a drawn bar, in cells.
BAR_WIDTH = 24
#: Characters of a stage's note (its last message) shown beside its bar.
NOTE_WIDTH = 44


def format_seconds(seconds: float | None) -> str:
    """A duration in the one number style (``4.2s``, ``1m05s``, ``1h02m``); ``?`` when unknown."""
    return "?" if seconds is None else duration(seconds)


def _stage_eta(stage: StageState) -> str:
    if stage.state == "running":
        return f"eta {format_seconds(stage.eta)}" if stage.eta is not None else ""
    if stage.state == "completed" and stage.seconds is not None:
        return f"done in {format_seconds(stage.seconds)}"
    return stage.state


def render_state(state: RunState) -> Any:
    """The overall bar and one bar per stage (running sub-progress indented below its stage)."""
    from rich.progress_bar import ProgressBar
    from rich.table import Table
    from rich.text import Text

    grid = Table.grid(padding=(0, 1))
    for _ in range(5):
        grid.add_column()
    if not state.stages and not state.n_events:
        return Text("waiting for the run's first event...", style="dim")
    eta = "" if state.finished else f"eta {format_seconds(state.eta)}"
    grid.add_row(
        Text("run", style="bold"),
        ProgressBar(total=1.0, completed=state.overall, width=BAR_WIDTH),
        Text(f"{state.overall:>4.0%}"),
        Text(eta),
        Text(state.status, style="bold"),
    )
    for stage in state.ordered_stages():
        if stage.is_sub and stage.state != "running":
            continue
        name = f"  \u21b3 {stage.name.partition('.')[2]}" if stage.is_sub else stage.name
        style = "red" if stage.state in ("failed", "interrupted") else "dim" if stage.state == "pending" else ""
        note = (stage.message or "")[:NOTE_WIDTH] if stage.state == "running" else ""
        grid.add_row(
            Text(name, style=style),
            ProgressBar(total=1.0, completed=stage.fraction, width=BAR_WIDTH),
            Text(stage.counter),
            Text(_stage_eta(stage), style=style),
            Text(note, style="dim"),
        )
    return grid


#: Variant rows a sweep view draws at most (running ones first, then the latest finished).
SWEEP_ROWS = 12


def render_sweep(state: SweepState) -> Any:
    """The sweep's bar (variants finished of all), then a row per running variant: its current stage,
    that stage's bar and counter; finished ones show their status and Sharpe."""
    from rich.progress_bar import ProgressBar
    from rich.table import Table
    from rich.text import Text

    from qlop.formatting import format_metric

    grid = Table.grid(padding=(0, 1))
    for _ in range(5):
        grid.add_column()
    if not state.sweep.n_events:
        return Text("waiting for the sweep's first event...", style="dim")
    done = state.count("completed") + state.count("failed")
    total = state.total or len(state.variants) or 1
    summary = f"{state.count('completed')} completed, {state.count('failed')} failed, {total - done} to go"
    grid.add_row(
        Text("sweep", style="bold"),
        ProgressBar(total=1.0, completed=done / total, width=BAR_WIDTH),
        Text(f"{done}/{total}"),
        Text(summary),
        Text(state.sweep.status, style="bold"),
    )
    running = [(n, v) for n, v in state.variants.items() if not v.finished and v.n_events]
    ended = [(n, v) for n, v in state.variants.items() if v.finished]
    for name, variant in (running + ended[::-1])[:SWEEP_ROWS]:
        stages = [s for s in variant.ordered_stages() if not s.is_sub]
        current = next((s for s in reversed(stages) if s.state == "running"), stages[-1] if stages else None)
        if variant.finished:
            note = (
                f"Sharpe {format_metric('sharpe', variant.metrics.get('sharpe'))}"
                if variant.status == "completed"
                else (variant.error or "")
            )[:NOTE_WIDTH]
            style = "red" if variant.status == "failed" else ""
            grid.add_row(
                Text(name, style=style),
                ProgressBar(total=1.0, completed=variant.overall, width=BAR_WIDTH),
                Text(""),
                Text(variant.status, style=style),
                Text(note, style="dim"),
            )
        elif current is not None:
            grid.add_row(
                Text(name),
                ProgressBar(total=1.0, completed=current.fraction, width=BAR_WIDTH),
                Text(current.counter),
                Text(f"{current.name} {_stage_eta(current)}"),
                Text((current.message or "")[:NOTE_WIDTH], style="dim"),
            )
    return grid


class TerminalView:
    """Stage lines always; live bars (drawn from the run's events) only when ``stream`` is a TTY."""

    def __init__(self, stream: TextIO | None = None, live: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.live = bool(self.stream.isatty()) if live is None else live
        self.state = RunState()
        self._lock = threading.Lock()
        self._live: Any = None
        self._console: Any = None
        if self.live:
            from rich.console import Console
            from rich.live import Live

            self._console = Console(file=self.stream, stderr=self.stream is sys.stderr)
            self._live = Live(
                console=self._console,
                transient=True,
                refresh_per_second=5,
                get_renderable=self._render,
                redirect_stdout=False,
                redirect_stderr=False,
            )

    def _render(self) -> Any:
        with self._lock:
            return render_state(self.state)

    def start(self) -> None:
        if self._live is not None:
            self._live.start()

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()

    def line(self, text: str) -> None:
        if self._console is not None:
            self._console.print(text, markup=False, highlight=False)
        else:
            print(text, file=self.stream, flush=True)

    def on_event(self, event: Mapping[str, Any]) -> None:
        """Fold one of the run's events into what the bars show."""
        with self._lock:
            self.state.apply(event)

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
