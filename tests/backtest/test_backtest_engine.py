"""Engine behaviour users rely on, on real sample slices and small synthetic books."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qlop.backtest import EngineSettings, ExitRules, run_engine
from qlop.errors import DataError
from qlop.testing.data import load_sample_panel, make_ohlcv_panel


def _signals(panel, values):
    return pd.DataFrame({"signal": np.asarray(values, dtype=np.int8)}, index=panel.index)


def test_sma_crossover_at_leverage_one_compounds_its_open_to_open_trades():
    """Total return == product of the crossover's open-to-open trade returns, computed here from
    scratch (SMAs by convolution, trades by walking the signal)."""
    from qlop_contrib.strategies.technical import SmaCrossover

    panel = load_sample_panel(["AAPL"], "2004-01-01", "2012-12-31")
    close = panel["close"].to_numpy()
    opens = panel["open"].to_numpy()
    fast_n, slow_n = 10, 40
    fast = np.full(close.size, np.nan)
    slow = np.full(close.size, np.nan)
    fast[fast_n - 1 :] = np.convolve(close, np.ones(fast_n) / fast_n, mode="valid")
    slow[slow_n - 1 :] = np.convolve(close, np.ones(slow_n) / slow_n, mode="valid")
    want = np.where(np.isnan(slow), 0, fast > slow).astype(int)

    growth, holding, entry = 1.0, False, 0.0
    n_trades = 0
    for t in range(close.size - 1):
        if want[t] and not holding:
            holding, entry = True, opens[t + 1]
            n_trades += 1
        elif not want[t] and holding:
            growth *= opens[t + 1] / entry
            holding = False
    if holding:
        growth *= close[-1] / entry

    strategy = SmaCrossover("sma_crossover", {"fast": fast_n, "slow": slow_n})
    signals = strategy.generate_signals(panel, None)
    np.testing.assert_array_equal(signals["signal"].to_numpy(), want)
    cfg = EngineSettings.frictionless(
        initial_capital=10_000.0, position_size=1.0, max_positions=1, max_gross_leverage=1.0
    )  # leverage 1, no costs
    res = run_engine(panel, signals, cfg)
    assert len(res.trades) == n_trades > 20
    assert res.equity["equity"].iloc[-1] / 10_000.0 == pytest.approx(growth, rel=1e-12)


def test_label_barriers_make_each_trade_the_labelled_trade():
    """With the label's rules, every backtest trade's return on margin is the label's net_return at
    its signal row, and it is a winner exactly where the label is 1."""
    from qlop_contrib.labels.leverage import LeverageOpportunityLabel

    panel = load_sample_panel(["AAPL", "MSFT", "JPM"], "2008-01-01", "2009-12-31")
    label = LeverageOpportunityLabel(
        "leverage_opportunity",
        {
            "leverage": 4.0,
            "horizon": 5,
            "take_profit": 0.04,
            "stop_loss": 0.03,
            "maintenance_margin": 0.2,
            "commission_bps": 2.0,
            "slippage_bps": 3.0,
            "financing_rate": 0.06,
            "liquidation_fee": 0.01,
        },
    )
    labels = label.make_labels(panel)
    rules = label.trade_rules()
    rng = np.random.default_rng(0)
    signals = _signals(panel, rng.random(len(panel)) < 0.3)
    cfg = EngineSettings(**rules.terms.model_dump(), position_size=0.2, max_positions=3, max_gross_leverage=10.0)
    exits = ExitRules(rules.take_profit, rules.stop_loss, rules.horizon, exit_on_signal=False)
    res = run_engine(panel, signals, cfg, exits)
    trades = res.trades
    assert len(trades) > 50
    assert {"tp", "sl", "horizon"} <= set(trades["exit_reason"])
    key = pd.MultiIndex.from_arrays([trades["ticker"], trades["signal_date"]])
    lab = labels.reindex(key)
    known = lab["label"].notna().to_numpy()
    assert known.mean() > 0.9  # only trades running into the data's end have no label
    np.testing.assert_allclose(trades["return"].to_numpy()[known], lab["net_return"].to_numpy()[known], rtol=1e-12)
    np.testing.assert_array_equal(trades["return"].to_numpy()[known] > 0, lab["label"].to_numpy()[known] == 1.0)
    assert (trades["exit_reason"].to_numpy()[known] == lab["exit_reason"].to_numpy()[known]).all()


def test_equity_never_negative_and_losses_capped_at_margin():
    panel = make_ohlcv_panel(("AAA", "BBB", "CCC", "DDD"), n_days=400, seed=5)
    rng = np.random.default_rng(1)
    blocks = np.repeat(rng.choice([-1, 0, 1], size=len(panel) // 10 + 1, p=[0.3, 0.2, 0.5]), 10)
    signals = _signals(panel, blocks[: len(panel)])
    cfg = EngineSettings(
        leverage=50.0,
        maintenance_margin=0.01,
        position_size=0.1,
        max_positions=4,
        max_gross_leverage=80.0,
        commission_bps=20,
        min_commission=5,
        slippage_bps=20,
        financing_rate=0.5,
        borrow_fee=0.5,
        liquidation_fee=0.05,
    )
    res = run_engine(panel, signals, cfg)
    assert (res.equity["equity"] >= 0).all()
    assert (res.equity["cash"] >= -1e-9).all()
    assert (res.trades["pnl"] >= -res.trades["margin"] - 1e-9).all()
    assert (res.trades["exit_reason"] == "liquidation").sum() > 10


def test_gross_cap_scales_positions_down_and_max_positions_prefers_high_scores():
    panel = make_ohlcv_panel(("AAA", "BBB", "CCC"), n_days=30, seed=2, ragged=False)
    sig = pd.DataFrame(
        {"signal": np.ones(len(panel), dtype=np.int8), "score": np.repeat([0.2, 0.9, 0.5], 30)}, index=panel.index
    )
    cfg = EngineSettings(
        initial_capital=1000.0,
        leverage=4.0,
        maintenance_margin=0.1,
        position_size=0.5,
        max_positions=2,
        max_gross_leverage=3.0,
    )
    res = run_engine(panel, sig, cfg)
    first = res.trades[res.trades["entry_date"] == res.trades["entry_date"].min()]
    # BBB (score .9) then CCC (.5); AAA never gets a slot
    assert first["ticker"].tolist() == ["BBB", "CCC"]
    by = first.set_index("ticker")["entry_notional"]
    assert by["BBB"] == pytest.approx(0.5 * 4.0 * 1000.0)  # wanted 2000 <= cap 3000
    assert by["CCC"] == pytest.approx(3000.0 - 2000.0)  # scaled to the room left under the cap
    assert "AAA" not in set(res.trades["ticker"])
    assert res.equity["leverage"].iloc[0] == 0.0  # nothing is held before the second bar's open


def test_one_book_per_ticker_equals_each_ticker_alone():
    panel = make_ohlcv_panel(("AAA", "BBB"), n_days=200, seed=4)
    rng = np.random.default_rng(3)
    sig = _signals(panel, rng.choice([-1, 0, 1], size=len(panel)))
    cfg = EngineSettings(
        leverage=3.0,
        position_size=0.5,
        commission_bps=5,
        min_commission=3,
        slippage_bps=5,
        financing_rate=0.05,
        borrow_fee=0.02,
    )
    books = run_engine(panel, sig, cfg, books="ticker")
    for t in ("AAA", "BBB"):
        alone = run_engine(panel.loc[[t]], sig.loc[[t]], cfg)
        np.testing.assert_allclose(
            books.equity.loc[t, "equity"].to_numpy(), alone.equity["equity"].to_numpy(), rtol=1e-12
        )


def test_bad_signals_are_one_line_errors_naming_ticker_and_date():
    panel = make_ohlcv_panel(("AAA",), n_days=20, seed=1, ragged=False)
    sig = _signals(panel, np.zeros(len(panel)))
    sig.iloc[5, 0] = 2
    with pytest.raises(DataError, match=r"ticker AAA, date \d{4}-\d\d-\d\d: signal 2 is not -1, 0 or 1"):
        run_engine(panel, sig, EngineSettings())
    bad_w = _signals(panel, np.ones(len(panel))).assign(weight=1.0)
    bad_w.iloc[3, 1] = -1.0
    with pytest.raises(DataError, match="weight must be a finite number >= 0"):
        run_engine(panel, bad_w, EngineSettings())
    outside = pd.DataFrame(
        {"signal": [1]},
        index=pd.MultiIndex.from_tuples([("ZZZ", pd.Timestamp("2020-01-02"))], names=["ticker", "date"]),
    )
    with pytest.raises(DataError, match="ticker ZZZ, date 2020-01-02 is not in the price data"):
        run_engine(panel, outside, EngineSettings())


def test_no_signal_no_trades_flat_equity():
    panel = make_ohlcv_panel(("AAA", "BBB"), n_days=50, seed=1)
    res = run_engine(panel, _signals(panel, np.zeros(len(panel))), EngineSettings(initial_capital=5.0))
    assert res.trades.empty and res.n_candidates == 0
    assert (res.equity["equity"] == 5.0).all() and (res.equity["n_positions"] == 0).all()
