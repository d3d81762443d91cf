"""The view models report.html and the GUI's run page share, checked on small hand-made runs."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from qlop import report_data as rd


def _labels():
    idx = pd.MultiIndex.from_product(
        [["AAA", "BBB"], pd.bdate_range("2020-01-01", periods=6)], names=["ticker", "date"]
    )
    return pd.DataFrame(
        {
            "label": [1, 0, 1, 1, np.nan, 0, 0, 0, 1, 0, 0, np.nan],
            "exit_reason": ["tp", "sl", "tp", "horizon", None, "sl", "sl", "sl", "tp", "horizon", "sl", None],
        },
        index=idx,
    )


def _trades():
    return pd.DataFrame(
        {
            "ticker": ["AAA", "BBB", "AAA", "BBB"],
            "side": ["long"] * 4,
            "entry_date": pd.to_datetime(["2020-01-02", "2020-01-03", "2020-03-02", "2021-02-01"]),
            "exit_date": pd.to_datetime(["2020-01-08", "2020-01-09", "2020-03-05", "2021-02-05"]),
            "entry_price": [10.0, 20.0, 11.0, 21.0],
            "exit_price": [10.5, 19.0, 11.2, 21.5],
            "exit_reason": ["tp", "sl", "horizon", "tp"],
            "pnl": [50.0, -100.0, 20.0, 40.0],
            "return": [0.05, -0.1, 0.02, 0.04],
            "fees": [1.0, 1.0, 1.0, 1.0],
            "financing": [0.5, 0.5, 0.5, 0.5],
        }
    )


def test_label_stats_per_ticker_and_overall():
    stats = rd.label_stats(_labels())
    assert list(stats.index) == ["AAA", "BBB", "All tickers"]
    assert stats.loc["AAA", "days"] == 5 and stats.loc["AAA", "base_rate"] == pytest.approx(3 / 5)
    assert stats.loc["BBB", "base_rate"] == pytest.approx(1 / 5)
    assert stats.loc["All tickers", "base_rate"] == pytest.approx(4 / 10)
    assert stats.loc["BBB", "sl"] == pytest.approx(3 / 5)
    mix = stats[[c for c in rd.EXIT_REASONS if c in stats.columns]]
    assert np.allclose(mix.sum(axis=1), 1.0)


def test_ticker_pnl_adds_up_to_the_trade_list():
    pnl = rd.ticker_pnl(_trades())
    assert list(pnl.index) == ["AAA", "BBB", "All tickers"]  # best P&L first, then the total
    assert pnl.loc["AAA", "pnl"] == 70.0 and pnl.loc["BBB", "pnl"] == -60.0 and pnl.loc["All tickers", "pnl"] == 10.0
    assert pnl.loc["BBB", "trades"] == 2 and pnl.loc["BBB", "win_rate"] == 0.5
    assert pnl.loc["All tickers", "fees"] == 4.0 and pnl.loc["All tickers", "trades"] == 4


def _equity():
    dates = pd.bdate_range("2020-01-01", "2020-04-30")
    positions = np.where((dates.month == 2), 0, 1)  # no position at all in February
    steps = np.where(positions > 0, 0.001, 0.0)
    equity = 1000 * np.cumprod(1 + steps)
    gross = equity * 0.5 * positions
    return pd.DataFrame(
        {"equity": equity, "gross_exposure": gross, "net_exposure": -gross / 2, "n_positions": positions},
        index=pd.Index(dates, name="date"),
    )


def test_monthly_returns_leave_months_without_a_position_blank():
    eq = _equity()
    table = rd.monthly_returns(eq, 1000.0)
    row = table.loc[2020]
    assert math.isnan(row[2]) and not math.isnan(row[1]) and not math.isnan(row[3])
    assert row[1] == pytest.approx(eq["equity"]["2020-01"].iloc[-1] / 1000.0 - 1)
    assert np.prod(1 + row.dropna()) - 1 == pytest.approx(eq["equity"].iloc[-1] / 1000.0 - 1)


def test_leverage_path_is_exposure_over_equity():
    eq = _equity()
    path = rd.leverage_path(eq)
    assert np.allclose(path["gross"], eq["gross_exposure"] / eq["equity"])
    assert np.allclose(path["net"], -path["gross"] / 2) and list(path["positions"]) == list(eq["n_positions"])


def test_idle_by_year_shows_why_a_strategy_did_not_trade():
    idx = pd.MultiIndex.from_product(
        [["AAA", "BBB"], pd.to_datetime(["2020-06-01", "2020-06-02", "2021-06-01"])], names=["ticker", "date"]
    )
    preds = pd.DataFrame({"prob": [0.4, 0.6, 0.5, 0.56, 0.3, 0.52]}, index=idx)
    table = rd.idle_by_year(preds, {"entry": 0.55}, _trades(), None)
    assert table.loc[2020, "highest_prob"] == 0.6 and table.loc[2021, "highest_prob"] == 0.52
    assert table.loc[2020, "days_at_entry"] == 2 and table.loc[2021, "days_at_entry"] == 0
    assert table.loc[2020, "trades"] == 3 and table.loc[2021, "trades"] == 1
    path = rd.probability_path(preds)
    assert path.loc["2020-06-02", "highest"] == 0.6 and path.loc["2020-06-02", "median"] == pytest.approx(0.45)


def test_fold_skill_numbers_folds_from_one_and_adds_the_base_rates_log_loss():
    table = rd.fold_skill(
        {
            "folds": [
                {
                    "fold": 0,
                    "test_start": "2008-01-02",
                    "test_end": "2008-12-31",
                    "n": 10,
                    "auc": 0.55,
                    "log_loss": 0.68,
                    "base_rate": 0.4,
                }
            ]
        }
    )
    assert table.loc[0, "fold"] == 1
    assert table.loc[0, "base_rate_log_loss"] == pytest.approx(-(0.4 * math.log(0.4) + 0.6 * math.log(0.6)))
    shown = rd.display(table)
    assert list(shown.columns[:5]) == ["Fold", "Test from", "Test to", "Rows", "AUC"]
    assert list(shown.iloc[0]) == ["1", "2008-01-02", "2008-12-31", "10", "0.550", "0.6800", "0.6730", "40.00%"]


def test_price_with_trades_marks_the_tickers_own_entries_and_exits():
    idx = pd.MultiIndex.from_product(
        [["AAA", "BBB"], pd.bdate_range("2019-12-30", "2020-03-31")], names=["ticker", "date"]
    )
    panel = pd.DataFrame({"close": np.arange(len(idx), dtype=float)}, index=idx)
    view = rd.price_with_trades(panel, _trades(), "AAA", start="2020-01-01")
    assert view["close"].index[0] == pd.Timestamp("2020-01-01")
    assert list(view["entries"]["price"]) == [10.0, 11.0] and list(view["exits"]["reason"]) == ["tp", "horizon"]
    assert rd.price_with_trades(panel, _trades(), "ZZZ") is None
    assert rd.traded_tickers(_trades(), panel) == ["AAA", "BBB"]


def test_config_summary_names_leverage_barriers_costs_rates_and_folds():
    config = {
        "data": {"tickers": ["AAA"], "start_date": "2010-01-01", "end_date": None, "data_source_type": "sample"},
        "label": {
            "label_type": "leverage_opportunity",
            "label_params": {
                "side": "long",
                "leverage": 2.5,
                "horizon": 10,
                "take_profit": 0.05,
                "stop_loss": 0.03,
                "commission_bps": 1.0,
                "slippage_bps": 2.0,
                "financing_rate": 0.05,
                "maintenance_margin": 0.25,
                "hurdle": 0.0,
            },
        },
        "model": {
            "model_type": "xgboost",
            "validation": {
                "scheme": "walk_forward",
                "window": "expanding",
                "train_years": 4.0,
                "test_months": 12,
                "embargo_days": 10,
            },
        },
        "backtest": {
            "strategy_type": "probability_threshold",
            "strategy_params": {"entry": 0.55},
            "initial_capital": 100000.0,
            "leverage": 2.5,
            "max_gross_leverage": 2.5,
            "position_size": 0.1,
            "max_positions": 8,
            "commission_bps": 1.0,
            "slippage_bps": 2.0,
            "financing_rate": 0.05,
            "maintenance_margin": 0.25,
            "benchmark": "GSPC",
        },
    }
    rows = {(s, k): v for s, k, v in rd.config_summary(config, n_folds=10)}
    assert rows[("Label", "Trade")] == "long at 2.50x, held up to 10 bars"
    assert rows[("Label", "Barriers")] == "take-profit 5%, stop-loss 3%"
    assert rows[("Backtest", "Leverage")] == "2.50x per position, at most 2.50x gross"
    assert rows[("Backtest", "Costs")] == "commission 1 bp + slippage 2 bps per leg"
    assert rows[("Backtest", "Rates")] == "financing 5% a year on the borrowed part, maintenance margin 25%"
    assert rows[("Model", "Folds")] == "10" and rows[("Backtest", "Capital")] == "100,000.00"
    assert rows[("Backtest", "Strategy")] == "probability_threshold (entry 0.55)"


def test_drawdown_is_the_metrics_series_from_the_initial_capital():
    from qlop.metrics import performance_metrics

    eq = _equity()
    eq.loc[eq.index[0], "equity"] = 990.0  # the first day already loses against the capital
    dd = rd.drawdown(eq, 1000.0)
    peak, expected = 1000.0, []
    for value in eq["equity"]:  # plain loop: the capital is the first peak
        peak = max(peak, value)
        expected.append(value / peak - 1)
    np.testing.assert_allclose(dd.to_numpy(), expected, rtol=0, atol=1e-15)
    assert dd.iloc[0] == pytest.approx(-0.01) and list(dd.index) == list(eq.index)
    metrics = performance_metrics(eq["equity"].to_numpy(), 1000.0, dates=eq.index)
    assert dd.min() == pytest.approx(metrics["max_drawdown"], abs=1e-15)
    assert rd.drawdown(None, 1000.0) is None


def test_run_view_gathers_every_section_once():
    idx = pd.MultiIndex.from_product(
        [["AAA", "BBB"], pd.bdate_range("2019-12-30", "2021-03-31")], names=["ticker", "date"]
    )
    panel = pd.DataFrame({"close": np.arange(len(idx), dtype=float)}, index=idx)
    preds = pd.DataFrame({"prob": np.where(idx.get_level_values("date").year == 2021, 0.5, 0.6)}, index=idx)
    eq = _equity()
    run = rd.RunData(
        config={"data": {"tickers": ["AAA", "BBB"]}},
        metrics={
            "start": "2020-01-01",
            "total_return": 0.0123,
            "n_trades": 4,
            "probability_thresholds": {"entry": 0.55},
        },
        equity=eq,
        trades=_trades(),
        labels=_labels(),
        predictions=preds,
        panel=panel,
    )
    view = rd.run_view(run)
    assert view.headline == [("Total return", "+1.23%"), ("Trades", "4")]
    assert view.metric_rows[0] == (
        "Start",
        "2020-01-01",
        "First day of the backtest (the first out-of-sample prediction).",
    )
    assert view.capital == eq["equity"].iloc[0] and view.drawdown.equals(rd.drawdown(eq, view.capital))
    assert view.probability.index[0] == pd.Timestamp("2020-01-01")  # from the backtest's first day
    assert view.idle_note.startswith("No entry was possible in 2021 (highest 0.50)")
    assert view.price_tickers == ["AAA", "BBB"] and len(view.prices("AAA")["entries"]) == 2
    assert list(view.pnl.index) == ["AAA", "BBB", "All tickers"] and view.monthly.shape == (1, 12)
    assert view.subtitle == "2020-01-01 to - · 4 trades · benchmark none"
    shown = rd.display(rd.trade_list(_trades()))
    assert list(shown.columns[:4]) == ["Ticker", "Side", "Entry", "Entry price"]
    assert list(shown["Entry"])[:1] == ["2020-01-02"] and list(shown["Exit reason"]) == [
        "take-profit",
        "stop-loss",
        "horizon",
        "take-profit",
    ]
