"""A sweep's results table (``results.parquet``) and its self-contained HTML report.

The report is one file (plotly.js inline, no network): the trial statistics in words ("best of N
tried", the Sharpe a lucky best of N would show), a table of every variant sortable by any column, a
heatmap of a metric chosen in the page over two axes chosen in the page (the mean over any other
axes), and the distribution of Sharpe ratios across the variants with the deflation threshold marked.
"""

from __future__ import annotations

import html
import json
import math
from typing import Any

from qlop.layout import RunLayout
from qlop.scale.layout import SweepLayout
from qlop.scale.sweepfile import value_text

#: Metric columns of the results table, in order (labels and number styles: qlop.formatting).
METRIC_COLUMNS = (
    "sharpe",
    "cagr",
    "max_drawdown",
    "total_return",
    "n_trades",
    "auc",
    "log_loss",
    "base_rate",
    "deflated_sharpe",
)


def _axis_column(values: list[Any]) -> list[Any]:
    """One parquet-friendly type per axis column: numbers, strings or booleans; anything else as text."""
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return values
    if present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        if all(isinstance(v, int) for v in present):
            return values
        return [None if v is None else float(v) for v in values]
    if all(isinstance(v, str) for v in present):
        return values
    return [None if v is None else value_text(v) for v in values]


def results_frame(summary: dict[str, Any]) -> Any:
    """One row per variant: id, status, every axis value, the headline metrics, the deflated Sharpe."""
    import pandas as pd

    variants = summary["variants"]
    axes = [a["path"] for a in summary["axes"]]
    columns: dict[str, list[Any]] = {"variant": [v["id"] for v in variants], "status": [v["status"] for v in variants]}
    for axis in axes:
        columns[axis] = _axis_column([v["values"].get(axis) for v in variants])
    for metric in METRIC_COLUMNS:
        if metric == "deflated_sharpe":
            raw = [v.get("deflated_sharpe") for v in variants]
        else:
            raw = [(v.get("metrics") or {}).get(metric) for v in variants]
        if metric == "n_trades":
            columns[metric] = pd.array([None if x is None else int(x) for x in raw], dtype="Int64")
        else:
            columns[metric] = [math.nan if x is None else float(x) for x in raw]
    return pd.DataFrame(columns)


_CSS = """
body{font-family:-apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:24px;color:#1f2933}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 6px}.sub{color:#616e7c;font-size:13px}
p.stats{max-width:900px;font-size:14px;line-height:1.5}
table.res{border-collapse:collapse;font-size:12px}table.res th,table.res td{padding:3px 8px;border-bottom:1px solid #e4e7eb}
table.res th{cursor:pointer;background:#f5f7fa;position:sticky;top:0;text-align:left;white-space:nowrap}
table.res td.n{text-align:right;font-variant-numeric:tabular-nums}tr.failed td{color:#b42318}
.controls label{margin-right:14px;font-size:13px}.plot{width:100%;max-width:1100px}
"""

