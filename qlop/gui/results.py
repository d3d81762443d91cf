"""Read run directories for the Runs page, and build its plotly figures.

Everything here reads the artefacts a run leaves (named by :class:`qlop.layout.RunLayout`) and
tolerates missing ones: a run without a backtest section simply has no equity plot. Nothing here writes.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from qlop.artifacts import read_json
from qlop.layout import RunLayout

# -- artefact loaders ----------------------------------------------------------------------------


def read_parquet(path: Path) -> Any:
    """A run's table, intraday bar times as naive UTC (the charts and tables treat them like dates)."""
    import pandas as pd

    from qlop.report_data import utc_naive

    return utc_naive(pd.read_parquet(path)) if Path(path).is_file() else None


def metrics_table(run_dir: Path) -> Any:
    """``backtest/metrics.json`` as a table of human labels, values in the one number style
    (:mod:`qlop.formatting`) and a one-line explanation each; other numbers follow, nested ones
    (``benchmark.cagr``) flattened."""
    import pandas as pd

    from qlop.formatting import BACKTEST_KEYS, format_metric, metric_label, metric_rows

    data = read_json(RunLayout(run_dir).backtest_metrics)
    if not isinstance(data, dict):
        return None
    rows = metric_rows(data)
    known = set(BACKTEST_KEYS) | {"n_trials", "strategy", "benchmark"}

    def walk(prefix: str, value: Any, key: str) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v, str(k))
        elif prefix not in known and isinstance(value, (int, float)) and not isinstance(value, bool):
            group = prefix.split(".")[0].replace("_", " ").capitalize()
            label = metric_label(key) if prefix == key else f"{group}: {metric_label(key)}"
            rows.append((label, format_metric(key, value), ""))

    walk("", data, "")
    return pd.DataFrame(rows, columns=["metric", "value", "meaning"])


def format_value(value: Any) -> str:
    """A number without a known metric key: counts with thousands separators, other numbers as ratios."""
    from qlop.formatting import count, ratio

    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return count(value)
    if isinstance(value, float):
        return ratio(value) if abs(value) >= 0.01 or value == 0 else f"{value:.2g}"
    return str(value)


def headline(run_dir: Path) -> list[tuple[str, str]]:
    """(label, formatted value) of the headline metrics present in ``backtest/metrics.json``."""
    from qlop.formatting import HEADLINE_KEYS, format_metric, metric_label

    data = read_json(RunLayout(run_dir).backtest_metrics)
    if not isinstance(data, dict):
        return []
    keys = (*HEADLINE_KEYS, "benchmark_total_return")
    return [
        (metric_label(k, data), format_metric(k, data[k]))
        for k in keys
        if isinstance(data.get(k), (int, float)) and not isinstance(data.get(k), bool)
    ]


def equity_frame(run_dir: Path) -> Any:
    """``backtest/equity.parquet`` with a ``date`` column (index reset if needed)."""
    df = read_parquet(RunLayout(run_dir).equity)
    if df is None:
        return None
    if "date" not in df.columns:
        df = df.reset_index()
        if "date" not in df.columns:
            df = df.rename(columns={df.columns[0]: "date"})
    return df


def equity_figure(equity: Any) -> Any:
    """Equity against the benchmark, both rebased to the same start."""
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.add_trace(go.Scatter(x=equity["date"], y=equity["equity"], name="strategy", mode="lines"))
    if "benchmark" in equity.columns and equity["benchmark"].notna().any():
        series = equity["benchmark"]
        first = series.dropna().iloc[0]
        start = equity["equity"].iloc[0]
        scaled = series / first * start if first and not math.isclose(float(first), float(start)) else series
        fig.add_trace(go.Scatter(x=equity["date"], y=scaled, name="benchmark", mode="lines"))
    fig.update_layout(
        title="Equity vs benchmark",
        yaxis_title="equity",
        hovermode="x unified",
        margin=dict(l=10, r=10, t=40, b=10),
        height=360,
    )
    return fig


