"""Runs page: every run under the runs folder (newest first) and, for one run, its results."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

import streamlit as st

from qlop.artifacts import read_json
from qlop.formatting import counted
from qlop.gui import results
from qlop.layout import RunLayout, resolve_run
from qlop.runs import RunSummary, list_runs, load_manifest

if TYPE_CHECKING:
    from qlop.report_data import RunView


#: Headline figures per row (the benchmark's label names its ticker and kind: it needs the width).
HEADLINE_PER_ROW = 3


def _chart(fig: Any, key: str) -> None:
    """A figure as report.html draws it (:func:`qlop.report.style_figure`, the report's template)."""
    if fig is not None:
        from qlop.report import style_figure

        st.plotly_chart(style_figure(fig), key=key, theme=None, config={"displaylogo": False})


def run_table(runs: list[RunSummary]) -> None:
    import pandas as pd

    from qlop.formatting import timestamp

    rows = [
        {
            "run": r.run_id,
            "name": r.name or "",
            "status": r.status,
            "started (UTC)": timestamp(dt.datetime.fromtimestamp(r.started, dt.timezone.utc)),
            "stages": ", ".join(r.stages),
        }
        for r in runs
    ]
    st.dataframe(pd.DataFrame(rows), hide_index=True)


@st.cache_resource(max_entries=4, show_spinner="Reading the run...")
def _cached_view(run_dir: str, stamp: tuple[int, ...]) -> "RunView":
    """One view per run and version of its files, shared by reruns (filters, ticker choice)."""
    return results.view(Path(run_dir))


def section(key: str, note: str | None = None) -> None:
    """A section's heading and note, as report.html titles it (:data:`qlop.report_data.SECTIONS`)."""
    from qlop.report_data import SECTIONS

    heading, default = SECTIONS[key]
    st.subheader(heading, anchor=key)
    if note or (note is None and default):
        st.caption(note or default)


def _table(frame: Any, key: str | None = None, numeric: list[bool] | None = None) -> None:
    """A display table (strings in the one number style), whole, without the index, as in report.html,
    with the ``numeric`` columns right-aligned as there. st.table sets each cell's alignment inline and
    takes no column styles, so the table sits in a keyed container (class ``st-key-<key>``) whose
    style rule aligns those columns."""
    if key is None or not numeric or not any(numeric):
        st.table(frame, hide_index=True)
        return
    scope = f".st-key-qlop_table_{key} [data-testid='stTable']"
    cells = ", ".join(f"{scope} :is(td, th):nth-child({i})" for i, n in enumerate(numeric, 1) if n)
    with st.container(key=f"qlop_table_{key}"):
        st.html(f"<style>{cells} {{text-align: right !important; font-variant-numeric: tabular-nums}}</style>")
        st.table(frame, hide_index=True)


def _numeric_table(frame: Any, key: str, first_is_label: bool = True) -> None:
    """A display table with report.html's numeric columns (:func:`qlop.report.numeric_columns`)."""
    from qlop.report import numeric_columns

    _table(frame, key, numeric_columns(list(frame.columns), first_is_label))


#: The Metric / Value / Meaning tables: the value is the number.
METRIC_COLUMNS = [False, True, False]


def config_table(rows: list[tuple[str, str, str]]) -> Any:
    """The config summary with each section named once, as in report.html."""
    import pandas as pd

    shown, last = [], None
    for part, item, value in rows:
        shown.append({"Section": part if part != last else "", "Item": item, "Value": value})
        last = part
    return pd.DataFrame(shown)


def results_section(view: "RunView") -> None:
    """Every section report.html has, in its order, from the same view."""
    from qlop.report import (
        equity_figure,
        leverage_figure,
        monthly_figure,
        price_figure,
        probability_figure,
        trade_results_figure,
    )
    from qlop.report_data import display

    if view.answer:
        section("answer")
        st.markdown("\n".join(f"{i}. {line}" for i, line in enumerate(view.answer, 1)))
    if view.assumptions:
        st.markdown("**Assumptions:**")
        _table(pd_frame(view.assumptions, ["Assumption", "Value"]))
    headline_metrics(view.headline)
    if view.config_rows:
        section("config")
        _table(config_table(view.config_rows))
    if view.run.metrics is None:
        st.info("This run has no backtest results.")
    else:
        section("metrics")
        _table(pd_frame(view.metric_rows, ["Metric", "Value", "Meaning"]), "metrics", METRIC_COLUMNS)
    if view.equity is not None and view.drawdown is not None:
        section("equity")
        _chart(equity_figure(view.equity, view.drawdown), "equity")
    if view.probability is not None:
        section("probability", view.idle_note or None)
        _chart(probability_figure(view.probability, view.thresholds), "probability")
        if view.idle is not None:
            _numeric_table(display(view.idle), "idle")
    if view.folds is not None:
        section("folds")
        _numeric_table(display(view.folds), "folds", first_is_label=False)
    if view.labels is not None or view.pnl is not None:
        from qlop.report_data import SECTIONS

        section("per_ticker")
        for key, table in (("labels", view.labels), ("pnl", view.pnl)):
            if table is not None:
                heading, note = SECTIONS[key]
                st.markdown(f"**{heading}**")
                st.caption(note)
                _numeric_table(display(table), key)
    if view.price_tickers:
        section("prices")
        counts = view.pnl["trades"] if view.pnl is not None else {}
        ticker = st.selectbox(
            "Ticker",
            view.price_tickers,
            key="price_ticker",
            format_func=lambda t: f"{t} ({counted(counts.get(t, 0), 'trade')})",
        )
        _chart(price_figure([(ticker, view.prices(ticker))]), "prices")
    if view.monthly is not None:
        section("monthly")
        _chart(monthly_figure(view.monthly), "monthly")
    if view.leverage is not None:
        section("leverage")
        _chart(leverage_figure(view.leverage), "leverage")
    if view.trades is not None:
        section("trade_results")
        _chart(trade_results_figure(view.trades), "trade_results")
        trade_list_section(view.trades)


def headline_metrics(figures: list[tuple[str, str]]) -> None:
    """The headline figures as metrics, :data:`HEADLINE_PER_ROW` to a row so none is cut off (the
    Runs page and the Live page's finished run)."""
    for row in range(0, len(figures), HEADLINE_PER_ROW):
        for col, (label, value) in zip(st.columns(HEADLINE_PER_ROW), figures[row : row + HEADLINE_PER_ROW]):
            col.metric(label, value)


def pd_frame(rows: list[tuple[str, ...]], columns: list[str]) -> Any:
    import pandas as pd

    return pd.DataFrame(rows, columns=columns)


def trade_list_section(trades: Any) -> None:
    """Every trade, filtered by ticker, side and exit reason, in the one number style."""
    from qlop.report_data import EXIT_NAMES, display, trade_list

    st.markdown(f"**Trade list** ({counted(len(trades), 'trade')})")
    cols = st.columns(3)

    def choices(column: str) -> list[str]:
        return sorted(trades[column].dropna().astype(str).unique()) if column in trades.columns else []

    tickers = cols[0].multiselect("Ticker", choices("ticker"), key="f_ticker")
    sides = cols[1].multiselect("Side", choices("side"), key="f_side")
    reasons = cols[2].multiselect(
        "Exit reason", choices("exit_reason"), key="f_reason", format_func=lambda r: EXIT_NAMES.get(r, r)
    )
    shown = trade_list(results.filter_trades(trades, tickers, sides, reasons))
    st.dataframe(display(shown), hide_index=True, height=320, key="trades_table")


def model_section(run_dir: Path) -> None:
    """What only the GUI adds about the model: its overall out-of-sample metrics and feature importance."""
    importance = results.feature_importance(run_dir)
    overall = results.overall_model_metrics(run_dir)
    if importance is None and overall is None:
        return
    st.subheader("Model")
    if overall:
        from qlop.formatting import format_metric, metric_help, metric_label

        st.markdown("**Out-of-sample metrics**")
        _table(
            pd_frame(
                [(metric_label(k), format_metric(k, v), metric_help(k)) for k, v in overall.items()],
                ["Metric", "Value", "Meaning"],
            ),
            "model_metrics",
            METRIC_COLUMNS,
        )
    if importance is not None:
        _chart(results.importance_figure(importance), "importance")


def downloads_section(run_dir: Path) -> None:
    offers = results.downloads(run_dir)
    bundle = results.onnx_bundle_zip(run_dir)
    if not offers and bundle is None:
        return
    st.subheader("Downloads")
    cols = st.columns(4)
    i = 0
    for label, path, mime in offers:
        if path.suffix in (".html", ".parquet"):
            cols[i % 4].download_button(
                label,
                path.read_bytes(),
                file_name=path.name,
                mime=mime,
                key=f"dl_{label}",
                on_click="ignore",
                icon=":material/download:",
            )
            i += 1
    if bundle is not None:
        cols[i % 4].download_button(
            "ONNX bundle (zip)",
            bundle,
            file_name=f"{run_dir.name}-export.zip",
            mime="application/zip",
            key="dl_bundle",
            on_click="ignore",
            icon=":material/download:",
        )


def run_detail(run_dir: Path) -> None:
    layout = RunLayout(run_dir)
    read = load_manifest(run_dir)
    manifest = read.data or {}
    st.header(run_dir.name)
    try:
        view: RunView | None = _cached_view(str(run_dir), results.stamp(run_dir))
    except (OSError, ValueError, KeyError, TypeError) as exc:  # artefacts QLOP did not write this way
        view = None
        st.error(f"The results of {run_dir.name} cannot be shown: {type(exc).__name__}: {exc}")
    if view is not None and view.run.metrics is not None:
        st.caption(view.subtitle)
    if read.problem:  # a damaged manifest is reported, with what can still be shown
        st.error(f"{RunLayout.MANIFEST} {read.problem}")
    status = manifest.get("status", "unknown")
    if status != "completed":
        st.warning(f"Run status: {status}" + (f" - {manifest['error']}" if manifest.get("error") else ""))
    with st.expander("Manifest and config"):
        st.json(manifest, expanded=False)
        st.json(read_json(layout.config) or {}, expanded=False)
    downloads_section(run_dir)
    if view is not None:
        results_section(view)
    model_section(run_dir)


def runs_folder() -> Path | None:
    """The folder whose runs the page lists: the runs folder, or with ``?sweep=NAME`` that sweep's
    variant runs (``<runs_dir>/sweeps/NAME/runs``); None for a sweep name the URL must not carry."""
    from qlop.gui.settings import settings

    runs_dir = settings().runs_dir
    sweep = st.query_params.get("sweep")
    if not sweep:
        return runs_dir
    from qlop.gui.sweeps import resolve_sweep
    from qlop.scale.layout import SweepLayout

    root = resolve_sweep(runs_dir, sweep)
    if root is None:
        st.error(f"Invalid sweep name in the URL: {sweep!r}")
        return None
    from qlop.gui.app import page

    st.page_link(
        page("sweeps"),
        label=f"Variant runs of sweep {sweep}: back to the sweep",
        icon=":material/grid_view:",
        query_params={"sweep": sweep},
    )
    return SweepLayout(root).runs


def render() -> None:
    st.title("Runs")
    runs_dir = runs_folder()
    if runs_dir is None:
        return
    runs = list_runs(runs_dir)
    if not runs:
        st.info(f"No runs under {runs_dir} yet.")
        return
    names = [r.run_id for r in runs]
    wanted = st.query_params.get("run")
    index = names.index(wanted) if wanted in names else None
    choice = st.selectbox("Open run", names, index=index, placeholder="Choose a run", key="open_run")
    if choice and choice != wanted:
        st.query_params["run"] = choice
    if not choice:
        run_table(runs)
        return
    run_dir = resolve_run(runs_dir, choice)
    if run_dir is None:
        st.error(f"No run called {choice!r} under {runs_dir}")
        return
    run_detail(run_dir)
