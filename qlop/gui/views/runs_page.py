"""Runs page: every run under the runs folder (newest first) and, for one run, its results."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import streamlit as st

from qlop.artifacts import read_json
from qlop.gui import results
from qlop.layout import RunLayout, resolve_run
from qlop.runs import RunSummary, list_runs, load_manifest


def _chart(fig: Any, key: str) -> None:
    if fig is not None:
        st.plotly_chart(fig, key=key, config={"displaylogo": False})


def run_table(runs: list[RunSummary]) -> None:
    import pandas as pd

    rows = [
        {
            "run": r.run_id,
            "name": r.name or "",
            "status": r.status,
            "started (UTC)": dt.datetime.fromtimestamp(r.started, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
            "stages": ", ".join(r.stages),
        }
        for r in runs
    ]
    st.dataframe(pd.DataFrame(rows), hide_index=True)


def backtest_section(run_dir: Path) -> None:
    st.subheader("Backtest")
    metrics = results.metrics_table(run_dir)
    if metrics is None:
        st.info("This run has no backtest results.")
        return
    figures = results.headline(run_dir)
    if figures:
        for col, (label, value) in zip(st.columns(len(figures)), figures):
            col.metric(label, value)
    left, right = st.columns([1, 2])
    with left:
        st.markdown("**Metrics**")
        st.dataframe(metrics, hide_index=True, height=min(36 * (len(metrics) + 1), 600), key="metrics_table")
    equity = results.equity_frame(run_dir)
    with right:
        if equity is not None:
            _chart(results.equity_figure(equity), "equity")
            _chart(results.drawdown_figure(equity), "drawdown")
    if equity is not None:
        _chart(results.monthly_heatmap(equity, results.initial_capital(run_dir)), "monthly")
        _chart(results.exposure_figure(equity), "exposure")
    trades = results.trades_frame(run_dir)
    if trades is not None:
        st.markdown(f"**Trades** ({len(trades)})")
        cols = st.columns(3)

        def choices(column: str) -> list[str]:
            return sorted(trades[column].dropna().astype(str).unique()) if column in trades.columns else []

        tickers = cols[0].multiselect("Ticker", choices("ticker"), key="f_ticker")
        sides = cols[1].multiselect("Side", choices("side"), key="f_side")
        reasons = cols[2].multiselect("Exit reason", choices("exit_reason"), key="f_reason")
        shown = results.filter_trades(trades, tickers, sides, reasons)
        st.dataframe(shown, hide_index=True, height=320, key="trades_table")


def labels_section(run_dir: Path) -> None:
    rates, mix = results.label_stats(run_dir)
    if rates is None and mix is None:
        return
    st.subheader("Labels")
    left, right = st.columns(2)
    if rates is not None:
        left.markdown("**Base rate per ticker**")
        left.dataframe(rates, hide_index=True, key="label_rates")
    if mix is not None:
        import plotly.graph_objects as go

        right.markdown("**Exit-reason mix**")
        fig = go.Figure(go.Pie(labels=mix["exit_reason"], values=mix["count"], hole=0.4))
        fig.update_layout(margin=dict(l=10, r=10, t=10, b=10), height=280)
        with right:
            _chart(fig, "exit_mix")


def model_section(run_dir: Path) -> None:
    folds = results.fold_metrics(run_dir)
    importance = results.feature_importance(run_dir)
    overall = results.overall_model_metrics(run_dir)
    if folds is None and importance is None and overall is None:
        return
    st.subheader("Model")
    if overall:
        st.markdown("**Out-of-sample metrics**")
        from qlop.formatting import format_metric, metric_help, metric_label

        st.dataframe(
            [
                {"metric": metric_label(k), "value": format_metric(k, v), "meaning": metric_help(k)}
                for k, v in overall.items()
            ],
            hide_index=True,
            key="model_overall",
        )
    if folds is not None:
        st.markdown("**Per-fold metrics**")
        st.dataframe(folds, hide_index=True, key="fold_metrics")
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
    if read.problem:  # a damaged manifest is reported, with what can still be shown
        st.error(f"{RunLayout.MANIFEST} {read.problem}")
    status = manifest.get("status", "unknown")
    if status != "completed":
        st.warning(f"Run status: {status}" + (f" - {manifest['error']}" if manifest.get("error") else ""))
    with st.expander("Manifest and config"):
        st.json(manifest, expanded=False)
        st.json(read_json(layout.config) or {}, expanded=False)
    downloads_section(run_dir)
    backtest_section(run_dir)
    model_section(run_dir)
    labels_section(run_dir)


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
