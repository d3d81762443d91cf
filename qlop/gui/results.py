"""Read run directories for the Runs page: its view, and what only the GUI offers.

The results themselves - answer, config, metrics, equity and drawdown, probability, folds, per-ticker
tables, prices, monthly returns, leverage - are :func:`qlop.report_data.run_view`, the view report.html
is written from, drawn with :mod:`qlop.report`'s figure builders. Here: loading that view, the trade
list's filters, the model's overall metrics and feature importance, and the downloads. Everything reads
the artefacts a run leaves (named by :class:`qlop.layout.RunLayout`) and tolerates missing ones.
Nothing here writes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from qlop.artifacts import read_json
from qlop.layout import RunLayout

if TYPE_CHECKING:
    from qlop.report_data import RunView


def view(run_dir: Path) -> "RunView":
    """The run's results as report.html shows them (:func:`qlop.report_data.run_view`)."""
    from qlop.report_data import load_run, run_view

    return run_view(load_run(run_dir))


def stamp(run_dir: Path) -> tuple[int, ...]:
    """Modification times of the files a run's view depends on: a changed run gets a new view."""
    layout = RunLayout(run_dir)
    paths = (
        layout.manifest,
        layout.config,
        layout.backtest_metrics,
        layout.equity,
        layout.trades,
        layout.train_metrics,
        layout.labels,
        layout.predictions,
        layout.data,
    )
    return tuple(p.stat().st_mtime_ns if p.is_file() else 0 for p in paths)


def metrics_table(run_dir: Path) -> Any:
    """``backtest/metrics.json`` as the report's metrics table: human label, value in the one number
    style and a one-line meaning (:func:`qlop.formatting.metric_rows`); None without a backtest."""
    import pandas as pd

    from qlop.formatting import metric_rows

    data = read_json(RunLayout(run_dir).backtest_metrics)
    if not isinstance(data, dict):
        return None
    return pd.DataFrame(metric_rows(data), columns=["Metric", "Value", "Meaning"])


def headline(run_dir: Path) -> list[tuple[str, str]]:
    """(label, formatted value) of the headline metrics present in ``backtest/metrics.json``."""
    from qlop.report_data import headline as headline_of

    data = read_json(RunLayout(run_dir).backtest_metrics)
    return headline_of(data) if isinstance(data, dict) else []


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
