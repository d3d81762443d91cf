"""Live run page: progress bars with ETA, status and the streaming log of one task.

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

from qlop.gui.live import LiveView, format_eta, summarize
from qlop.layout import RunLayout
from qlop.live.protocol import TASK_ID_RULE, read_events, valid_task_id

POLL_SECONDS = 0.5
#: The log panel shows at most this many lines (each poll resends it); the rest stays in events.jsonl.
MAX_LOG_LINES = 3000
#: After the run process exits without a final status reaching us, wait this long for the relay
#: before falling back to the run's own ``events.jsonl``.
FALLBACK_AFTER = 3.0

STATUS_ICONS = {"completed": ":material/check_circle:", "failed": ":material/error:",
                "cancelled": ":material/cancel:", "running": ":material/pending:",
                "waiting": ":material/hourglass_top:"}


def console_tail(task: Any, lines: int = 30) -> str:
    try:
        text = Path(task.log_path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def ordered_stages(view: LiveView) -> list[Any]:
    """Pipeline stages in run order, each followed by its sub-steps (``train.rounds``); skipped ones hidden."""
    order: dict[str, int] = {}
    for name in view.stages:
        order.setdefault(name.partition(".")[0], len(order))
    shown = [s for s in view.stages.values() if s.state != "skipped"]
    return sorted(shown, key=lambda s: (order[s.name.partition(".")[0]], "." in s.name, s.name))


def draw(view: LiveView, task: Any) -> None:
    """The panel's content for one poll."""
    status = view.status
    if task is not None and task.cancel_requested and not view.finished:
        status = "cancelling"
    st.markdown(f"**Status:** `{status}`  {format_eta(view.eta) if not view.finished else ''}")
    st.progress(min(1.0, view.overall), text=f"Overall {view.overall:.0%}")
    for stage in ordered_stages(view):
        total = f"/{stage.total}" if stage.total else ""
        eta = format_eta(stage.eta) if stage.state == "running" else stage.state
        parent, _, sub = stage.name.partition(".")
        label = f"\u21b3 {sub}" if sub else stage.name
        st.progress(stage.fraction, text=f"{label}: {stage.step}{total} {stage.unit} - {eta}")
    if view.error:
        st.error(view.error)
    st.caption(f"{view.n_events} events, last seq {view.last_seq}")
    lines = view.log
    if len(lines) > MAX_LOG_LINES:
        st.caption(f"Showing the last {MAX_LOG_LINES} of {len(lines)} log lines; all are in {RunLayout.EVENTS}.")
        lines = lines[-MAX_LOG_LINES:]
    st.code("\n".join(lines) or "(no log yet)", language=None, height=320)


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

            run_dir = find_run_dir(settings().runs_dir, task_id)
            if run_dir is not None:
                subscriber.add_events(read_events(RunLayout(run_dir).events, task_id))
                done = subscriber.finished
        snapshot = subscriber.snapshot()
        view = summarize(snapshot.events)
        if done and not view.finished and task is not None:
            view.finished = True
            view.status = "cancelled" if task.cancel_requested else "failed"
            view.error = view.error or f"qlop run exited with code {task.returncode}"
        if snapshot.error and not snapshot.connected and not view.finished:
            st.warning(snapshot.error)
        if task is not None and task.running and not task.cancel_requested and not view.finished:
            if st.button("Cancel run", key="cancel", icon=":material/stop_circle:",
                         help="Stop the run cleanly: SIGINT, then SIGTERM"):
                threading.Thread(target=task.cancel, name=f"qlop-cancel-{task_id[:8]}", daemon=True).start()
                task.cancel_requested = True
        draw(view, task)
        if view.finished and task is not None and task.returncode not in (None, 0):
            with st.expander("Console output of the run"):
                st.code(console_tail(task) or "(empty)", language=None)
        if view.finished and task is not None and RunLayout(task.run_dir).is_run():
            from qlop.gui.app import page

            st.page_link(page("runs"), label="Open the results", icon=":material/insights:",
                         query_params={"run": Path(task.run_dir).name})
        if active and done:
            subscriber.stop()
            st.rerun()  # a full rerun redefines the fragment without run_every: polling stops

    panel()


def task_list() -> None:
    from qlop.gui.app import page
    from qlop.gui.state import task_registry

    tasks = task_registry().tasks("run")  # sweeps are watched on the Sweeps page
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
