"""The backtest's HTML report: one self-contained file (plotly.js inline, no network needed) that
explains the run, not only its equity curve.

Sections: the three-part answer, the config in brief, the metrics (each with a one-line meaning), equity
against the benchmark above the drawdown (one date axis), the predicted probability against the
strategy's thresholds with a per-year table (why it traded, or sat idle), model skill per fold, label
statistics and P&L per ticker, prices with entries and exits, monthly returns (blank where no position
was held), exposure and leverage, and trade results by exit reason.

Every section is computed once, by :func:`qlop.report_data.run_view`; :func:`render_html` writes it as
HTML and the GUI's run page (``qlop.gui.views.runs_page``) draws the same view with the figure builders
below, so the two show the same numbers, charts, headings and notes.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np

from qlop.formatting import counted
from qlop.report_data import EXIT_NAMES, SECTIONS, RunData, RunView, display, has_times, run_view

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

_CSS = """
p.assume{font-size:14px;font-weight:600;margin:10px 0 2px}table.assume td{vertical-align:top;max-width:900px}
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


def equity_figure(equity: Any, drawdown: Any) -> Any:
    """Equity against the benchmark (log or linear) above the drawdown, on one shared date axis: zooming
    one zooms both, and the two always line up."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.04, row_heights=[0.68, 0.32])
    fig.add_trace(
        go.Scatter(x=equity.index, y=equity["equity"], name="strategy", line=dict(color="#1f77b4", width=1.6)),
        row=1,
        col=1,
    )
    if "benchmark" in equity.columns and equity["benchmark"].notna().any():
        fig.add_trace(
            go.Scatter(
                x=equity.index, y=equity["benchmark"], name="benchmark (rebased)", line=dict(color="#7f7f7f", width=1.2)
            ),
            row=1,
            col=1,
        )
    fig.add_trace(
        go.Scatter(
            x=drawdown.index,
            y=drawdown.to_numpy(),
            fill="tozeroy",
            name="drawdown",
            line=dict(color="#d62728", width=1),
            hovertemplate="%{y:.2%}",
        ),
        row=2,
        col=1,
    )
    fig.update_yaxes(title_text="equity", type="log", row=1, col=1)
    fig.update_yaxes(title_text="drawdown", tickformat=".0%", row=2, col=1)
    fig.update_layout(
        height=620,
        hovermode="x unified",
        legend=dict(orientation="h", y=1.08, x=0.2),  # above: the x-axis spans as in the charts below
        updatemenus=[
            dict(
                type="buttons",
                direction="left",
                x=0,
                y=1.1,
                buttons=[
                    dict(label="log", method="relayout", args=[{"yaxis.type": "log"}]),
                    dict(label="linear", method="relayout", args=[{"yaxis.type": "linear"}]),
                ],
            )
        ],
    )
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


def price_figure(views: list[tuple[str, dict[str, Any]]]) -> Any | None:
    """Closes of each ticker (:meth:`qlop.report_data.RunView.prices`) with its entries (triangles) and
    exits (coloured by P&L); with several tickers a dropdown picks one."""
    import plotly.graph_objects as go

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
        buttons.append(
            dict(label=f"{ticker} ({counted(len(v['entries']), 'trade')})", method="update", args=[{"visible": mask}])
        )
    fig.update_layout(
        height=420,
        hovermode="closest",
        yaxis_title="close",
        updatemenus=[dict(buttons=buttons, direction="down", x=0, y=1.15, xanchor="left")] if len(views) > 1 else [],
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


def style_figure(fig: Any) -> Any:
    """The look every figure has in report.html and on the GUI's run page: one template and one left
    margin, so the date axes of charts drawn one under another line up."""
    fig.update_layout(margin=dict(l=90, r=20, t=40, b=40), template="plotly_white")
    return fig


# ----------------------------------------------------------------------------------- HTML


def numeric_columns(columns: list[str], first_is_label: bool = True) -> list[bool]:
    """Which columns of a display table hold numbers, right-aligned in report.html and on the GUI's run
    page: all but a leading label column (ticker, year) and the folds' test dates."""
    return [not (first_is_label and i == 0) and c not in ("Test from", "Test to") for i, c in enumerate(columns)]


