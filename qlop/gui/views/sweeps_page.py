"""Sweeps page: launch a sweep from a base config and axes, watch its variants complete, open any of them.

Without ``?sweep=NAME`` the page offers the launch form (the base is a finished run's config or a
pasted/uploaded one; one axis per line, ``dotted.path = [values]``; grid or random; local workers) and
lists the sweeps under the runs folder. Every variant is validated before the launch button is enabled,
with the messages ``qlop sweep`` prints. The launch starts an ordinary ``qlop sweep`` streaming to the
relay under a new task id, into ``<runs_dir>/sweeps/NAME``.

With ``?sweep=NAME`` it watches that sweep: a grid over the first two axes that fills in as variants
complete, a table of every variant, and a link to any finished variant's run page. The state comes
from the sweep's events (relay, else its ``events.jsonl``) over its ``sweep.json``; the page polls
only while the sweep runs.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import streamlit as st

from qlop.errors import QlopError
from qlop.gui import sweeps

POLL_SECONDS = 1.0
#: The axes offered in a fresh form (the quickstart's leverage and entry threshold).
DEFAULT_AXES = "label.label_params.leverage = [1.5, 2.0]\nbacktest.strategy_params.entry = [0.52, 0.55]"
STATUS_ICONS = {
    "completed": ":material/check_circle:",
    "some_failed": ":material/error:",
    "failed": ":material/error:",
    "interrupted": ":material/cancel:",
    "running": ":material/pending:",
    "starting": ":material/hourglass_top:",
}


def _runs_dir() -> Path:
    from qlop.gui.settings import settings

    return settings().runs_dir


# -- launching ------------------------------------------------------------------------------------


def base_config(errors: list[str]) -> dict[str, Any] | None:
    """The base config's data: a finished run's resolved config, or a pasted/uploaded one (validated)."""
    from qlop.artifacts import read_json
    from qlop.gui.configs import FORMATS, format_of, validate_data, validate_text
    from qlop.layout import RunLayout
    from qlop.runs import list_runs

    mode = st.radio("Base config", ["From a run", "Paste or upload"], horizontal=True, key="sweep_base_mode")
    try:
        if mode == "From a run":
            runs = {r.run_id: r for r in list_runs(_runs_dir()) if RunLayout(r.run_dir).config.is_file()}
            if not runs:
                st.info("No run with a config under the runs folder yet: paste or upload a base config.")
                return None
            choice = st.selectbox(
                "Run", list(runs), key="sweep_base_run", format_func=lambda n: f"{n} ({runs[n].name or '-'})"
            )
            data = read_json(RunLayout(runs[choice].run_dir).config) or {}
            config = validate_data(data, f"run {choice}: {RunLayout.CONFIG}")
        else:
            upload = st.file_uploader("Upload a base config", type=["toml", "json", "yaml", "yml"], key="sweep_upload")
            if upload is not None:
                text, fmt, source = (
                    upload.getvalue().decode("utf-8", errors="replace"),
                    format_of(upload.name),
                    upload.name,
                )
            else:
                fmt = st.selectbox("Format", FORMATS, key="sweep_paste_format")
                text, source = (
                    st.text_area("Paste a base config", height=220, key="sweep_paste_text"),
                    "<pasted config>",
                )
            if not text:
                st.info("Paste a base config or upload a file.")
                return None
            config = validate_text(text, fmt, source)
    except QlopError as exc:
        errors.append(str(exc))
        return None
    data = config.model_dump(mode="json")
    data["runs_dir"] = str(_runs_dir())  # the trials ledger goes beside the GUI's runs
    return data


def parse_axes(text: str) -> list[tuple[str, str]]:
    """``path = [values]`` per non-empty line (``#`` starts a comment line)."""
    axes = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        path, eq, values = line.partition("=")
        if not eq:
            raise QlopError(f"axes line {n}: {line!r}: write dotted.path = [value, value, ...]")
        axes.append((path.strip(), values.strip()))
    return axes


def launch_form() -> None:
    errors: list[str] = []
    base = base_config(errors)
    top = st.columns([2, 1, 1])
    default_name = f"{(base or {}).get('name') or 'sweep'}-sweep"
    name = top[0].text_input(
        "Sweep name",
        value=default_name,
        key="sweep_name",
        help="Its folder: <runs folder>/sweeps/NAME (the same name again resumes it)",
    )
    mode = top[1].radio("Mode", ["grid", "random"], horizontal=True, key="sweep_mode")
    workers = int(
        top[2].number_input(
            "Local workers",
            min_value=1,
            max_value=256,
            value=os.cpu_count() or 1,
            step=1,
            key="sweep_workers",
            help="Dask worker processes, one thread each",
        )
    )
    samples, seed = None, 0
    if mode == "random":
        cols = st.columns(2)
        samples = int(cols[0].number_input("Samples", min_value=1, value=4, step=1, key="sweep_samples"))
        seed = int(cols[1].number_input("Seed", min_value=0, value=0, step=1, key="sweep_seed"))
    axes_text = st.text_area(
        "Axes: one per line, dotted.config.path = [values]", value=DEFAULT_AXES, height=120, key="sweep_axes"
    )
    sweep = data = None
    if base is not None and not errors:
        try:
            data = sweeps.sweep_data(base, parse_axes(axes_text), name=name, mode=mode, samples=samples, seed=seed)
            sweep = sweeps.check_sweep(data)
        except QlopError as exc:
            errors.append(str(exc))
    for message in errors:
        st.error(f"Error: {message}", icon=":material/error:")
    if sweep is not None:
        target = sweeps.sweep_dir(_runs_dir(), name)
        again = " (it exists: finished variants are kept, the rest run)" if target.exists() else ""
        st.success(
            f"{len(sweep.variants)} variant(s) valid; they go to {target}{again}", icon=":material/check_circle:"
        )
        with st.expander("Variants"):
            st.dataframe(
                [{"variant": v.id, **{p: sweeps.value_label(x) for p, x in v.values.items()}} for v in sweep.variants],
                hide_index=True,
                key="sweep_variants",
            )
    if st.button("Launch sweep", type="primary", disabled=sweep is None, key="sweep_launch"):
        launch(data, name, workers)


def launch(data: dict[str, Any], name: str, workers: int) -> None:
    """Write the sweep file, start ``qlop sweep`` streaming to the relay, and watch it."""
    from qlop.gui.app import page
    from qlop.gui.launcher import new_task_id, sweep_command
    from qlop.gui.settings import settings
    from qlop.gui.state import task_registry
    from qlop.layout import gui_launch_config

    cfg = settings()
    task_id = new_task_id()
    path = sweeps.write_sweep(data, gui_launch_config(cfg.runs_dir, task_id).with_suffix(".sweep.json"))
    target = sweeps.sweep_dir(cfg.runs_dir, name)
    command = sweep_command(path, target, task_id, cfg.ws_url, workers, cfg.run_args)
    task_registry().launch(path, target, cfg.ws_url, cfg.token, task_id=task_id, command=command, kind="sweep")
    st.switch_page(page("sweeps"), query_params={"sweep": name})


def sweep_list() -> None:
    from qlop.gui.app import page

    found = sweeps.list_sweeps(_runs_dir())
    st.subheader("Sweeps")
    if not found:
        st.info("No sweep under the runs folder yet.")
        return
    for s in found:
        counts = ", ".join(f"{n} {k}" for k, n in s.counts.items() if n)
        st.page_link(
            page("sweeps"),
            label=f"{s.name}: {s.status}, {s.n_variants} variants ({counts or '-'})",
            icon=STATUS_ICONS.get(s.status, ":material/grid_view:"),
            query_params={"sweep": s.name},
        )


# -- watching -------------------------------------------------------------------------------------


def _task_for(root: Path) -> Any:
    from qlop.gui.state import task_registry

    return next((t for t in task_registry().tasks("sweep") if Path(t.run_dir) == root), None)


def draw(view: sweeps.SweepView, name: str, root: Path, metric: str) -> None:
    """One poll's content: status, progress, the grid, the variants, and links to their run pages."""
    import pandas as pd

    from qlop.formatting import metric_label

    st.markdown(f"**Status:** `{view.status}`")
    total = max(1, view.total)
    st.progress(
        min(1.0, view.done / total),
        text=f"{view.done}/{view.total} variants done ({view.count('completed')} completed, "
        f"{view.count('failed')} failed, {view.count('running')} running)",
    )
    if view.error:
        st.error(view.error)
    shaped = sweeps.grid(view, metric)
    if shaped is not None:
        ra, ca, rlabels, clabels, cells = shaped
        st.markdown(
            f"**{metric_label(metric)}** by `{ra}` (rows) and `{ca}` (columns)"
            + (" - mean over the other axes" if len(view.axes) > 2 else "")
        )
        frame = pd.DataFrame(cells, index=pd.Index(rlabels, name=ra), columns=clabels)
        st.table(frame)  # a plain HTML table: small, and its cells are text a reader (or a test) can find
    st.markdown("**Variants**")
    st.dataframe(pd.DataFrame(sweeps.variant_table(view)), hide_index=True, key="sweep_table")
    finished = [v for v in view.variants if v.status == "completed" and v.run_dir]
    if finished:
        from qlop.gui.app import page

        labels = {
            v.id: f"{v.id}: " + ", ".join(f"{k}={sweeps.value_label(x)}" for k, x in v.values.items()) for v in finished
        }
        choice = st.selectbox("Open a variant's run", list(labels), format_func=labels.get, key="sweep_open")
        run_dir = Path(next(v.run_dir for v in finished if v.id == choice) or "")
        st.page_link(
            page("runs"),
            label=f"Open {choice}'s run page",
            icon=":material/insights:",
            query_params={"sweep": name, "run": run_dir.name},
        )


def watch(name: str) -> None:
    from qlop.formatting import metric_label
    from qlop.live.protocol import read_events, valid_task_id
    from qlop.scale.layout import SweepLayout

    root = sweeps.resolve_sweep(_runs_dir(), name)
    if root is None:
        st.error(f"Invalid sweep name in the URL: {name!r}")
        return
    layout = SweepLayout(root)
    task = _task_for(root)
    summary = sweeps.read_sweep_json(root)
    if task is None and summary is None:
        st.error(f"No sweep called {name!r} under {root.parent}")
        return
    st.header(name)
    st.caption(f"Sweep directory `{root}`")
    task_id = task.task_id if task is not None else (summary or {}).get("task_id")
    # polling while the launched process runs (or, for a sweep started elsewhere, while sweep.json says so)
    live = task.running if task is not None else (summary or {}).get("status") == "running"
    subscriber = None
    if live and task_id and valid_task_id(task_id):
        from qlop.gui.state import session_subscriber

        subscriber = session_subscriber(task_id)
    metric = st.selectbox("Grid metric", list(sweeps.SHOWN_METRICS), key="sweep_metric", format_func=metric_label)

    @st.fragment(run_every=POLL_SECONDS if live else None)
    def panel() -> None:
        if subscriber is not None:
            snapshot = subscriber.snapshot()
            if not snapshot.connected or not snapshot.events:  # the relay may not have it: the sweep's own log
                subscriber.add_events(read_events(layout.events, task_id))
            events = subscriber.snapshot().events
        else:
            events = read_events(layout.events, task_id) if task_id else read_events(layout.events)
        view = sweeps.sweep_view(sweeps.read_sweep_json(root), events)
        process_ended = task is not None and not task.running
        if task is not None and task.running and not task.cancel_requested and not view.finished:
            if st.button(
                "Cancel sweep",
                key="sweep_cancel",
                icon=":material/stop_circle:",
                help="Stop the sweep cleanly (finished variants are kept; launching it again resumes)",
            ):
                threading.Thread(target=task.cancel, name=f"qlop-cancel-{task.task_id[:8]}", daemon=True).start()
                task.cancel_requested = True
        draw(view, name, root, metric)
        if process_ended and task.returncode not in (0, None) and not view.finished:
            from qlop.gui.views.live_page import console_tail

            st.error(f"qlop sweep exited with code {task.returncode}")
            st.code(console_tail(task) or "(empty)", language=None)
        if view.finished and layout.report.is_file():
            st.download_button(
                "Sweep report (HTML)",
                layout.report.read_bytes(),
                file_name=f"{name}-report.html",
                mime="text/html",
                key="sweep_report",
                on_click="ignore",
                icon=":material/download:",
            )
        if live and (view.finished or process_ended):
            if subscriber is not None:
                subscriber.stop()
            st.rerun()  # a full rerun redefines the fragment without run_every: polling stops

    panel()


def render() -> None:
    st.title("Sweeps")
    name = st.query_params.get("sweep")
    if name:
        from qlop.gui.app import page

        st.page_link(page("sweeps"), label="All sweeps and a new one", icon=":material/arrow_back:")
        watch(name)
        return
    launch_form()
    st.divider()
    sweep_list()
