"""The Runs page's run view (AppTest): the sections of report.html, drawn from the same view models.

Each test opens the fixture run (tests/gui/conftest.py: every artefact a run leaves, a month without a
position) and checks the page against report.html built from the same run directory and against
independent references (plain loops over the fixture's equity and trades).
"""

from __future__ import annotations

import base64
import html
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

TIMEOUT = 60
RUN = "20240101-000000-aaaa"


def runs_page() -> None:
    from qlop.gui.views import runs_page

    runs_page.render()


@pytest.fixture
def run_dir(runs_root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("QLOP_GUI_RUNS_DIR", str(runs_root))
    return runs_root / RUN


def open_run(name: str = RUN) -> AppTest:
    at = AppTest.from_function(runs_page, default_timeout=TIMEOUT)
    at.query_params["run"] = name
    at.run()
    assert not at.exception, at.exception
    return at


def report_html(run_dir: Path) -> str:
    """report.html as the backtest stage writes it for this run directory."""
    from qlop.report import backtest_report
    from qlop.report_data import load_run

    return backtest_report(load_run(run_dir), title="fixture")


def report_tables(text: str) -> list[list[list[str]]]:
    """Every table of report.html as rows of cell strings (header row first where it has one)."""
    tables = []
    for table in re.findall(r"<table class='t[^']*'>(.*?)</table>", text, re.S):
        rows = re.findall(r"<tr[^>]*>(.*?)</tr>", table, re.S)
        tables.append(
            [
                [html.unescape(re.sub(r"<[^>]+>", "", c)) for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", r, re.S)]
                for r in rows
            ]
        )
    return tables


def page_tables(at: AppTest) -> list[list[list[str]]]:
    """Every static table on the page as rows of cell strings, header row first."""
    out = []
    for table in at.table:
        frame = table.value
        out.append([list(map(str, frame.columns))] + [[str(v) for v in row] for row in frame.itertuples(index=False)])
    return out


def charts(at: AppTest) -> dict[str, dict[str, Any]]:
    """The page's plotly figures by element key (``equity``, ``monthly``, ...), as plotly JSON."""
    return {_chart_key(c): json.loads(c.proto.spec) for c in at.get("plotly_chart")}


def _chart_key(chart: Any) -> str:
    match = re.search(r"(equity|probability|prices|monthly|leverage|trade_results|importance)", chart.proto.id)
    assert match, chart.proto.id
    return match.group(1)


def values(array: Any) -> np.ndarray:
    """A plotly JSON array (a list, or base64 typed-array data) as numpy."""
    if isinstance(array, dict) and "bdata" in array:
        out = np.frombuffer(base64.b64decode(array["bdata"]), dtype=np.dtype(array["dtype"]))
        shape = array.get("shape")
        return out.reshape([int(n) for n in str(shape).split(",")]) if shape else out
    return np.asarray(array)


def fixture_equity(run_dir: Path) -> pd.Series:
    return pd.read_parquet(run_dir / "backtest" / "equity.parquet")["equity"]


def capital(run_dir: Path) -> float:
    return float(json.loads((run_dir / "backtest" / "metrics.json").read_text())["initial_capital"])


def test_the_page_has_the_reports_sections_in_the_reports_order(run_dir):
    at = open_run()
    headings = [h.value for h in at.subheader if h.value not in ("Downloads", "Model")]
    report = [html.unescape(h) for h in re.findall(r"<h2>(.*?)</h2>", report_html(run_dir))]
    assert headings == report
    assert headings[:4] == ["The answer", "Configuration", "Metrics", "Equity against the benchmark, and drawdown"]
    assert "Monthly returns" in headings and "Prices, entries and exits" in headings


def test_every_table_is_the_reports_string_for_string(run_dir):
    at = open_run()
    page = page_tables(at)
    report = report_tables(report_html(run_dir))
    # the answer's assumptions, config and metrics have no header row in the report; the page names its columns
    assert page[0][1:] == report[0] and page[0][0] == ["Assumption", "Value"]
    assert report[0][0][0] == "Leverage"
    page, report = page[1:], report[1:]
    assert page[0][1:] == report[0] and page[0][0] == ["Section", "Item", "Value"]
    assert page[1][1:] == report[1] and page[1][0] == ["Metric", "Value", "Meaning"]
    # per-year probability, folds, labels per ticker, P&L per ticker: header and cells
    assert page[2:6] == report[2:6]
    assert [row[0] for row in page[5][1:]] == ["JPM", "AAPL", "MSFT", "All tickers"]  # best P&L first
    assert page[5][-1][:4] == ["All tickers", "4", "75.00%", "255.00"]
    assert page[4][0][:3] == ["Ticker", "Labelled days", "Base rate"]


def test_headline_and_metrics_read_in_human_labels_and_the_one_number_style(run_dir):
    metrics = json.loads((run_dir / "backtest" / "metrics.json").read_text())
    at = open_run()
    headline = {m.label: m.value for m in at.metric}
    assert headline == {
        "Total return": f"{metrics['total_return']:+.2%}",
        "CAGR": "+8.10%",
        "Sharpe": "0.93",
        "Max drawdown": f"{metrics['max_drawdown']:.2%}",
        "Trades": "4",
        "Benchmark return (SPY, price index)": f"{metrics['benchmark_total_return']:+.2%}",
    }
    table = at.table[2].value
    shown = dict(zip(table["Metric"], table["Value"]))
    assert shown["Total return"] == headline["Total return"] and shown["Start"] == "2012-01-02"
    assert shown["Final equity"] == f"{fixture_equity(run_dir).iloc[-1]:,.2f}"
    assert not [m for m in table["Metric"] if "_" in m], "a snake_case key reached the page"
    assert table.set_index("Metric").loc["Max drawdown", "Meaning"] == "Largest fall of equity from a previous peak."
    every_cell = [c for t in page_tables(at) for row in t for c in row]
    every_cell += [str(v) for v in at.dataframe[0].value.to_numpy().ravel()]  # the trade list
    assert not [c for c in every_cell if "00:00:00" in c]
    assert not [c for c in every_cell if re.fullmatch(r"-?[\d,]*\.\d{5,}", c)], "a raw float reached the page"
    assert not [v for v in table["Value"] if re.fullmatch(r"-?0\.\d{4,}", v)], "a raw fraction among the metrics"


def test_equity_and_drawdown_share_one_date_axis_and_the_metrics_drawdown(run_dir):
    at = open_run()
    fig = charts(at)["equity"]
    traces = {t["name"]: t for t in fig["data"]}
    assert list(traces) == ["strategy", "benchmark (rebased)", "drawdown"]
    assert traces["drawdown"]["xaxis"] == "x2" and traces["strategy"].get("xaxis", "x") == "x"
    assert fig["layout"]["xaxis"]["matches"] == "x2"  # one date axis: zoom and pan move both
    assert fig["layout"]["xaxis"]["domain"] == fig["layout"]["xaxis2"]["domain"]
    assert list(traces["strategy"]["x"]) == list(traces["drawdown"]["x"])
    equity = fixture_equity(run_dir)
    peak, expected = capital(run_dir), []
    for value in equity:  # independent reference: the initial capital is the first peak
        peak = max(peak, value)
        expected.append(value / peak - 1)
    drawdown = values(traces["drawdown"]["y"])
    np.testing.assert_allclose(drawdown, expected, rtol=0, atol=1e-12)
    metrics = json.loads((run_dir / "backtest" / "metrics.json").read_text())
    assert drawdown.min() == pytest.approx(metrics["max_drawdown"], abs=1e-12)
    assert values(traces["strategy"]["y"])[-1] == pytest.approx(equity.iloc[-1])


def test_the_drawdown_is_the_one_report_html_draws(run_dir):
    """report.html and the page draw the same drawdown series, on the same base (the initial capital)."""
    from qlop.report_data import load_run, run_view

    view = run_view(load_run(run_dir))
    at = open_run()
    page = values(next(t for t in charts(at)["equity"]["data"] if t["name"] == "drawdown")["y"])
    np.testing.assert_array_equal(page, view.drawdown.to_numpy())
    report = report_html(run_dir)
    assert "Equity against the benchmark, and drawdown" in report
    first = fixture_equity(run_dir).iloc[0]
    # not the curve's own start: a first day below the capital is already a drawdown
    assert page[0] == pytest.approx(min(0.0, first / capital(run_dir) - 1), abs=1e-15)


def test_monthly_heatmap_shows_values_blank_idle_months_and_the_reports_year_order(run_dir):
    at = open_run()
    heat = charts(at)["monthly"]
    trace = heat["data"][0]
    z = values(trace["z"]).reshape(2, 12)
    equity = fixture_equity(run_dir)
    month_end = {}
    for day, value in equity.items():  # plain loop: last equity of each month
        month_end[(day.year, day.month)] = value
    previous = capital(run_dir)
    for (year, month), value in sorted(month_end.items()):
        expected = value / previous - 1
        previous = value
        row = year - 2012
        if (year, month) == (2012, 3):
            assert np.isnan(z[row, month - 1]) and trace["text"][row][month - 1] == ""  # no position: blank
        else:
            assert z[row, month - 1] == pytest.approx(expected, abs=1e-12)
            text = f"{expected:.1%}"
            assert trace["text"][row][month - 1] == ("0.0%" if text == "-0.0%" else text)  # the one style
    assert trace["texttemplate"] == "%{text}"
    assert trace["y"] == ["2012", "2013"] and heat["layout"]["yaxis"]["autorange"] == "reversed"
    report = report_html(run_dir)
    assert '"y":["2012","2013"]' in report.replace(" ", "") and '"autorange":"reversed"' in report.replace(" ", "")


def test_prices_mark_the_chosen_tickers_entries_and_exits(run_dir):
    at = open_run()
    picker = at.selectbox(key="price_ticker")
    assert picker.options == ["AAPL (2 trades)", "MSFT (1 trade)", "JPM (1 trade)"]
    fig = charts(at)["prices"]
    traces = {t["name"]: t for t in fig["data"]}
    assert list(traces) == ["AAPL close", "entry", "exit"]
    assert list(values(traces["entry"]["y"])) == [10.0, 11.5] and list(values(traces["exit"]["y"])) == [10.5, 11.25]
    picker.set_value("JPM").run()
    traces = {t["name"]: t for t in charts(at)["prices"]["data"]}
    trades = pd.read_parquet(run_dir / "backtest" / "trades.parquet")
    jpm = trades[trades["ticker"] == "JPM"].iloc[0]
    assert list(traces) == ["JPM close", "entry", "exit"]
    assert traces["entry"]["x"][0].startswith(jpm["entry_date"].strftime("%Y-%m-%d"))
    assert list(values(traces["exit"]["y"])) == [31.5] and traces["exit"]["text"] == ["take-profit, P&L 200.00"]


def test_probability_is_drawn_against_the_entry_threshold_and_idle_years_are_named(run_dir):
    at = open_run()
    fig = charts(at)["probability"]
    assert [t["name"] for t in fig["data"]] == ["highest across tickers", "median across tickers"]
    assert sorted(s["y0"] for s in fig["layout"]["shapes"]) == [0.45, 0.55]
    assert any(c.value.startswith("No entry was possible in 2013 (highest 0.") for c in at.caption)
    idle = at.table[3].value.set_index("Year")
    assert idle.loc["2013", "Ticker-days at entry"] == "0" and idle.loc["2012", "Trades"] == "4"


def test_gross_leverage_is_shaded_under_the_dotted_net_line(run_dir):
    at = open_run()
    traces = charts(at)["leverage"]["data"]
    assert [t["name"] for t in traces] == ["gross leverage", "net leverage", "positions"]
    assert traces[0]["fill"] == "tozeroy" and "fill" not in traces[1] and traces[1]["line"]["dash"] == "dot"


def test_the_trade_list_filters_and_reads_in_the_one_style(run_dir):
    at = open_run()
    assert len(at.dataframe[0].value) == 4
    at.multiselect(key="f_ticker").set_value(["AAPL"]).run()
    shown = at.dataframe[0].value
    assert list(shown["P&L"]) == ["120.00", "15.00"] and list(shown["Entry"]) == ["2012-01-05", "2012-02-27"]
    assert list(shown["Exit reason"]) == ["take-profit", "horizon"] and list(shown["Return"]) == ["+1.20%", "+0.15%"]
    at.multiselect(key="f_ticker").set_value([]).run()
    at.multiselect(key="f_reason").set_value(["tp"]).run()
    assert list(at.dataframe[0].value["Ticker"]) == ["AAPL", "JPM"]


def test_a_run_without_a_backtest_shows_what_it_has(run_dir):
    import shutil

    shutil.rmtree(run_dir / "backtest")
    at = open_run()
    assert "This run has no backtest results." in [i.value for i in at.info]
    headings = [h.value for h in at.subheader]
    assert "Model skill per fold" in headings and "Per ticker" in headings and "Monthly returns" not in headings
    assert not at.get("plotly_chart") or "equity" not in charts(at)


def test_results_that_cannot_be_read_are_named_and_the_rest_of_the_page_stays(run_dir):
    trades = pd.read_parquet(run_dir / "backtest" / "trades.parquet")
    trades.drop(columns=["pnl"]).to_parquet(run_dir / "backtest" / "trades.parquet")
    at = open_run()
    assert at.header[0].value == RUN
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and errors[0].startswith(f"The results of {RUN} cannot be shown: KeyError:"), errors
    assert "pnl" in errors[0]
    assert [d.label for d in at.get("download_button")][0] == "report.html"
