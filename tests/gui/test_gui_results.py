"""The Runs page's readers: run listing, headline, the view, trade filters, model metrics, downloads."""

from __future__ import annotations

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


def test_headline_figures_in_the_one_style(runs_root):
    import json

    metrics = json.loads((runs_root / "20240101-000000-aaaa" / "backtest" / "metrics.json").read_text())
    assert results.headline(runs_root / "20240101-000000-aaaa") == [
        ("Total return", f"{metrics['total_return']:+.2%}"),
        ("CAGR", "+8.10%"),
        ("Sharpe", "0.93"),
        ("Max drawdown", f"{metrics['max_drawdown']:.2%}"),
        ("Trades", "4"),
        ("Benchmark return (SPY, price index)", f"{metrics['benchmark_total_return']:+.2%}"),
    ]


def test_the_view_is_the_reports_and_changes_with_the_run(runs_root):
    from qlop.report_data import load_run, run_view

    run = runs_root / "20240101-000000-aaaa"
    view = results.view(run)
    report = run_view(load_run(run))
    assert view.metric_rows == report.metric_rows and view.answer == report.answer
    assert view.headline == results.headline(run)
    before = results.stamp(run)
    (run / "backtest" / "metrics.json").write_text('{"n_trades": 5}')
    import os

    os.utime(run / "backtest" / "metrics.json", ns=(1, 1))
    assert results.stamp(run) != before


def test_trade_filters(runs_root):
    import pandas as pd

    trades = pd.read_parquet(runs_root / "20240101-000000-aaaa" / "backtest" / "trades.parquet")
    assert len(results.filter_trades(trades)) == 4
    assert list(results.filter_trades(trades, tickers=["AAPL"])["pnl"]) == [120.0, 15.0]
    assert list(results.filter_trades(trades, tickers=["AAPL"], sides=["long"])["pnl"]) == [120.0]
    assert list(results.filter_trades(trades, reasons=["tp"])["ticker"]) == ["AAPL", "JPM"]


def test_model_metrics_importance_and_downloads(runs_root):
    run = runs_root / "20240101-000000-aaaa"
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
    assert results.headline(run) == []
    assert results.overall_model_metrics(run) is None and results.feature_importance(run) is None
    assert results.downloads(run) == [] and results.onnx_bundle_zip(run) is None
    view = results.view(run)
    assert view.equity is None and view.drawdown is None and view.monthly is None and view.folds is None
    assert view.labels is None and view.pnl is None and view.price_tickers == [] and view.metric_rows == []