_JS = """
(function(){
const D = JSON.parse(document.getElementById('sweep-data').textContent);
// sortable table: click a header to sort by it, click again to reverse
document.querySelectorAll('table.res th').forEach(function(th, col){
  th.addEventListener('click', function(){
    const tbody = th.closest('table').tBodies[0];
    const asc = th.dataset.dir !== 'asc';
    th.closest('tr').querySelectorAll('th').forEach(function(h){ delete h.dataset.dir; });
    th.dataset.dir = asc ? 'asc' : 'desc';
    const rows = Array.from(tbody.rows);
    rows.sort(function(a, b){
      const x = a.cells[col].dataset.v, y = b.cells[col].dataset.v;
      const nx = parseFloat(x), ny = parseFloat(y);
      let c;
      if (x === '' && y === '') c = 0; else if (x === '') return 1; else if (y === '') return -1;
      else if (!isNaN(nx) && !isNaN(ny) && String(nx) === x && String(ny) === y) c = nx - ny;
      else c = x < y ? -1 : (x > y ? 1 : 0);
      return asc ? c : -c;
    });
    rows.forEach(function(r){ tbody.appendChild(r); });
  });
});
// heatmap of the chosen metric over the chosen axes (mean over the other axes)
function fill(id, options, chosen){
  const s = document.getElementById(id);
  options.forEach(function(o){ const e = document.createElement('option'); e.value = o; e.textContent = o;
    if (o === chosen) e.selected = true; s.appendChild(e); });
  s.addEventListener('change', heatmap);
}
const NONE = '(none)';
fill('hm-metric', D.metrics, D.default_metric);
fill('hm-x', D.axes, D.axes[0]);
fill('hm-y', D.axes.concat([NONE]), D.axes.length > 1 ? D.axes[1] : NONE);
function key(v){ return typeof v === 'string' ? v : JSON.stringify(v); }
function heatmap(){
  const m = document.getElementById('hm-metric').value, ax = document.getElementById('hm-x').value,
        ay = document.getElementById('hm-y').value;
  const xs = [], ys = [], cells = {};
  D.rows.forEach(function(r){
    const v = r[m]; if (v === null || v === undefined || !isFinite(v)) return;
    const x = key(r.values[ax]), y = ay === NONE ? '' : key(r.values[ay]);
    if (xs.indexOf(x) < 0) xs.push(x); if (ys.indexOf(y) < 0) ys.push(y);
    const c = cells[x + '\\u0000' + y] = cells[x + '\\u0000' + y] || [0, 0]; c[0] += v; c[1] += 1;
  });
  const order = function(a){ return a.slice().sort(function(p, q){ const np = parseFloat(p), nq = parseFloat(q);
    return (!isNaN(np) && !isNaN(nq)) ? np - nq : (p < q ? -1 : p > q ? 1 : 0); }); };
  const X = order(xs), Y = order(ys);
  const z = Y.map(function(y){ return X.map(function(x){ const c = cells[x + '\\u0000' + y];
    return c ? c[0] / c[1] : null; }); });
  Plotly.react('heatmap', [{type: 'heatmap', x: X, y: Y, z: z, colorscale: 'RdYlGn', texttemplate: '%{z:.3f}',
    hovertemplate: ax + ' = %{x}<br>' + (ay === NONE ? '' : ay + ' = %{y}<br>') + m + ' = %{z:.4f}<extra></extra>'}],
    {height: Math.max(280, 60 * Y.length + 140), margin: {l: 110, r: 20, t: 20, b: 60},
     xaxis: {title: ax, type: 'category'}, yaxis: {title: ay === NONE ? '' : ay, type: 'category'},
     template: 'plotly_white'}, {displaylogo: false, responsive: true});
}
heatmap();
// distribution of the variants' Sharpe ratios, with the deflation threshold SR0
const sr = D.rows.map(function(r){ return r.sharpe; }).filter(function(v){ return v !== null && isFinite(v); });
const shapes = [], notes = [];
if (D.sr0_annualized !== null) {
  shapes.push({type: 'line', x0: D.sr0_annualized, x1: D.sr0_annualized, yref: 'paper', y0: 0, y1: 1,
               line: {color: '#d62728', dash: 'dash'}});
  notes.push({x: D.sr0_annualized, yref: 'paper', y: 1, text: 'SR0 (best of N by luck)', showarrow: false,
              xanchor: 'left', font: {color: '#d62728'}});
}
Plotly.newPlot('sharpe-dist', [{type: 'histogram', x: sr, nbinsx: Math.min(40, Math.max(5, sr.length)),
  marker: {color: '#1f77b4'}}], {height: 320, margin: {l: 60, r: 20, t: 30, b: 50}, shapes: shapes,
  annotations: notes, xaxis: {title: 'Sharpe ratio (annualised)'}, yaxis: {title: 'variants'},
  template: 'plotly_white'}, {displaylogo: false, responsive: true});
})();
"""


def _cell(value: Any, metric: str | None = None) -> tuple[str, str, bool]:
    """(sort value, shown text, numeric?) of a table cell; metrics in QLOP's one number style."""
    from qlop.formatting import MISSING, format_metric

    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "", MISSING, True
    if isinstance(value, bool):
        return str(value).lower(), str(value).lower(), False
    if isinstance(value, (int, float)):
        shown = format_metric(metric, value) if metric else value_text(value)
        return repr(float(value)) if isinstance(value, float) else str(value), shown, True
    text = value_text(value)
    return text, text, False


def _statistics_text(summary: dict[str, Any]) -> str:
    from qlop.formatting import format_metric

    stats = summary.get("statistics")
    ledger = summary.get("trials_ledger") or {}
    counts = summary.get("counts") or {}
    if not stats:
        return "<p class='stats'>No variant has a backtest, so there are no Sharpe ratios to deflate.</p>"
    best = stats["best"]
    n_tried = ledger.get("n_tried")
    tried = (
        (
            f" Counting every distinct backtested config of <b>{html.escape(str(ledger.get('name')))}</b> ever run "
            f"(its trials ledger), this is the <b>best of {n_tried} tried</b>."
        )
        if n_tried
        else ""
    )
    dsr = best.get("deflated_sharpe")
    dsr_text = "undefined" if dsr is None else format_metric("deflated_sharpe", dsr)
    return (
        f"<p class='stats'>Best variant <b>{html.escape(best['variant'])}</b>: Sharpe "
        f"<b>{format_metric('sharpe', best.get('sharpe'))}</b> (annualised), deflated Sharpe <b>{dsr_text}</b> "
        f"(the probability that its true Sharpe beats what the luckiest of {stats['n_trials']} skill-less "
        f"variants would show).{tried} "
        f"SR0, the expected maximum Sharpe of {stats['n_trials']} trials under the variance of the Sharpe "
        f"ratios across them (Bailey &amp; Lopez de Prado 2014), is {stats['sr0_annualized']:.3f} annualised "
        f"({stats['sr0']:.4f} per day; cross-trial variance {stats['sharpe_variance']:.3g} per day). "
        f"{counts.get('completed', 0)} of {summary['n_variants']} variants completed"
        f"{', ' + str(counts.get('failed')) + ' failed' if counts.get('failed') else ''}"
        f"{', ' + str(counts.get('interrupted')) + ' interrupted' if counts.get('interrupted') else ''}.</p>"
    )


