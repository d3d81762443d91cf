"""Live run page: one overall bar with the run's ETA, a row per stage, the log, and the outcome.

The numbers come from the one progress model (:mod:`qlop.live.progress_model`): the overall fraction
and the ETA are the run's own figures carried forward between events at the pace the ETA implies
(:meth:`RunState.at`), so the bar moves smoothly and agrees with ``qlop run`` and ``qlop ws tail``;
each stage row shows its counter (``3/8 fold``), never a second ETA. The log follows the newest line
unless paused. A finished run shows its three-part answer and headline metrics in place; a failed run
shows its error and the stage it failed in.

The task id is in the URL (``?task=<id>``), so a reload or a second tab re-attaches; its subscriber
starts from the first event, so the whole log is replayed. The fragment polls only while the task is
active and does one last full rerun when the final status arrives, which stops the polling.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import streamlit as st

from qlop.formatting import duration
from qlop.gui.live import LiveView, format_eta, summarize
from qlop.layout import RunLayout
from qlop.live.protocol import TASK_ID_RULE, read_events, valid_task_id

POLL_SECONDS = 0.5
#: The log panel shows at most this many lines (each poll resends it); the rest stays in events.jsonl.
MAX_LOG_LINES = 3000
#: Height of the log panel in pixels (it scrolls; while following, it stays at the newest line).
LOG_HEIGHT = 360
#: After the run process exits without a final status reaching us, wait this long for the relay
#: before falling back to the run's own ``events.jsonl``.
FALLBACK_AFTER = 3.0

STATE_WORDS = {
    "completed": "done",
    "cached": "cached",
    "skipped": "skipped",
    "pending": "waiting",
    "failed": "failed",
    "interrupted": "interrupted",
}


def console_tail(task: Any, lines: int = 30) -> str:
    try:
        text = Path(task.log_path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def stage_text(stage: Any) -> str:
    """One stage row's words: name, counter and what it is doing, or how it ended."""
    name = f"\u21b3 {stage.name.partition('.')[2]}" if stage.is_sub else stage.name
    parts = [name]
    if stage.counter:
        parts.append(stage.counter)
    if stage.state == "running":
        if stage.message and not stage.is_sub:
            parts.append(stage.message)
    else:
        word = STATE_WORDS.get(stage.state, stage.state)
        parts.append(f"{word} in {duration(stage.seconds)}" if stage.seconds is not None and word == "done" else word)
    return " \u00b7 ".join(parts)


def headline_text(view: LiveView, status: str, now: float | None = None) -> tuple[float, str]:
    """(overall fraction, the line over the bar): status, percentage and the one ETA."""
    fraction, eta = view.at(now)
    text = f"Overall {fraction:.0%}"
    if not view.finished:
        text += f" \u00b7 {format_eta(eta)}"
    elif view.seconds is not None:
        text += f" \u00b7 {status} in {duration(view.seconds)}"
    return min(1.0, fraction), text


def draw_progress(view: LiveView, status: str) -> None:
    st.markdown(f"**Status:** `{status}`")
    fraction, text = headline_text(view, status)
    st.progress(fraction, text=text)
    for stage in view.ordered_stages():
        st.progress(stage.fraction, text=stage_text(stage))


def draw_log(view: LiveView) -> None:
    """The log in a scrolling panel that follows the newest line, unless paused."""
    state = st.session_state
    follow = st.toggle(
        "Follow the newest line",
        value=True,
        key="follow_log",
        help="Untick to pause the log where it is and read it; new lines are kept",
    )
    lines = view.log
    if follow:
        state.pop("log_paused_at", None)
    else:
        paused_at = state.setdefault("log_paused_at", len(lines))
        if len(lines) > paused_at:
            st.caption(
                f"Paused: {len(lines) - paused_at} newer lines are waiting; tick 'Follow the newest line' to see them."
            )
        lines = lines[:paused_at]
    if len(lines) > MAX_LOG_LINES:
        st.caption(f"Showing the last {MAX_LOG_LINES} of {len(lines)} log lines; all are in {RunLayout.EVENTS}.")
        lines = lines[-MAX_LOG_LINES:]
    with st.container(height=LOG_HEIGHT, autoscroll=follow, border=True, key="log_panel"):
        st.code("\n".join(lines) or "(no log yet)", language=None)
    st.caption(f"{view.n_events} events, last seq {view.last_seq}")


def draw_outcome(view: LiveView, task: Any, run_dir: Path | None) -> None:
    """A finished run's answer and headline metrics; a failed or cancelled one's error and stage (and
    no link to results it did not make)."""
    if not view.finished:
        return
    if view.status == "completed":
        answer_and_metrics(run_dir)
        return
    if view.status == "cancelled":
        st.warning(
            "The run was cancelled" + (f" during stage **{view.failed_stage}**." if view.failed_stage else "."),
            icon=":material/cancel:",
        )
    else:
        where = f"in stage **{view.failed_stage}**" if view.failed_stage else "before any stage finished"
        st.error(f"The run failed {where}: {view.error or 'no error message was recorded'}", icon=":material/error:")


