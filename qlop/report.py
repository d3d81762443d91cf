"""The backtest's HTML report: one self-contained file (plotly.js inline, no network needed) that
explains the run, not only its equity curve.

Sections: the three-part answer, the config in brief, the metrics (each with a one-line meaning), equity
against the benchmark, drawdown, the predicted probability against the strategy's thresholds with a
per-year table (why it traded, or sat idle), model skill per fold, label statistics and P&L per ticker,
prices with entries and exits, monthly returns (blank where no position was held), exposure and
leverage, and trade results by exit reason.

The tables and series come from :mod:`qlop.report_data` (the view models the GUI's run page shows
too); the figure builders below take those and are reusable (``st.plotly_chart(price_figure(...))``).
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np

from qlop.report_data import (
    EXIT_NAMES,
    RunData,
    config_summary,
    display,
    fold_skill,
    has_times,
    idle_by_year,
    initial_capital,
    label_stats,
    leverage_path,
    monthly_returns,
    price_with_trades,
    probability_path,
    ticker_pnl,
    traded_tickers,
)

#: Tickers the price chart offers at most (those with the most trades first).
MAX_PRICE_TICKERS = 24
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

_CSS = """
body{font-family:-apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:24px auto;
max-width:1320px;padding:0 16px;color:#1f2933;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:32px 0 6px;border-bottom:1px solid #e4e7eb;padding-bottom:4px}
p.note{color:#52606d;font-size:13px;margin:2px 0 8px;max-width:900px}
.sub{color:#616e7c;font-size:13px;margin-bottom:16px}
ol.answer{font-size:14px;line-height:1.5;max-width:1000px;padding-left:22px}ol.answer li{margin-bottom:6px}
table.t{border-collapse:collapse;font-size:13px;margin:4px 0 8px}
table.t th{text-align:left;font-weight:600;padding:3px 10px;border-bottom:2px solid #cbd2d9;white-space:nowrap}
table.t td{padding:3px 10px;border-bottom:1px solid #e4e7eb}
table.t td.v,table.t th.v{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.t td.x{color:#616e7c;font-size:12px}
table.t tr.total td{font-weight:600;border-top:2px solid #cbd2d9}
h3{font-size:15px;margin:14px 0 4px}
.cols{display:flex;flex-wrap:wrap;gap:40px;align-items:flex-start}.cols p.note{max-width:520px}
.plot{width:100%}
"""

# --------------------------------------------------------------------------------- figures


def equity_figure(equity: Any) -> Any:
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.add_trace(
        go.Scatter(x=equity.index, y=equity["equity"], name="strategy", line=dict(color="#1f77b4", width=1.6))
    )
    if "benchmark" in equity.columns and equity["benchmark"].notna().any():
        fig.add_trace(
            go.Scatter(
                x=equity.index, y=equity["benchmark"], name="benchmark (rebased)", line=dict(color="#7f7f7f", width=1.2)
            )
        )
    fig.update_layout(
        yaxis_title="equity",
        yaxis_type="log",
        height=420,
        hovermode="x unified",
        legend=dict(orientation="h", y=1.1, x=0.2),  # above: the x-axis spans as in the charts below
        updatemenus=[
            dict(
                type="buttons",
                direction="left",
                x=0,
                y=1.12,
                buttons=[
                    dict(label="log", method="relayout", args=[{"yaxis.type": "log"}]),
                    dict(label="linear", method="relayout", args=[{"yaxis.type": "linear"}]),
                ],
            )
        ],
    )
    return fig


def drawdown_figure(equity: Any, initial_capital: float) -> Any:
    import plotly.graph_objects as go

    wealth = np.concatenate(([initial_capital], equity["equity"].to_numpy()))
    peak = np.maximum.accumulate(wealth)
    dd = np.divide(wealth, peak, out=np.zeros_like(wealth), where=peak > 0)[1:] - 1.0
    fig = go.Figure(
        go.Scatter(x=equity.index, y=dd, fill="tozeroy", name="drawdown", line=dict(color="#d62728", width=1))
    )
    fig.update_layout(yaxis_title="drawdown", yaxis_tickformat=".0%", height=280)
    return fig


def probability_figure(path: Any, thresholds: dict[str, float]) -> Any:
    """Highest and median out-of-sample probability per day, with the strategy's thresholds."""
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.add_trace(
        go.Scatter(x=path.index, y=path["highest"], name="highest across tickers", line=dict(color="#1f77b4", width=1))
    )
    fig.add_trace(
        go.Scatter(x=path.index, y=path["median"], name="median across tickers", line=dict(color="#9aa5b1", width=1))
    )
    colors = {"entry": "#2ca02c", "exit": "#ff7f0e", "short_entry": "#d62728", "short_exit": "#8c564b"}
    for name, level in thresholds.items():
        fig.add_hline(
            y=level,
            line=dict(color=colors.get(name, "#333"), dash="dash", width=1.4),
            annotation_text=f"{name.replace('_', ' ')} {level:.2f}",
            annotation_position="top right",
        )
    fig.update_layout(
        yaxis_title="predicted probability", height=340, hovermode="x unified", legend=dict(orientation="h", y=1.08)
    )
    return fig


def price_figure(run: RunData, start: Any = None) -> Any | None:
    """Closes of each traded ticker with its entries (triangles) and exits (coloured by P&L);
    a dropdown picks the ticker."""
    import plotly.graph_objects as go

    tickers = traded_tickers(run.trades, run.panel)[:MAX_PRICE_TICKERS]
    views = [(t, price_with_trades(run.panel, run.trades, t, start)) for t in tickers]
    views = [(t, v) for t, v in views if v is not None and len(v["close"])]
    if not views:
        return None
    fig = go.Figure()
    when = "%{x|%Y-%m-%d %H:%M} UTC" if has_times(views[0][1]["close"].index) else "%{x|%Y-%m-%d}"
    for i, (ticker, v) in enumerate(views):
        visible = i == 0
        fig.add_trace(
            go.Scatter(
                x=v["close"].index,
                y=v["close"],
                name=f"{ticker} close",
                visible=visible,
                line=dict(color="#52606d", width=1),
            )
        )
        e, x = v["entries"], v["exits"]
        fig.add_trace(
            go.Scatter(
                x=e["date"],
                y=e["price"],
                mode="markers",
                name="entry",
                visible=visible,
                marker=dict(symbol="triangle-up", size=9, color="#1f77b4"),
                text=[f"entry ({s})" for s in e["side"]],
                hovertemplate=when + " %{text}: %{y:,.2f}<extra></extra>",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=x["date"],
                y=x["price"],
                mode="markers",
                name="exit",
                visible=visible,
                marker=dict(symbol="x", size=8, color=["#2ca02c" if p > 0 else "#d62728" for p in x["pnl"]]),
                text=[f"{EXIT_NAMES.get(r, r)}, P&L {p:,.2f}" for r, p in zip(x["reason"], x["pnl"])],
                hovertemplate=when + " exit, %{text}: %{y:,.2f}<extra></extra>",
            )
        )
    buttons = []
    for i, (ticker, v) in enumerate(views):
        mask = [False] * (3 * len(views))
        mask[3 * i : 3 * i + 3] = [True, True, True]
        buttons.append(dict(label=f"{ticker} ({len(v['entries'])} trades)", method="update", args=[{"visible": mask}]))
    fig.update_layout(
        height=420,
        hovermode="closest",
        yaxis_title="close",
        updatemenus=[dict(buttons=buttons, direction="down", x=0, y=1.15, xanchor="left")],
        legend=dict(orientation="h", y=1.08, x=0.35),
    )
    return fig


def monthly_figure(table: Any) -> Any:
    """Monthly returns as a heatmap with the value in each cell; months without a position stay blank."""
    import plotly.graph_objects as go

    from qlop.formatting import pct

    z = table.to_numpy(dtype=float)
    text = [["" if not np.isfinite(v) else pct(v, 1) for v in row] for row in z]
    lim = float(np.nanmax(np.abs(z))) if np.isfinite(z).any() else 0.01
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=MONTHS,
            y=[str(y) for y in table.index],
            text=text,
            texttemplate="%{text}",
            colorscale="RdYlGn",
            zmid=0,
            zmin=-lim,
            zmax=lim,
            colorbar=dict(tickformat=".0%"),
            hoverongaps=False,
            hovertemplate="%{y} %{x}: %{text}<extra></extra>",
        )
    )
    fig.update_layout(
        height=max(260, 22 * len(table) + 120),
        yaxis_autorange="reversed",
        plot_bgcolor="#ffffff",
        xaxis_showgrid=False,
        yaxis_showgrid=False,
    )
    return fig


def leverage_figure(path: Any) -> Any:
    """Gross leverage as a filled area with net leverage drawn over it (so neither hides the other),
    and the number of open positions below."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.08,
        row_heights=[0.65, 0.35],
        subplot_titles=("exposure over equity (leverage of the whole book)", "open positions"),
    )
    if "gross" in path.columns:
        fig.add_trace(
            go.Scatter(
                x=path.index,
                y=path["gross"],
                name="gross leverage",
                fill="tozeroy",
                line=dict(color="#9467bd", width=0.8),
                fillcolor="rgba(148,103,189,0.25)",
            ),
            row=1,
            col=1,
        )
    if "net" in path.columns:
        fig.add_trace(
            go.Scatter(
                x=path.index, y=path["net"], name="net leverage", line=dict(color="#ff7f0e", width=1.4, dash="dot")
            ),
            row=1,
            col=1,
        )
    if "positions" in path.columns:
        fig.add_trace(
            go.Scatter(
                x=path.index,
                y=path["positions"],
                name="positions",
                line_shape="hv",
                line=dict(color="#8c564b", width=1),
            ),
            row=2,
            col=1,
        )
    fig.update_layout(height=460, hovermode="x unified", legend=dict(orientation="h", y=1.12))
    return fig


def trade_results_figure(trades: Any) -> Any:
    import plotly.graph_objects as go

    fig = go.Figure()
    for reason, group in trades.groupby("exit_reason", sort=True):
        fig.add_trace(
            go.Histogram(x=group["return"], name=EXIT_NAMES.get(str(reason), str(reason)), opacity=0.75, nbinsx=60)
        )
    fig.update_layout(
        barmode="stack", height=320, xaxis_title="trade return on margin", xaxis_tickformat=".0%", yaxis_title="trades"
    )
    return fig


# ----------------------------------------------------------------------------------- HTML


def _table(frame: Any, total_last: bool = False, first_is_label: bool = True) -> str:
    """A display frame (strings) as an HTML table: numbers right-aligned."""
    cols = list(frame.columns)
    numeric = [not (first_is_label and i == 0) and c not in ("Test from", "Test to") for i, c in enumerate(cols)]
    head = "".join(f"<th class='{'v' if n else ''}'>{html.escape(str(c))}</th>" for c, n in zip(cols, numeric))
    body = []
    for i, row in enumerate(frame.itertuples(index=False)):
        cls = " class='total'" if total_last and i == len(frame) - 1 else ""
        cells = "".join(f"<td class='{'v' if n else ''}'>{html.escape(str(v))}</td>" for v, n in zip(row, numeric))
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table class='t'><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _metrics_html(metrics: dict[str, Any]) -> str:
    from qlop.formatting import metric_rows

    rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td class='v'>{html.escape(v)}</td><td class='x'>{html.escape(x)}</td></tr>"
        for k, v, x in metric_rows(metrics)
    )
    return f"<table class='t metrics'>{rows}</table>"


def _config_html(rows: list[tuple[str, str, str]]) -> str:
    body, last = [], None
    for section, item, value in rows:
        shown = section if section != last else ""
        last = section
        body.append(
            f"<tr><td><b>{html.escape(shown)}</b></td><td>{html.escape(item)}</td><td>{html.escape(value)}</td></tr>"
        )
    return f"<table class='t config'>{''.join(body)}</table>"


def _idle_note(table: Any, thresholds: dict[str, float]) -> str:
    """One sentence naming the years in which the model never reached the entry threshold."""
    entry = thresholds.get("entry")
    if entry is None or table is None or "highest_prob" not in table.columns:
        return ""
    idle = [(int(y), p) for y, p in table["highest_prob"].items() if np.isfinite(p) and p < entry]
    if not idle:
        return (
            f"The model reached the {entry:.2f} entry threshold in every year; the days at or above it are "
            "the ticker-days the strategy could enter (capital and open positions permitting)."
        )
    listed = ", ".join(f"{y} (highest {p:.2f})" for y, p in idle)
    return (
        f"No entry was possible in {listed}: the highest predicted probability stayed below the "
        f"{entry:.2f} entry threshold, so the strategy sat in cash."
    )


def backtest_report(run: RunData, title: str = "Backtest") -> str:
    """The whole report as one HTML string (plotly.js embedded once)."""
    import plotly.io as pio

    from qlop.answer import answer_from

    metrics = run.metrics or {}
    equity, trades = run.equity, run.trades
    capital = initial_capital(metrics, equity)
    thresholds = dict(metrics.get("probability_thresholds") or {})
    start = metrics.get("start")
    parts: list[str] = []
    first = [True]

    def plot(fig: Any) -> str:
        fig.update_layout(
            margin=dict(l=90, r=20, t=40, b=40), template="plotly_white"
        )  # one left margin: x-axes line up
        div = pio.to_html(
            fig, include_plotlyjs=first[0], full_html=False, config={"displaylogo": False, "responsive": True}
        )
        first[0] = False
        return f"<div class='plot'>{div}</div>"

    def section(heading: str, body: str, note: str = "") -> None:
        note_html = f"<p class='note'>{html.escape(note)}</p>" if note else ""
        parts.append(f"<h2>{html.escape(heading)}</h2>{note_html}{body}")

    answer = answer_from(run.config, run.labels, run.train_metrics, metrics)
    if answer:
        section(
            "The answer",
            "<ol class='answer'>" + "".join(f"<li>{html.escape(a)}</li>" for a in answer) + "</ol>",
            "Out of sample, after leverage, margin, financing and costs.",
        )
    n_folds = (run.train_metrics or {}).get("n_folds")
    config_rows = config_summary(run.config, n_folds)
    if config_rows:
        section("Configuration", _config_html(config_rows))
    section("Metrics", _metrics_html(metrics))
    if equity is not None and len(equity):
        section("Equity against the benchmark", plot(equity_figure(equity)))
        section("Drawdown", plot(drawdown_figure(equity, capital)))
    path = probability_path(run.predictions)
    if path is not None and len(path):
        if start is not None:
            path = path[path.index >= np.datetime64(start)]
        idle = idle_by_year(run.predictions, thresholds, trades, equity)
        body = plot(probability_figure(path, thresholds))
        if idle is not None:
            body += _table(display(idle))
        section(
            "Predicted probability against the strategy's thresholds",
            body,
            _idle_note(idle, thresholds) or "The model's out-of-sample probability of a paying trade, per day.",
        )
    folds = fold_skill(run.train_metrics)
    if folds is not None:
        section(
            "Model skill per fold",
            _table(display(folds), first_is_label=False),
            "Each fold is scored by a model trained only on earlier data, purged of labels that reach into the "
            "test period. AUC 0.5 is no skill; a log loss below the base rate's beats always predicting the "
            "base rate.",
        )
    labels = label_stats(run.labels)
    pnl = ticker_pnl(trades)
    cols = []
    if labels is not None:
        cols.append(
            "<div><h3>Labels</h3><p class='note'>Share of labelled days on which the leveraged trade paid "
            "off (base rate) and how the simulated trades ended.</p>"
            f"{_table(display(labels), total_last=True)}</div>"
        )
    if pnl is not None:
        cols.append(
            "<div><h3>Trades</h3><p class='note'>P&amp;L after costs, best first.</p>"
            f"{_table(display(pnl), total_last=True)}</div>"
        )
    if cols:
        parts.append(f"<h2>Per ticker</h2><div class='cols'>{''.join(cols)}</div>")
    prices = price_figure(run, start)
    if prices is not None:
        section(
            "Prices, entries and exits",
            plot(prices),
            "Triangles: entries (filled at the next open after the signal). Crosses: exits, green for a "
            "gain, red for a loss. Pick a ticker in the menu.",
        )
    monthly = monthly_returns(equity, capital)
    if monthly is not None and monthly.size:
        section("Monthly returns", plot(monthly_figure(monthly)), "Blank: no position at all that month.")
    lev = leverage_path(equity)
    if lev is not None:
        section(
            "Exposure and leverage",
            plot(leverage_figure(lev)),
            "Gross leverage: open positions' value over equity (shaded); net: long minus short (dotted). "
            "Each position runs at the configured leverage; these lines show the whole book.",
        )
    if trades is not None and len(trades):
        section("Trade results by exit reason", plot(trade_results_figure(trades)))
    from qlop.formatting import benchmark_text, count, iso_date

    sub = (
        f"{iso_date(metrics.get('start'))} to {iso_date(metrics.get('end'))} &middot; "
        f"{count(metrics.get('n_trades', 0))} trades &middot; benchmark "
        f"{html.escape(benchmark_text(metrics))}"
    )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><div class='sub'>{sub}</div>{''.join(parts)}</body></html>"
    )
