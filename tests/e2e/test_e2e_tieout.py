"""The backtest's figures tie out, on a real run, against recomputations that share no code with QLOP.

A walk-forward XGBoost run on real sample tickers, traded long and short at 3.5x with costs, financing,
borrow fees and liquidations; then, from the written artefacts only: trade P&L sums to the equity's
change, each trade's P&L is its notional change less fees and financing, every entry is the next open
after a qualifying prediction, the benchmark's return is SPY's from its CSV, and the headline metrics
match empyrical on the equity curve.
"""

from __future__ import annotations

import json
from pathlib import Path

import empyrical
import numpy as np
import pandas as pd
import pytest

from qlop.config import PipelineConfig, load_config
from qlop.stages import backtest as backtest_stage
from qlop.stages import data as data_stage
from qlop.stages import features as features_stage
from qlop.stages import train as train_stage

ROOT = Path(__file__).parents[2]
SPY_CSV = ROOT / "qlop_contrib" / "data" / "ohlcv" / "SPY.csv"
CAPITAL = 100_000.0
ENTRY, SHORT_ENTRY = 0.47, 0.43


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> dict:
    raw = load_config(ROOT / "examples" / "quickstart.toml").model_dump(mode="json")
    raw["data"].update(tickers=["AAPL", "JPM", "KO", "XOM", "INTC"], start_date="2006-01-01", end_date="2013-12-31")
    raw["model"]["model_params"].update(n_estimators=40, nthread=1)
    raw["model"]["validation"].update(train_years=3.0, test_months=12)
    raw["backtest"].update(
        initial_capital=CAPITAL,
        leverage=3.5,
        position_size=0.25,
        max_positions=4,
        max_gross_leverage=4.0,
        borrow_fee=0.02,
        liquidation_fee=0.01,
    )
    raw["backtest"]["strategy_params"].update(entry=ENTRY, short_entry=SHORT_ENTRY)
    raw["export"] = None
    config = PipelineConfig.model_validate(raw)
    run_dir = tmp_path_factory.mktemp("tieout")
    data_stage.run(config, run_dir)
    features_stage.run(config, run_dir)
    train_stage.run(config, run_dir)
    backtest_stage.run(config, run_dir)
    return {
        "panel": pd.read_parquet(run_dir / "data.parquet"),
        "predictions": pd.read_parquet(run_dir / "predictions.parquet"),
        "equity": pd.read_parquet(run_dir / "backtest" / "equity.parquet"),
        "trades": pd.read_parquet(run_dir / "backtest" / "trades.parquet"),
        "metrics": json.loads((run_dir / "backtest" / "metrics.json").read_text()),
    }


def test_the_run_exercises_longs_shorts_and_liquidations(run):
    trades = run["trades"]
    assert len(trades) > 100
    assert set(trades["side"]) == {"long", "short"}
    assert {"tp", "sl", "liquidation", "horizon"} <= set(trades["exit_reason"])


def test_trade_pnl_sums_to_the_equity_change_and_each_trade_adds_up(run):
    trades, equity, m = run["trades"], run["equity"], run["metrics"]
    assert equity["n_positions"].iloc[-1] == 0  # every trade closed: the book is all cash
    assert trades["pnl"].sum() == pytest.approx(equity["equity"].iloc[-1] - CAPITAL, abs=1e-6)
    assert m["final_equity"] == pytest.approx(equity["equity"].iloc[-1], abs=1e-9)
    sign = np.where(trades["side"] == "long", 1.0, -1.0)
    gross = sign * (trades["exit_notional"] - trades["entry_notional"])
    np.testing.assert_allclose(gross - trades["fees"] - trades["financing"], trades["pnl"], atol=1e-6)
    assert (trades["pnl"] >= -trades["margin"] - 1e-6).all(), "isolated margin: a trade loses at most its margin"
    assert m["fees_paid"] == pytest.approx(trades["fees"].sum())
    assert m["financing_paid"] == pytest.approx(trades["financing"].sum())
    assert m["n_trades"] == len(trades)
    assert m["liquidations"] == int((trades["exit_reason"] == "liquidation").sum())
    assert m["win_rate"] == pytest.approx((trades["pnl"] > 0).mean())


def test_every_entry_is_the_next_open_after_a_qualifying_prediction(run):
    panel, preds, trades = run["panel"], run["predictions"]["prob"], run["trades"]
    for row in trades.itertuples():
        bars = panel.loc[row.ticker]
        pos = bars.index.get_loc(row.signal_date)
        assert bars.index[pos + 1] == row.entry_date
        assert row.entry_price == pytest.approx(bars["open"].iloc[pos + 1], rel=5e-4)  # + slippage
        prob = preds.loc[(row.ticker, row.signal_date)]
        assert prob >= ENTRY if row.side == "long" else prob <= SHORT_ENTRY
    assert run["equity"].index[0] == preds.index.get_level_values("date").min()


def test_benchmark_return_is_spys_over_the_same_window(run):
    equity, m = run["equity"], run["metrics"]
    assert (m["benchmark"], m["benchmark_kind"]) == ("SPY", "total_return")  # the quickstart's benchmark
    spy = pd.read_csv(SPY_CSV, index_col="Date", parse_dates=["Date"])["Close"]
    first, last = equity.index[0], equity.index[-1]
    expected = spy.loc[last] / spy.loc[first] - 1.0
    assert m["benchmark_total_return"] == pytest.approx(expected, rel=1e-12)
    assert equity["benchmark"].iloc[-1] / CAPITAL - 1.0 == pytest.approx(expected, rel=1e-12)


def test_headline_metrics_match_empyrical_on_the_equity_curve(run):
    equity, m = run["equity"]["equity"], run["metrics"]
    # QLOP's documented convention: the first day's return is against the initial capital
    r = pd.Series(np.r_[equity.iloc[0] / CAPITAL, (equity / equity.shift(1)).iloc[1:]] - 1.0, index=equity.index)
    assert m["total_return"] == pytest.approx(equity.iloc[-1] / CAPITAL - 1.0, rel=1e-10)
    assert m["sharpe"] == pytest.approx(empyrical.sharpe_ratio(r), rel=1e-9)
    assert m["annual_volatility"] == pytest.approx(empyrical.annual_volatility(r), rel=1e-9)
    assert m["max_drawdown"] == pytest.approx(empyrical.max_drawdown(r), rel=1e-9)
    assert m["sortino"] == pytest.approx(empyrical.sortino_ratio(r), rel=1e-9)
    assert m["exposure_time"] == pytest.approx((run["equity"]["gross_exposure"] > 0).mean())
