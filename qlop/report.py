"""The backtest's HTML report: one self-contained file (plotly.js inline, no network needed).

Sections: the metrics table, equity against the benchmark, drawdown, monthly returns, exposure and
leverage over time, and the distribution of trade results by exit reason.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np

_CSS = """
body{font-family:-apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:24px;
color:#1f2933;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 6px}
.sub{color:#616e7c;font-size:13px;margin-bottom:16px}
table.metrics{border-collapse:collapse;font-size:13px;min-width:380px}
table.metrics td{padding:3px 12px;border-bottom:1px solid #e4e7eb}
table.metrics td.v{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.metrics td.x{color:#616e7c;font-size:12px}
.grid{display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start}
.plot{width:100%;max-width:1200px}
"""


def _monthly_returns(equity: Any, initial_capital: float) -> Any:
    """Year x month table of compounded returns (month-end equity over the previous month-end)."""
    import pandas as pd

    month_end = equity.resample("ME").last().dropna()
    prev = month_end.shift(1)
    if len(month_end):
        prev.iloc[0] = initial_capital
    ret = month_end / prev - 1.0
    table = pd.DataFrame({"year": ret.index.year, "month": ret.index.month, "ret": ret.to_numpy()})
    return table.pivot(index="year", columns="month", values="ret").reindex(columns=range(1, 13))


def _figures(equity_frame: Any, trades: Any, initial_capital: float) -> list[tuple[str, Any]]:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    eq = equity_frame["equity"]
    dates = equity_frame.index
    figs: list[tuple[str, Any]] = []

    fig = go.Figure()
    fig.add_trace(go.Scatter(x=dates, y=eq, name="strategy", line=dict(color="#1f77b4", width=1.6)))
    if "benchmark" in equity_frame.columns and equity_frame["benchmark"].notna().any():
        fig.add_trace(go.Scatter(x=dates, y=equity_frame["benchmark"], name="benchmark (rebased)",
                                 line=dict(color="#7f7f7f", width=1.2)))
    fig.update_layout(yaxis_title="equity", yaxis_type="log", height=420, hovermode="x unified",
                      updatemenus=[dict(type="buttons", direction="left", x=0, y=1.12, buttons=[
                          dict(label="log", method="relayout", args=[{"yaxis.type": "log"}]),
                          dict(label="linear", method="relayout", args=[{"yaxis.type": "linear"}])])])
    figs.append(("Equity against the benchmark", fig))

    wealth = np.concatenate(([initial_capital], eq.to_numpy()))
    peak = np.maximum.accumulate(wealth)
    dd = np.divide(wealth, peak, out=np.zeros_like(wealth), where=peak > 0)[1:] - 1.0
    fig = go.Figure(go.Scatter(x=dates, y=dd, fill="tozeroy", name="drawdown", line=dict(color="#d62728", width=1)))
    fig.update_layout(yaxis_title="drawdown", yaxis_tickformat=".0%", height=300)
    figs.append(("Drawdown", fig))

    monthly = _monthly_returns(eq, initial_capital)
    if monthly.size:
        z = monthly.to_numpy()
        text = [["" if not np.isfinite(v) else f"{v:.1%}" for v in row] for row in z]
        lim = float(np.nanmax(np.abs(z))) if np.isfinite(z).any() else 0.01
        fig = go.Figure(go.Heatmap(
            z=z, x=["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"],
            y=[str(y) for y in monthly.index], text=text, texttemplate="%{text}", colorscale="RdYlGn",
            zmid=0, zmin=-lim, zmax=lim, colorbar=dict(tickformat=".0%"), hovertemplate="%{y} %{x}: %{text}<extra></extra>"))
        fig.update_layout(height=max(260, 22 * len(monthly) + 120), yaxis_autorange="reversed")
        figs.append(("Monthly returns", fig))

    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.06,
                        subplot_titles=("gross exposure / equity (leverage)", "open positions"))
    fig.add_trace(go.Scatter(x=dates, y=equity_frame["leverage"], name="gross leverage",
                             line=dict(color="#9467bd", width=1)), row=1, col=1)
    if "net_exposure" in equity_frame.columns:
        net_lev = np.divide(equity_frame["net_exposure"].to_numpy(), eq.to_numpy(),
                            out=np.zeros(len(eq)), where=eq.to_numpy() > 0)
        fig.add_trace(go.Scatter(x=dates, y=net_lev, name="net leverage", line=dict(color="#17becf", width=1)),
                      row=1, col=1)
    fig.add_trace(go.Scatter(x=dates, y=equity_frame["n_positions"], name="positions", line_shape="hv",
                             line=dict(color="#8c564b", width=1)), row=2, col=1)
    fig.update_layout(height=460, hovermode="x unified")
    figs.append(("Exposure and leverage", fig))

    if len(trades):
        fig = go.Figure()
        for reason, group in trades.groupby("exit_reason", sort=True):
            fig.add_trace(go.Histogram(x=group["return"], name=str(reason), opacity=0.75, nbinsx=60))
        fig.update_layout(barmode="stack", height=340, xaxis_title="trade return on margin",
                          xaxis_tickformat=".0%", yaxis_title="trades")
        figs.append(("Trade results by exit reason", fig))
    return figs


def _metrics_html(metrics: dict[str, Any]) -> str:
    from qlop.formatting import metric_rows

    rows = "".join(f"<tr><td>{html.escape(k)}</td><td class='v'>{html.escape(v)}</td>"
                   f"<td class='x'>{html.escape(x)}</td></tr>" for k, v, x in metric_rows(metrics))
    return f"<table class='metrics'>{rows}</table>"


def backtest_report(equity_frame: Any, trades: Any, metrics: dict[str, Any], title: str = "Backtest") -> str:
    """The whole report as one HTML string (plotly.js embedded once)."""
    import plotly.io as pio

    capital = float(metrics.get("initial_capital") or (equity_frame["equity"].iloc[0] if len(equity_frame) else 1.0))
    parts = []
    first = True
    for heading, fig in _figures(equity_frame, trades, capital):
        fig.update_layout(margin=dict(l=60, r=20, t=30, b=40), template="plotly_white")
        div = pio.to_html(fig, include_plotlyjs=True if first else False, full_html=False,
                          config={"displaylogo": False, "responsive": True})
        first = False
        parts.append(f"<h2>{html.escape(heading)}</h2><div class='plot'>{div}</div>")
    sub = (f"{metrics.get('start', '')} to {metrics.get('end', '')} &middot; {metrics.get('n_trades', 0)} trades "
           f"&middot; benchmark {html.escape(str(metrics.get('benchmark') or 'none'))}")
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
            f"<h1>{html.escape(title)}</h1><div class='sub'>{sub}</div>"
            f"<h2>Metrics</h2>{_metrics_html(metrics)}{''.join(parts)}</body></html>")
