"""The Runs page's readers: run listing, metrics, monthly returns, trade filters, label stats."""

from __future__ import annotations

import numpy as np

from qlop.gui import results
from qlop.layout import resolve_run
from qlop.runs import list_runs


def test_runs_are_listed_newest_first_and_only_with_a_manifest(runs_root):
    runs = list_runs(runs_root)
    assert [r.run_id for r in runs] == ["20240301-000000-bbbb", "20240101-000000-aaaa"]
    assert runs[0].name == "cfg-20240301-000000-bbbb"
    assert list(runs[0].stages) == ["data", "backtest"]
    assert list_runs(runs_root / "missing") == []


def test_run_names_from_the_url_cannot_escape_the_runs_folder(runs_root):
    assert resolve_run(runs_root, "20240101-000000-aaaa") == runs_root / "20240101-000000-aaaa"
    for bad in ("..", "../runs/20240101-000000-aaaa", "/etc", "not-a-run", ""):
        assert resolve_run(runs_root, bad) is None


def test_metrics_table_flattens_benchmark(runs_root):
    table = results.metrics_table(runs_root / "20240101-000000-aaaa")
    rows = dict(zip(table["metric"], table["value"]))
    assert rows == {
        "CAGR": "+8.10%",
        "Sharpe": "0.93",
        "Max drawdown": "-12.00%",
        "Trades": "4",
        "Benchmark: CAGR": "+5.00%",
        "Benchmark: Sharpe": "0.60",
    }
    meaning = dict(zip(table["metric"], table["meaning"]))
    assert meaning["Max drawdown"] == "Largest fall of equity from a previous peak."
    assert [results.format_value(v) for v in (102965.2945, -0.0071239, 1511, None)] == [
        "102,965.29",
        "-0.0071",
        "1,511",
        "None",
    ]


def test_headline_figures(runs_root):
    assert results.headline(runs_root / "20240101-000000-aaaa") == [
        ("CAGR", "+8.10%"),
        ("Sharpe", "0.93"),
        ("Max drawdown", "-12.00%"),
        ("Trades", "4"),
    ]


def test_monthly_returns_compound_daily_equity(runs_root):
    equity = results.equity_frame(runs_root / "20240101-000000-aaaa")
    table = results.monthly_returns(equity)
    series = equity.set_index("date")["equity"]
    feb_2012 = series["2012-02"].iloc[-1] / series["2012-01"].iloc[-1] - 1
    jan_2012 = series["2012-01"].iloc[-1] / series.iloc[0] - 1
    assert np.isclose(table.loc[2012, 2], feb_2012)
    assert np.isclose(table.loc[2012, 1], jan_2012)
    # compounding the months gives the whole period's return
    assert np.isclose(
        np.prod(1 + table.to_numpy()[~np.isnan(table.to_numpy())]) - 1, series.iloc[-1] / series.iloc[0] - 1
    )


def test_figures_are_built(runs_root):
    run = runs_root / "20240101-000000-aaaa"
    equity = results.equity_frame(run)
    fig = results.equity_figure(equity)
    assert [t.name for t in fig.data] == ["strategy", "benchmark"]
    # the benchmark is rebased onto the strategy's starting equity
    assert np.isclose(fig.data[1].y[0], equity["equity"].iloc[0])
    dd = results.drawdown_figure(equity).data[0].y
    assert dd.max() <= 0 and np.isclose(dd.min(), (equity["equity"] / equity["equity"].cummax() - 1).min())
    traces = {t.name: t for t in results.exposure_figure(equity).data}
    assert set(traces) == {"gross leverage", "net leverage", "open positions"}
    assert np.allclose(traces["net leverage"].y, equity["net_exposure"] / equity["equity"])
    assert traces["open positions"].yaxis == "y2"
    assert results.monthly_heatmap(equity).data[0].z.shape == (2, 12)