def draw_console(view: LiveView, task: Any) -> None:
    """What a run that exited with an error printed (under the log)."""
    if view.finished and task is not None and task.returncode not in (None, 0):
        with st.expander("Console output of the run"):
            st.code(console_tail(task) or "(empty)", language=None)


def answer_and_metrics(run_dir: Path | None) -> None:
    """The run's three-part answer and headline metrics (the Runs page has the rest)."""
    from qlop.answer import answer_lines
    from qlop.gui import results

    if run_dir is None or not RunLayout(run_dir).is_run():
        st.success("The run completed.", icon=":material/check_circle:")
        return
    lines = answer_lines(run_dir)
    st.subheader("The answer")
    if lines:
        st.markdown("\n".join(f"{i}. {line}" for i, line in enumerate(lines, 1)))
        st.caption("Out of sample, after leverage, margin, financing and costs.")
    from qlop.gui.views.runs_page import headline_metrics

    headline_metrics(results.headline(run_dir) or [])
    from qlop.gui.app import page

    st.page_link(page("runs"), label="Open the results", icon=":material/insights:", query_params={"run": run_dir.name})


def folded(task_id: str, events: list[dict[str, Any]]) -> LiveView:
    """This session's state of the task, with the events that arrived since the last poll folded in
    (the subscriber's buffer only grows), so the bar it draws never goes back."""
    key = f"qlop_live_{task_id}"
    view, n = st.session_state.get(key) or (summarize([]), 0)
    if n > len(events):
        view, n = summarize([]), 0
    for event in events[n:]:
        view.apply(event)
    st.session_state[key] = (view, len(events))
    return view


def _process_finished_without_status(task: Any, finished: bool) -> bool:
    if task is None or finished or task.running:
        return False
    ended = task.ended_at
    if ended is None:
        task.ended_at = ended = time.time()
    return time.time() - ended >= FALLBACK_AFTER


def live_panel(task_id: str, subscriber: Any, task: Any) -> None:
    active = not subscriber.finished

    @st.fragment(run_every=POLL_SECONDS if active else None)
    def panel() -> None:
        done = subscriber.finished
        if _process_finished_without_status(task, done):
            subscriber.add_events(read_events(RunLayout(task.run_dir).events, task_id))
            done = True
        elif task is None and not done and not subscriber.snapshot().events:
            # not launched by this server (it restarted?): the run's own event log may have it all
            from qlop.gui.launcher import find_run_dir
            from qlop.gui.settings import settings

            found = find_run_dir(settings().runs_dir, task_id)
            if found is not None:
                subscriber.add_events(read_events(RunLayout(found).events, task_id))
                done = subscriber.finished
        snapshot = subscriber.snapshot()
        view = folded(task_id, snapshot.events)
        if done and not view.finished and task is not None:
            view.finished = True
            view.status = "cancelled" if task.cancel_requested else "failed"
            view.error = view.error or f"qlop run exited with code {task.returncode}"
        if snapshot.error and not snapshot.connected and not view.finished:
            st.warning(snapshot.error)
        status = view.status
        if task is not None and task.cancel_requested and not view.finished:
            status = "cancelling"
        if task is not None and task.running and not task.cancel_requested and not view.finished:
            if st.button(
                "Cancel run",
                key="cancel",
                icon=":material/stop_circle:",
                help="Stop the run cleanly: SIGINT, then SIGTERM",
            ):
                threading.Thread(target=task.cancel, name=f"qlop-cancel-{task_id[:8]}", daemon=True).start()
                task.cancel_requested = True
        draw_progress(view, status)
        run_dir = Path(task.run_dir) if task is not None else (Path(view.run_dir) if view.run_dir else None)
        draw_outcome(view, task, run_dir)
        draw_log(view)
        draw_console(view, task)
        if active and done:
            subscriber.stop()
            st.rerun()  # a full rerun redefines the fragment without run_every: polling stops

    panel()


def task_list() -> None:
    from qlop.gui.app import page
    from qlop.gui.state import task_registry

    tasks = task_registry().tasks()
    if not tasks:
        st.info("No run launched from this GUI yet. Start one on the New run page.")
        return
    for task in tasks:
        state = "running" if task.running else f"exited {task.returncode}"
        st.page_link(page("live"), label=f"{task.run_dir.name} ({state})", query_params={"task": task.task_id})


def render() -> None:
    from qlop.gui.state import session_subscriber, task_registry

    st.title("Live run")
    task_id = st.query_params.get("task")
    if not task_id:
        task_list()
        return
    if not valid_task_id(task_id):
        st.error(f"Invalid task id in the URL ({TASK_ID_RULE}).")
        return
    task = task_registry().get(task_id)
    subscriber = session_subscriber(task_id)
    st.markdown(f"Task `{task_id}`" + (f" - run directory `{task.run_dir}`" if task else ""))
    live_panel(task_id, subscriber, task)