def _table(frame: Any, total_last: bool = False, first_is_label: bool = True) -> str:
    """A display frame (strings) as an HTML table: numbers right-aligned."""
    cols = list(frame.columns)
    numeric = numeric_columns(cols, first_is_label)
    head = "".join(f"<th class='{'v' if n else ''}'>{html.escape(str(c))}</th>" for c, n in zip(cols, numeric))
    body = []
    for i, row in enumerate(frame.itertuples(index=False)):
        cls = " class='total'" if total_last and i == len(frame) - 1 else ""
        cells = "".join(f"<td class='{'v' if n else ''}'>{html.escape(str(v))}</td>" for v, n in zip(row, numeric))
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table class='t'><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _metrics_html(metric_rows: list[tuple[str, str, str]]) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td class='v'>{html.escape(v)}</td><td class='x'>{html.escape(x)}</td></tr>"
        for k, v, x in metric_rows
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


def _assumptions_html(rows: list[tuple[str, str]]) -> str:
    """The answer's "Assumptions:" block (:func:`qlop.answer.assumptions_from`): the rows and words the
    CLI prints. The trials ledger is not read: the report is written before the run is recorded in it."""
    if not rows:
        return ""
    body = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in rows)
    return f"<p class='assume'>Assumptions:</p><table class='t assume'>{body}</table>"


def backtest_report(run: RunData, title: str = "Backtest") -> str:
    """The whole report as one HTML string (plotly.js embedded once)."""
    return render_html(run_view(run), title)


def render_html(view: RunView, title: str) -> str:
    """``view`` as report.html: each section of :data:`qlop.report_data.SECTIONS` it has."""
    import plotly.io as pio

    parts: list[str] = []
    first = [True]

    def plot(fig: Any) -> str:
        div = pio.to_html(
            style_figure(fig),
            include_plotlyjs=first[0],
            full_html=False,
            config={"displaylogo": False, "responsive": True},
        )
        first[0] = False
        return f"<div class='plot'>{div}</div>"

    def section(key: str, body: str, note: str | None = None) -> None:
        heading, default = SECTIONS[key]
        note = default if note is None else note
        note_html = f"<p class='note'>{html.escape(note)}</p>" if note else ""
        parts.append(f"<h2>{html.escape(heading)}</h2>{note_html}{body}")

    if view.answer:
        section(
            "answer",
            "<ol class='answer'>"
            + "".join(f"<li>{html.escape(a)}</li>" for a in view.answer)
            + "</ol>"
            + _assumptions_html(view.assumptions),
        )
    if view.config_rows:
        section("config", _config_html(view.config_rows))
    section("metrics", _metrics_html(view.metric_rows))
    if view.equity is not None and view.drawdown is not None:
        section("equity", plot(equity_figure(view.equity, view.drawdown)))
    if view.probability is not None:
        body = plot(probability_figure(view.probability, view.thresholds))
        if view.idle is not None:
            body += _table(display(view.idle))
        section("probability", body, view.idle_note or None)
    if view.folds is not None:
        section("folds", _table(display(view.folds), first_is_label=False))
    cols = []
    for key, table in (("labels", view.labels), ("pnl", view.pnl)):
        if table is not None:
            heading, note = SECTIONS[key]
            cols.append(
                f"<div><h3>{html.escape(heading)}</h3><p class='note'>{html.escape(note)}</p>"
                f"{_table(display(table), total_last=True)}</div>"
            )
    if cols:
        parts.append(f"<h2>{html.escape(SECTIONS['per_ticker'][0])}</h2><div class='cols'>{''.join(cols)}</div>")
    prices = price_figure([(t, view.prices(t)) for t in view.price_tickers])
    if prices is not None:
        section("prices", plot(prices))
    if view.monthly is not None:
        section("monthly", plot(monthly_figure(view.monthly)))
    if view.leverage is not None:
        section("leverage", plot(leverage_figure(view.leverage)))
    if view.trades is not None:
        section("trade_results", plot(trade_results_figure(view.trades)))
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><div class='sub'>{html.escape(view.subtitle)}</div>{''.join(parts)}</body></html>"
    )