def test_trade_filters(runs_root):
    trades = results.trades_frame(runs_root / "20240101-000000-aaaa")
    assert len(results.filter_trades(trades)) == 4
    assert list(results.filter_trades(trades, tickers=["AAPL"])["pnl"]) == [120.0, 15.0]
    assert list(results.filter_trades(trades, tickers=["AAPL"], sides=["long"])["pnl"]) == [120.0]
    assert list(results.filter_trades(trades, reasons=["tp"])["ticker"]) == ["AAPL", "JPM"]


def test_label_base_rates_and_exit_mix(runs_root):
    rates, mix = results.label_stats(runs_root / "20240101-000000-aaaa")
    rates = rates.set_index("ticker")
    assert np.isclose(rates.loc["AAPL", "base_rate"], 0.4) and rates.loc["AAPL", "rows"] == 50
    assert rates.loc["MSFT", "rows"] == 45  # unknown labels (NaN) are not counted
    assert dict(zip(mix["exit_reason"], mix["count"])) == {"tp": 38, "sl": 38, "horizon": 19}


def test_model_metrics_importance_and_downloads(runs_root):
    run = runs_root / "20240101-000000-aaaa"
    assert list(results.fold_metrics(run)["auc"]) == [0.55, 0.57]
    assert results.overall_model_metrics(run) == {"auc": 0.56}
    assert list(results.feature_importance(run)["feature"]) == ["ret_5", "rsi_14"]
    assert [d[0] for d in results.downloads(run)] == ["report.html", "predictions.parquet", "bundle.json", "model.onnx"]
    import io
    import zipfile

    names = zipfile.ZipFile(io.BytesIO(results.onnx_bundle_zip(run))).namelist()
    assert sorted(names) == ["bundle.json", "model.onnx"]


def test_missing_artefacts_give_none(tmp_path):
    run = tmp_path / "r"
    run.mkdir()
    (run / "manifest.json").write_text("{}")
    assert results.metrics_table(run) is None
    assert results.equity_frame(run) is None
    assert results.label_stats(run) == (None, None)
    assert results.fold_metrics(run) is None and results.feature_importance(run) is None
    assert results.downloads(run) == [] and results.onnx_bundle_zip(run) is None


def test_report_and_gui_draw_the_same_monthly_returns(runs_root):
    """One monthly-returns table (qlop.report_data.monthly_returns): report.html and the Runs page agree,
    the first month measured against the capital the backtest started with, a month without any
    position blank in both."""
    import json

    import pandas as pd

    from qlop.layout import RunLayout
    from qlop.report import monthly_figure
    from qlop.report_data import initial_capital, load_run, monthly_returns

    run = RunLayout(runs_root / "20240101-000000-aaaa")
    capital = 100_000.0
    metrics = json.loads(run.backtest_metrics.read_text())
    run.backtest_metrics.write_text(json.dumps({**metrics, "initial_capital": capital}))
    frame = pd.read_parquet(run.equity)
    idle = (frame.index >= "2012-03-01") & (frame.index <= "2012-03-31")
    frame.loc[idle, "n_positions"] = 0
    frame.loc[idle, "equity"] = frame.loc[frame.index < "2012-03-01", "equity"].iloc[-1]
    frame.to_parquet(run.equity)

    report = load_run(run.root)  # what report.html reads
    report_z = np.asarray(
        monthly_figure(monthly_returns(report.equity, initial_capital(report.metrics, report.equity))).data[0].z,
        dtype=float,
    )
    equity = results.equity_frame(run.root)  # what the Runs page reads
    gui_z = np.asarray(results.monthly_heatmap(equity, results.initial_capital(run.root)).data[0].z, dtype=float)
    np.testing.assert_allclose(gui_z / 100, report_z, rtol=1e-12, equal_nan=True)
    assert report_z.shape == (2, 12) and np.isnan(report_z[0, 2])  # March 2012: no position
    first_month = frame["equity"]["2012-01"].iloc[-1] / capital - 1
    assert np.isclose(report_z[0, 0], first_month)
    assert not np.isclose(report_z[0, 0], frame["equity"]["2012-01"].iloc[-1] / frame["equity"].iloc[0] - 1)