def drawdown_figure(equity: Any) -> Any:
    import plotly.graph_objects as go

    dd = equity["equity"] / equity["equity"].cummax() - 1.0
    fig = go.Figure(go.Scatter(x=equity["date"], y=dd, fill="tozeroy", mode="lines", name="drawdown"))
    fig.update_layout(title="Drawdown", yaxis_tickformat=".1%", margin=dict(l=10, r=10, t=40, b=10), height=260)
    return fig


def initial_capital(run_dir: Path) -> float | None:
    """The book before the first bar (``initial_capital`` of ``backtest/metrics.json``), if recorded."""
    data = read_json(RunLayout(run_dir).backtest_metrics)
    value = data.get("initial_capital") if isinstance(data, dict) else None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value else None


def monthly_returns(equity: Any, initial_capital: float | None = None) -> Any:
    """Year x month table of compounded strategy returns: the report's own table
    (:func:`qlop.report_data.monthly_returns`), the first month against ``initial_capital`` (``None``:
    the first equity value), months without a position blank."""
    from qlop import report_data

    frame = equity.set_index("date")
    frame.index = frame.index.astype("datetime64[ns]")
    capital = report_data.initial_capital({"initial_capital": initial_capital}, frame)
    return report_data.monthly_returns(frame, capital)


def monthly_heatmap(equity: Any, initial_capital: float | None = None) -> Any:
    import plotly.graph_objects as go

    table = monthly_returns(equity, initial_capital)
    if table is None or table.empty:
        return None
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    fig = go.Figure(
        go.Heatmap(
            z=table.to_numpy() * 100,
            x=[months[m - 1] for m in table.columns],
            y=[str(y) for y in table.index],
            colorscale="RdYlGn",
            zmid=0,
            colorbar=dict(title="%"),
            hovertemplate="%{y} %{x}: %{z:.2f}%<extra></extra>",
        )
    )
    fig.update_layout(
        title="Monthly returns", margin=dict(l=10, r=10, t=40, b=10), height=max(240, 22 * len(table) + 80)
    )
    return fig


def exposure_series(equity: Any) -> dict[str, Any]:
    """Gross and net exposure as multiples of equity, and the open-position count (the backtest engine's
    ``leverage``, ``net_exposure`` and ``n_positions`` columns)."""
    eq = equity["equity"]
    return {
        "gross leverage": equity["leverage"],
        "net leverage": equity["net_exposure"] / eq.where(eq > 0),
        "open positions": equity["n_positions"],
    }


