"""``qlop ws tail --format pretty``: a task's events drawn as bars with log lines, in a terminal.

The events are folded by the one progress model (:class:`~qlop.live.progress_model.RunState`) and
drawn by the renderer ``qlop run`` uses (:func:`~qlop.live.terminal.render_state`), so the
percentage, the ETAs and the counters are those of the run's own terminal and of the GUI.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TextIO

from qlop.formatting import duration
from qlop.live.progress_model import RunState, SweepState
from qlop.live.terminal import render_state, render_sweep


def outcome_line(state: RunState, task_id: str) -> str:
    """The last line: how the run ended, where its results are, or what failed and in which stage."""
    where = f": {state.run_dir}" if state.run_dir else ""
    took = f" in {duration(state.seconds)}" if state.seconds is not None else ""
    if state.status == "completed":
        return f"{task_id} completed{took}{where}"
    stage = f" in stage {state.failed_stage}" if state.failed_stage else ""
    error = f": {state.error}" if state.error else ""
    return f"{task_id} {state.status}{stage}{took}{error}"


def sweep_outcome_line(state: SweepState, task_id: str) -> str:
    """The last line of a sweep: how many variants completed and failed, and where the results are."""
    sweep = state.sweep
    took = f" in {duration(sweep.seconds)}" if sweep.seconds is not None else ""
    counts = f"{state.count('completed')} of {state.total or len(state.variants)} variants completed"
    failed = f", {state.count('failed')} failed" if state.count("failed") else ""
    error = f": {sweep.error}" if sweep.status != "completed" and sweep.error else ""
    return f"{task_id} {sweep.status}{took}: {counts}{failed}{error}"


def tail_pretty(events: Iterable[Mapping[str, Any]], task_id: str, file: TextIO | None = None) -> RunState | SweepState:
    """Print each log, status, artefact and metric line as it arrives, with the bars redrawn below
    them (in place on a terminal; drawn once at the end elsewhere); returns the final state.

    A sweep (its events carry a ``variant``) is drawn as the sweep's bar and one row per variant, and
    each line names its variant."""
    import threading

    from rich.console import Console
    from rich.live import Live

    console = Console(file=file, highlight=False, soft_wrap=False)
    state: RunState | SweepState | None = None
    lock = threading.Lock()  # the bars are redrawn from rich's refresh thread

    def draw() -> Any:
        with lock:
            if isinstance(state, SweepState):
                return render_sweep(state)
            return render_state(state or RunState())

    with Live(
        console=console,
        refresh_per_second=5,
        get_renderable=draw,
        transient=False,
        redirect_stdout=False,
        redirect_stderr=False,
    ):
        for event in events:
            with lock:
                if state is None:
                    state = SweepState() if "variant" in (event.get("payload") or {}) else RunState()
                line = state.apply(event)
            if line is not None:
                console.print(line, markup=False)
    state = state or RunState()
    if state.finished:
        last = sweep_outcome_line(state, task_id) if isinstance(state, SweepState) else outcome_line(state, task_id)
        console.print(last, markup=False, style="bold")
    return state