def _finite(data: Any) -> Any:
    """``data`` with NaN and infinities as null (JSON has neither)."""
    if isinstance(data, dict):
        return {k: _finite(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_finite(v) for v in data]
    if isinstance(data, float) and not math.isfinite(data):
        return None
    return data


def sweep_report(summary: dict[str, Any], frame: Any) -> str:
    """The whole report as one HTML string."""
    from plotly.offline import get_plotlyjs

    from qlop.formatting import metric_help, metric_label

    axes = [a["path"] for a in summary["axes"]]
    metrics = [m for m in METRIC_COLUMNS if m in frame.columns and frame[m].notna().any()] or ["sharpe"]
    rows = []
    for variant in summary["variants"]:
        row = {"id": variant["id"], "values": variant["values"], "deflated_sharpe": variant.get("deflated_sharpe")}
        row.update({m: (variant.get("metrics") or {}).get(m) for m in METRIC_COLUMNS if m != "deflated_sharpe"})
        rows.append(row)
    stats = summary.get("statistics") or {}
    data = {
        "rows": rows,
        "axes": axes,
        "metrics": metrics,
        "default_metric": "sharpe" if "sharpe" in metrics else metrics[0],
        "sr0_annualized": stats.get("sr0_annualized"),
    }
    head = [
        ("variant", ""),
        ("status", ""),
        *[(a, "") for a in axes],
        *[(metric_label(m), metric_help(m)) for m in METRIC_COLUMNS],
        ("run", ""),
    ]
    body = []
    for variant in summary["variants"]:
        cells = [_cell(variant["id"]), _cell(variant["status"])]
        cells += [_cell(variant["values"].get(a)) for a in axes]
        for m in METRIC_COLUMNS:
            value = variant.get("deflated_sharpe") if m == "deflated_sharpe" else (variant.get("metrics") or {}).get(m)
            cells.append(_cell(value, m))
        tds = "".join(
            f"<td data-v='{html.escape(v, quote=True)}'{' class=n' if num else ''}>{html.escape(t)}</td>"
            for v, t, num in cells
        )
        run_dir = variant.get("run_dir") or ""
        if variant["status"] == "completed" and run_dir:
            name = run_dir.rstrip("/").rsplit("/", 1)[-1]
            report = f"{SweepLayout.RUNS_DIR}/{name}/{RunLayout.BACKTEST_DIR}/{RunLayout.REPORT}"
            link = f"<a href='{html.escape(report, quote=True)}'>{html.escape(name)}</a>"
        else:
            link = html.escape(variant.get("error") or "")
        cls = " class='failed'" if variant["status"] == "failed" else ""
        body.append(f"<tr{cls}>{tds}<td data-v='{html.escape(run_dir, quote=True)}'>{link}</td></tr>")
    ths = "".join(
        f"<th title='{html.escape(tip, quote=True)}'>{html.escape(h)}</th>" if tip else f"<th>{html.escape(h)}</th>"
        for h, tip in head
    )
    table = f"<table class='res'><thead><tr>{ths}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    title = f"Sweep {summary['name']}"
    sub = (
        f"{summary['n_variants']} variants &middot; {summary['mode']} over {len(axes)} axes &middot; "
        f"status {html.escape(summary['status'])} &middot; {summary.get('seconds', 0):.0f} s"
    )
    controls = (
        "<div class='controls'><label>metric <select id='hm-metric'></select></label>"
        "<label>x axis <select id='hm-x'></select></label>"
        "<label>y axis <select id='hm-y'></select></label></div>"
    )
    payload = json.dumps(_finite(data), default=str, allow_nan=False).replace("</", "<\\/")
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style>"
        f"<script>{get_plotlyjs()}</script></head><body>"
        f"<h1>{html.escape(title)}</h1><div class='sub'>{sub}</div>"
        f"<h2>Trials</h2>{_statistics_text(summary)}"
        f"<h2>Variants</h2><div class='sub'>click a column to sort</div>{table}"
        f"<h2>Heatmap</h2>{controls}<div id='heatmap' class='plot'></div>"
        f"<h2>Sharpe across variants</h2><div id='sharpe-dist' class='plot'></div>"
        f"<script type='application/json' id='sweep-data'>{payload}</script>"
        f"<script>{_JS}</script></body></html>"
    )