def exposure_figure(equity: Any) -> Any:
    """Exposure and leverage over time (open positions on the right axis)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    series = exposure_series(equity)
    if not series:
        return None
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    for name, values in series.items():
        fig.add_trace(
            go.Scatter(
                x=equity["date"],
                y=values,
                name=name,
                mode="lines",
                line_shape="hv" if name == "open positions" else "linear",
            ),
            secondary_y=name == "open positions",
        )
    fig.update_layout(
        title="Exposure and leverage", hovermode="x unified", margin=dict(l=10, r=10, t=40, b=10), height=300
    )
    fig.update_yaxes(title_text="x equity", secondary_y=False)
    if "open positions" in series:
        fig.update_yaxes(title_text="positions", secondary_y=True)
    return fig


def trades_frame(run_dir: Path) -> Any:
    df = read_parquet(RunLayout(run_dir).trades)
    if df is None:
        return None
    if isinstance(df.index, type(df.index)) and df.index.names != [None]:
        df = df.reset_index()
    return df


def filter_trades(
    trades: Any, tickers: list[str] | None = None, sides: list[str] | None = None, reasons: list[str] | None = None
) -> Any:
    """Trades restricted to the chosen tickers, sides and exit reasons (empty choice = all)."""
    mask = trades.index == trades.index
    if tickers and "ticker" in trades.columns:
        mask &= trades["ticker"].astype(str).isin(tickers)
    if sides and "side" in trades.columns:
        mask &= trades["side"].astype(str).isin(sides)
    if reasons and "exit_reason" in trades.columns:
        mask &= trades["exit_reason"].astype(str).isin(reasons)
    return trades[mask]


def label_stats(run_dir: Path) -> tuple[Any, Any]:
    """(base rate per ticker over its labelled rows, from :func:`qlop.report_data.summarize_labels`;
    exit-reason counts) from ``labels.parquet``."""
    import pandas as pd

    from qlop.report_data import summarize_labels

    labels = read_parquet(RunLayout(run_dir).labels)
    if labels is None or "label" not in labels.columns:
        return None, None
    rates = None
    if "ticker" in (labels.index.names or []):
        summary = summarize_labels(labels[["label"]])
        summary = summary[summary["n_labelled"] > 0]
        rates = pd.DataFrame(
            {
                "ticker": summary.index.to_numpy(),
                "rows": summary["n_labelled"].to_numpy(),
                "base_rate": summary["base_rate"].to_numpy(),
            }
        )
    mix = None
    if "exit_reason" in labels.columns:
        counts = labels["exit_reason"].dropna().astype(str).value_counts()
        mix = pd.DataFrame(
            {"exit_reason": counts.index, "count": counts.to_numpy(), "share": counts.to_numpy() / max(counts.sum(), 1)}
        )
    return rates, mix


def fold_metrics(run_dir: Path) -> Any:
    """Per-fold model metrics (the ``folds`` list of ``train_metrics.json``)."""
    import pandas as pd

    data = read_json(RunLayout(run_dir).train_metrics)
    folds = data.get("folds") if isinstance(data, dict) else None
    if not isinstance(folds, list) or not folds:
        return None
    rows = [{k: v for k, v in f.items() if not isinstance(v, (dict, list))} for f in folds if isinstance(f, dict)]
    return pd.DataFrame(rows) if rows else None


def overall_model_metrics(run_dir: Path) -> dict[str, Any] | None:
    data = read_json(RunLayout(run_dir).train_metrics)
    if not isinstance(data, dict):
        return None
    overall = data.get("overall")
    return overall if isinstance(overall, dict) and overall else None


def feature_importance(run_dir: Path) -> Any:
    """Feature importance as (feature, importance) rows, from ``train_metrics.json`` or the model's
    ``meta.json`` (the train stage writes it into both)."""
    import pandas as pd

    layout = RunLayout(run_dir)
    candidates = []
    train = read_json(layout.train_metrics)
    if isinstance(train, dict):
        candidates.append(train.get("feature_importance"))
    meta = read_json(layout.model_meta)
    if isinstance(meta, dict):
        candidates.append(meta.get("feature_importance"))
    for data in candidates:
        if isinstance(data, dict) and data:
            values = {k: v for k, v in data.items() if isinstance(v, (int, float))}
            if values:
                df = pd.DataFrame({"feature": list(values), "importance": list(values.values())})
                return df.sort_values("importance", ascending=False, ignore_index=True)
        if isinstance(data, list) and data and isinstance(data[0], dict):
            df = pd.DataFrame(data)
            if {"feature", "importance"} <= set(df.columns):
                return df.sort_values("importance", ascending=False, ignore_index=True)
    return None


def importance_figure(importance: Any, top: int = 25) -> Any:
    import plotly.graph_objects as go

    head = importance.head(top).iloc[::-1]
    fig = go.Figure(go.Bar(x=head["importance"], y=head["feature"], orientation="h"))
    fig.update_layout(
        title="Feature importance", margin=dict(l=10, r=10, t=40, b=10), height=max(260, 18 * len(head) + 80)
    )
    return fig


def downloads(run_dir: Path) -> list[tuple[str, Path, str]]:
    """(label, file, mime) of the files offered for download: report, ONNX bundle, predictions."""
    layout = RunLayout(run_dir)
    offers = [
        (layout.report.name, layout.report, "text/html"),
        (layout.predictions.name, layout.predictions, "application/octet-stream"),
        (layout.bundle.name, layout.bundle, "application/json"),
    ]
    offers += [(p.name, p, "application/octet-stream") for p in layout.exported_models()]
    return [o for o in offers if o[1].is_file()]


def onnx_bundle_zip(run_dir: Path) -> bytes | None:
    """The export folder (model.onnx + bundle.json + anything else) as one zip, for one download."""
    import io
    import zipfile

    export_dir = RunLayout(run_dir).export_dir
    files = sorted(p for p in export_dir.rglob("*") if p.is_file()) if export_dir.is_dir() else []
    if not files:
        return None
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in files:
            zf.write(p, p.relative_to(export_dir).as_posix())
    return buf.getvalue()
