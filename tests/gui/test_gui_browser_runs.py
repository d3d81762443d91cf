"""Real-browser test of a finished run's page: `qlop gui` in a subprocess, driven in headless Debian chromium.

The quickstart is run by the CLI (`qlop run -c examples/quickstart.toml`, the embedded dataset) into the
GUI's runs folder; its page on the Runs page must show report.html's sections in report.html's order, the
same figures as report.html and `qlop runs list` (string for string), equity and drawdown on one date
axis with the report's drawdown, the monthly heatmap with values in the report's year order, trade
markers on the price chart, the entry threshold over the predicted probability and gross leverage under
net. Screenshots of the page and of report.html go to `test-artifacts/`.
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from test_gui_browser import (  # noqa: E402, F401  (gui and page are the fixtures the browser tests share)
    ARTIFACTS,
    WAIT_MS,
    Gui,
    assert_no_token,
    gui,
    open_app,
    page,
    snap,
)

from qlop.gui.launcher import QLOP_ARGV  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.slow]

RUN = "quickstart-cli"

#: The page's (or report.html's) plotly figures: the traces' type and name, and what the checks read.
FIGURES_JS = """() => [...document.querySelectorAll('.js-plotly-plot')].map(gd => ({
    traces: gd.data.map(t => ({type: t.type, name: t.name || null, fill: t.fill || null,
                                n: t.x ? t.x.length : 0})),
    shapes: (gd.layout.shapes || []).map(s => s.y0),
}))"""

#: The trace called ``name`` as plotly.js holds it: its y values' low, count and first value, its first and
#: last date.
TRACE_JS = """([name]) => {
    const gd = [...document.querySelectorAll('.js-plotly-plot')].find(g => g.data.some(t => t.name === name));
    const t = gd._fullData.find(t => t.name === name);  // typed arrays decoded
    const y = Array.from(t.y);
    return {min: Math.min(...y), n: y.length, first: y[0], x0: String(t.x[0]), x1: String(t.x[t.x.length - 1])};
}"""

#: The equity figure's two x-axes as drawn: pixel offset and length, and date range.
AXES_JS = """() => {
    const gd = [...document.querySelectorAll('.js-plotly-plot')].find(g => g.data.some(t => t.name === 'drawdown'));
    const a = gd._fullLayout.xaxis, b = gd._fullLayout.xaxis2;
    return {offset: [a._offset, b._offset], length: [a._length, b._length], range: [a.range, b.range],
            traces: gd.data.map(t => [t.name, t.xaxis || 'x'])};
}"""

#: The heatmap as drawn: year labels top to bottom, and the cells' value texts.
HEATMAP_JS = """() => {
    const gd = [...document.querySelectorAll('.js-plotly-plot')].find(g => g.data[0].type === 'heatmap');
    const ticks = [...gd.querySelectorAll('.ytick text')].map(t => [t.textContent, t.getBoundingClientRect().y]);
    ticks.sort((p, q) => p[1] - q[1]);
    const z = Array.from(gd._fullData[0].z, row => Array.from(row));  // typed arrays decoded
    return {years: ticks.map(t => t[0]), texts: gd.data[0].text.flat().filter(s => s !== ''),
            drawn: [...gd.querySelectorAll('text')].map(t => t.textContent),
            finite: z.flat().filter(v => v !== null && Number.isFinite(v)).length};
}"""

#: The rows of every static table (st.table) on the page, as cell texts.
TABLE_ROWS_JS = """() => [...document.querySelectorAll('[data-testid="stTable"] tr')]
    .map(r => [...r.querySelectorAll('th, td')].map(c => c.innerText.trim()))"""


#: Per static table: its header texts and the computed alignment of its first row's cells.
TABLE_ALIGN_JS = """() => [...document.querySelectorAll('[data-testid="stTable"]')].map(t => {
    const row = t.querySelector('tbody tr');
    return {head: [...t.querySelectorAll('thead th')].map(c => c.innerText.trim()),
            align: row ? [...row.querySelectorAll('th, td')].map(c => getComputedStyle(c).textAlign) : []};
})"""


def report_alignments(report: str) -> dict[tuple[str, ...], list[str]]:
    """report.html's display tables: header texts -> each column's alignment (class 'v' = right)."""
    out = {}
    for head in re.findall(r"<table class='t'><thead><tr>(.*?)</tr></thead>", report):
        cells = re.findall(r"<th class='(v?)'>(.*?)</th>", head)
        out[tuple(html.unescape(text) for _, text in cells)] = ["right" if v else "left" for v, _ in cells]
    return out


def qlop(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QLOP_")}
    env["QLOP_CACHE_DIR"] = str(cwd / "cache")
    return subprocess.run([*QLOP_ARGV, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def finished(gui: Gui, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:  # noqa: F811
    """The quickstart run by the CLI into the GUI's runs folder, with `qlop runs list`'s row for it."""
    from qlop.examples import quickstart_path

    work = tmp_path_factory.mktemp("cli")
    run_dir = gui.runs_dir / RUN
    done = qlop("run", "-c", str(quickstart_path()), "--run-dir", str(run_dir), cwd=work)
    assert done.returncode == 0, done.stderr
    listed = qlop("runs", "list", "--runs-dir", str(gui.runs_dir), cwd=work)
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    assert header.split()[-7:] == ["Total", "return", "CAGR", "Sharpe", "Max", "drawdown", "Trades"]
    row = next(r for r in rows if r.startswith(f"{RUN} ")).split()
    return {
        "dir": run_dir,
        "answer": " ".join(done.stdout.split()),
        "list": dict(zip(["Total return", "CAGR", "Sharpe", "Max drawdown", "Trades"], row[-5:])),
        "report": (run_dir / "backtest" / "report.html").read_text(encoding="utf-8"),
        "metrics": json.loads((run_dir / "backtest" / "metrics.json").read_text(encoding="utf-8")),
    }


def report_value(report: str, label: str) -> str:
    found = re.search(rf"<td>{re.escape(label)}</td><td class='v'>(.*?)</td>", report)
    assert found, label
    return html.unescape(found.group(1))


def test_a_finished_runs_page_shows_the_reports_sections_and_numbers(page, gui: Gui, finished, browser):  # noqa: F811
    report = finished["report"]
    open_app(page, f"{gui.base}/runs?run={RUN}")
    page.get_by_role("heading", name="Trade results by exit reason").wait_for()
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 7", timeout=WAIT_MS)
    page.get_by_role("heading", name=RUN).wait_for()

    # the report's sections, in the report's order (the page adds its downloads and model details)
    sections = [html.unescape(h) for h in re.findall(r"<h2>(.*?)</h2>", report)]
    shown = [h.strip() for h in page.locator("h3").all_inner_texts() if h.strip() not in ("Downloads", "Model")]
    assert shown == sections, shown
    for needed in ("The answer", "Configuration", "Model skill per fold", "Per ticker", "Monthly returns"):
        assert needed in shown

    # one number, one string: page headline = page metrics table = report.html = `qlop runs list` = CLI answer
    metrics_shown = {}
    for text in page.locator('[data-testid="stMetric"]').all_inner_texts():
        label, value = [part.strip() for part in text.split("\n") if part.strip()]
        metrics_shown[label] = value
    rows = {r[0]: r[1:] for r in page.evaluate(TABLE_ROWS_JS) if len(r) >= 2}
    for label in ("Total return", "CAGR", "Sharpe", "Max drawdown", "Trades"):
        value = report_value(report, label)
        assert metrics_shown[label] == value == rows[label][0] == finished["list"][label], label
    total = metrics_shown["Total return"]
    assert re.fullmatch(r"[+-]\d+\.\d\d%", total) and f"earned {total}" in finished["answer"]
    assert rows["Start"][0] == finished["metrics"]["start"] and "00:00:00" not in page.inner_text("body")
    assert "total_return" not in page.inner_text("body")
    answer = [html.unescape(i) for i in re.findall(r"<li>(.*?)</li>", report)]
    assert answer and all(line in page.inner_text("body") for line in answer)

    # numbers right-aligned as in report.html: every table the report has, column for column
    in_report = report_alignments(report)
    tables = {tuple(t["head"]): t["align"] for t in page.evaluate(TABLE_ALIGN_JS)}
    compared = [head for head in tables if head in in_report]
    assert {"Fold", "Ticker"} <= {head[0] for head in compared}, (list(tables), list(in_report))
    for head in compared:
        assert tables[head] == in_report[head], head
    assert tables[("Metric", "Value", "Meaning")] == ["left", "right", "left"]

    # equity and drawdown: one date axis, drawn the same width at the same place; the report's drawdown
    axes = page.evaluate(AXES_JS)
    assert axes["offset"][0] == axes["offset"][1] and axes["length"][0] == axes["length"][1]
    assert axes["range"][0] == axes["range"][1]
    assert axes["traces"] == [["strategy", "x"], ["benchmark (rebased)", "x"], ["drawdown", "x2"]]
    drawdown = page.evaluate(TRACE_JS, ["drawdown"])
    assert drawdown["min"] == pytest.approx(finished["metrics"]["max_drawdown"], abs=1e-9)
    assert f"{drawdown['min']:.2%}" == metrics_shown["Max drawdown"]

    # monthly returns: a value in every month with a position, years top to bottom as in report.html
    heat = page.evaluate(HEATMAP_JS)
    assert heat["finite"] == len(heat["texts"]) > 12
    assert all(re.fullmatch(r"-?\d+\.\d%", t) for t in heat["texts"])
    assert set(heat["texts"]) <= set(heat["drawn"]), "cell values are not drawn"
    assert heat["years"] == sorted(heat["years"])

    figures = page.evaluate(FIGURES_JS)
    by_first = {f["traces"][0]["name"]: f for f in figures}
    # prices: the first ticker's entries and exits, as many as its trades
    import pandas as pd

    trades = pd.read_parquet(finished["dir"] / "backtest" / "trades.parquet")
    price = next(f for f in figures if (f["traces"][0]["name"] or "").endswith(" close"))
    ticker = price["traces"][0]["name"].removesuffix(" close")
    assert ticker == trades["ticker"].value_counts().index[0]
    n = int((trades["ticker"] == ticker).sum())
    assert [(t["name"], t["n"]) for t in price["traces"][1:]] == [("entry", n), ("exit", n)]
    # the predicted probability against the entry threshold; gross leverage shaded under net
    entry = finished["metrics"]["probability_thresholds"]["entry"]
    assert entry in by_first["highest across tickers"]["shapes"]
    lev = [(t["name"], t["fill"]) for t in by_first["gross leverage"]["traces"]]
    assert lev == [("gross leverage", "tozeroy"), ("net leverage", None), ("positions", None)]
    assert_no_token(page, gui)
    snap(page, "gui-run-page.png")

    # report.html in the same browser: the same drawdown and the same year order
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        other = context.new_page()
        other.goto((finished["dir"] / "backtest" / "report.html").as_uri())
        other.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 6", timeout=WAIT_MS)
        other.wait_for_timeout(1000)
        in_report = other.evaluate(TRACE_JS, ["drawdown"])
        assert in_report == drawdown
        assert other.evaluate(HEATMAP_JS)["years"] == heat["years"]
        assert other.evaluate(HEATMAP_JS)["texts"] == heat["texts"]
        other.screenshot(path=str(ARTIFACTS / "gui-run-page-report.png"), full_page=True)
    finally:
        context.close()
