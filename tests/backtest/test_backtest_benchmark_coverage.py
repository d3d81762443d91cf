"""The benchmark's kind and coverage: a benchmark that ends early (or starts late) used to be drawn flat
(forward-filled) with alpha and beta computed over the overlap, and nothing said so; a price index was
compared with dividend-adjusted stocks without saying which it was."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qlop.config import config_from_data, validate_plugins
from qlop.errors import ConfigError
from qlop.stages import backtest as stage

SAMPLE = Path(__file__).resolve().parents[2] / "qlop_contrib" / "data" / "ohlcv"


def _config(benchmark, start="2012-01-01", end="2013-12-31", **backtest):
    return config_from_data(
        {
            "name": "bench",
            "data": {"data_source_type": "sample", "tickers": ["AAPL", "KO"], "start_date": start, "end_date": end},
            "backtest": {
                "strategy_type": "sma_crossover",
                "strategy_params": {"fast": 5, "slow": 20},
                "leverage": 2.0,
                "position_size": 0.3,
                "benchmark": benchmark,
                **backtest,
            },
        }
    )


def _short_spy(tmp_path: Path, last: str = "2013-06-28") -> dict:
    """SPY from the sample, cut at ``last``: a benchmark that ends before the backtest does."""
    folder = tmp_path / "bench"
    folder.mkdir()
    spy = pd.read_csv(SAMPLE / "SPY.csv")
    spy[spy["Date"] <= last].to_csv(folder / "SPYX.csv", index=False)
    return {
        "data_source_type": "csv",
        "data_source_params": {"path": str(folder)},
        "ticker": "SPYX",
        "kind": "total_return",
    }


def test_a_benchmark_ending_early_is_an_error_naming_both_ranges(tmp_path):
    with pytest.raises(ConfigError) as info:
        stage.run(_config(_short_spy(tmp_path)), tmp_path / "run")
    assert str(info.value) == (
        "backtest.benchmark: 'SPYX' has bars 2012-01-03 .. 2013-06-28, which do not cover the backtest window "
        "2012-01-03 .. 2013-12-31 (it ends 186 days early); choose a benchmark that does, or set "
        'backtest.benchmark_partial = "overlap" to compare over 2012-01-03 .. 2013-06-28 only'
    )
    assert not (tmp_path / "run" / "backtest").exists()


def test_a_benchmark_starting_late_is_an_error_too(tmp_path):
    # SPY's file starts 2005-02-25; a price-only strategy trades from the data's first date
    with pytest.raises(
        ConfigError,
        match=r"'SPY' has bars 2005-02-25 \.\. 2005-12-30, which do not cover the "
        r"backtest window 2004-06-01 \.\. 2005-12-30 \(it starts 269 days late\)",
    ):
        stage.run(_config("SPY", start="2004-06-01", end="2005-12-31"), tmp_path / "run")


def test_overlap_is_a_warning_and_is_stated(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="qlop.benchmark"):
        written = stage.run(_config(_short_spy(tmp_path), benchmark_partial="overlap"), tmp_path / "run")
    assert any("covers 2012-01-03 .. 2013-06-28 only" in r.getMessage() for r in caplog.records)
    metrics = json.loads(Path(written["metrics"]).read_text())
    assert metrics["benchmark_coverage"] == {
        "first": "2012-01-03",
        "last": "2013-06-28",
        "window_start": "2012-01-03",
        "window_end": "2013-12-31",
        "complete": False,
        "overlap_start": "2012-01-03",
        "overlap_end": "2013-06-28",
    }
    spy = pd.read_csv(SAMPLE / "SPY.csv", index_col="Date", parse_dates=True)["Close"].loc["2012-01-03":"2013-06-28"]
    assert metrics["benchmark_total_return"] == pytest.approx(spy.iloc[-1] / spy.iloc[0] - 1.0, rel=1e-12)
    assert metrics["beta"] is not None
    equity = pd.read_parquet(written["equity"])
    after = equity.loc["2013-07-01":, "benchmark"]
    assert len(after) > 100 and after.isna().all(), "no flat line after the benchmark's last bar"
    assert equity.loc[:"2013-06-28", "benchmark"].notna().all()
    html = Path(written["report"]).read_text(encoding="utf-8")
    assert "benchmark SPYX, total return, 2012-01-03 to 2013-06-28 only" in html


def test_kind_comes_from_the_config_or_the_data_source(tmp_path):
    from qlop.benchmark import benchmark_kind

    assert benchmark_kind(_config("SPY")) == "total_return"  # split- and dividend-adjusted
    assert benchmark_kind(_config("GSPC")) == "price"  # the S&P 500 index, no dividends
    assert benchmark_kind(_config({"ticker": "GSPC", "kind": "total_return"})) == "total_return"
    unknown = _short_spy(tmp_path)
    del unknown["kind"]
    with pytest.raises(
        ConfigError,
        match=r"^backtest\.benchmark\.kind: data source 'csv' does not say whether "
        r"'SPYX' includes dividends; set kind = \"price\"",
    ):
        validate_plugins(_config(unknown))


def test_the_default_benchmark_is_total_return_spy_and_said_so(tmp_path):
    written = stage.run(_config(True), tmp_path / "run")
    metrics = json.loads(Path(written["metrics"]).read_text())
    assert (metrics["benchmark"], metrics["benchmark_kind"]) == ("SPY", "total_return")
    gspc = json.loads(Path(stage.run(_config("GSPC"), tmp_path / "g")["metrics"]).read_text())
    assert gspc["benchmark_kind"] == "price"
    # dividends: over 2012-2013 the total-return S&P beat the price index
    assert metrics["benchmark_total_return"] > gspc["benchmark_total_return"] + 0.03
    from qlop.formatting import metric_rows

    labels = [label for label, _, _ in metric_rows(metrics)]
    assert "Benchmark return (SPY, total return)" in labels


def test_qlop_run_fails_before_training_when_the_benchmark_ends_before_the_data(tmp_path):
    from qlop.stages.pipeline import run_pipeline

    config = _config(_short_spy(tmp_path, last="2012-12-31"))
    with pytest.raises(
        ConfigError,
        match=r"'SPYX' has bars 2012-01-03 \.\. 2012-12-31, which end 365 days before "
        r"the data \(2012-01-03 \.\. 2013-12-31\)",
    ):
        run_pipeline(config, tmp_path / "run")
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["stages"]["data"]["status"] == "completed"
    assert manifest["stages"]["backtest"]["status"] == "pending"
    assert not np.any([p.name == "backtest" for p in (tmp_path / "run").iterdir()])


def test_answer_names_the_benchmark_and_its_kind(tmp_path):
    from qlop.answer import strategy_line

    run = tmp_path / "run"
    written = stage.run(_config(_short_spy(tmp_path), benchmark_partial="overlap"), run)
    line = strategy_line(json.loads(Path(written["metrics"]).read_text()))
    assert " for SPYX, total return, 2012-01-03 to 2013-06-28 only;" in line
