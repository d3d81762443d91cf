"""The bundled strategies: the plugin contract, then what each one promises."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qlop.errors import ArtifactError, ConfigError
from qlop.testing import StrategyContract
from qlop.testing.data import make_ohlcv_panel
from qlop_contrib.strategies.probability import ProbabilityThreshold
from qlop_contrib.strategies.technical import BuyAndHold, SmaCrossover
from qlop_contrib.strategies.top_k import TopK


class TestProbabilityThresholdContract(StrategyContract):
    component_name = "probability_threshold"
    params = {"entry": 0.6, "short_entry": 0.3}


class TestProbabilityThresholdExitContract(StrategyContract):
    component_name = "probability_threshold"
    params = {"entry": 0.6, "exit": 0.5, "barriers": "none", "sizing": "probability"}


class TestTopKContract(StrategyContract):
    component_name = "top_k"
    params = {"k": 2, "rebalance_every": 3, "short_k": 1}


class TestTopKInverseVolContract(StrategyContract):
    component_name = "top_k"
    params = {"k": 2, "rebalance_every": 3, "short_k": 1, "weighting": "inverse_vol", "vol_lookback": 5}


class TestSmaCrossoverContract(StrategyContract):
    component_name = "sma_crossover"
    params = {"fast": 5, "slow": 20, "allow_short": True}


class TestBuyAndHoldContract(StrategyContract):
    component_name = "buy_and_hold"


def _panel_and_probs(probs: dict[str, list[float]]):
    dates = pd.bdate_range("2021-01-04", periods=len(next(iter(probs.values()))))
    idx = pd.MultiIndex.from_product([sorted(probs), dates], names=["ticker", "date"])
    panel = pd.DataFrame(
        {"open": 10.0, "high": 11.0, "low": 9.0, "close": 10.0, "adj_close": 10.0, "volume": 1.0}, index=idx
    )
    preds = pd.DataFrame({"prob": np.concatenate([probs[t] for t in sorted(probs)]), "fold": 0}, index=idx)
    return panel, preds


def test_probability_threshold_entry_rows_with_label_barriers():
    panel, preds = _panel_and_probs({"A": [0.7, 0.5, 0.61, np.nan, 0.2, 0.6]})
    s = ProbabilityThreshold("p", {"entry": 0.6, "short_entry": 0.25})
    out = s.generate_signals(panel, preds.drop(index=preds.index[3]))  # a date without prediction
    assert out["signal"].tolist() == [1, 0, 1, 0, -1, 1]
    np.testing.assert_allclose(out["score"].to_numpy(), [0.7, 0.5, 0.61, 0.5, 0.8, 0.6])
    assert s.barriers() == {
        "from_label": True,
        "take_profit": None,
        "stop_loss": None,
        "horizon": None,
        "exit_on_signal": False,
    }


def test_probability_threshold_latched_exit_and_probability_sizing():
    panel, preds = _panel_and_probs(
        {
            "A": [0.5, 0.65, 0.55, 0.45, 0.58, 0.7, 0.1, 0.35, 0.41, 0.9],
            "B": [0.9, np.nan, 0.9, 0.52, 0.49, 0.6, 0.6, 0.6, 0.6, 0.6],
        }
    )
    s = ProbabilityThreshold(
        "p",
        {
            "entry": 0.6,
            "exit": 0.5,
            "short_entry": 0.2,
            "short_exit": 0.4,
            "barriers": "custom",
            "horizon": 3,
            "sizing": "probability",
        },
    )
    out = s.generate_signals(panel, preds)
    # A: enters at .65, holds at .55, leaves at .45, stays out at .58, in at .7, short at .1, holds .35, out .41
    assert out.loc["A", "signal"].tolist() == [0, 1, 1, 0, 0, 1, -1, -1, 0, 1]
    # B: a missing prediction leaves the position
    assert out.loc["B", "signal"].tolist() == [1, 0, 1, 1, 0, 1, 1, 1, 1, 1]
    w = out.loc["A", "weight"].to_numpy()
    assert w[1] == pytest.approx(0.3) and w[6] == pytest.approx(0.8) and w[0] == 0.0
    assert s.barriers()["exit_on_signal"] is True and s.barriers()["horizon"] == 3


def test_probability_threshold_params_are_checked():
    from pydantic import ValidationError

    from qlop_contrib.strategies.params import ProbabilityThresholdParams

    with pytest.raises(ValidationError, match="short_entry"):
        ProbabilityThresholdParams(entry=0.6, short_entry=0.7)
    with pytest.raises(ValidationError, match="exit"):
        ProbabilityThresholdParams(entry=0.6, exit=0.7)
    with pytest.raises(ValidationError, match="custom"):
        ProbabilityThresholdParams(barriers="custom")


def test_needs_predictions_error_names_the_file():
    panel, _ = _panel_and_probs({"A": [0.5, 0.6]})
    with pytest.raises(ArtifactError, match="predictions.parquet"):
        ProbabilityThreshold("p", {}).generate_signals(panel, None)


def test_top_k_selects_highest_and_holds_between_rebalances():
    panel, preds = _panel_and_probs(
        {
            "A": [0.9, 0.1, 0.1, 0.1, 0.1, 0.9],
            "B": [0.8, 0.9, 0.9, 0.2, 0.2, 0.2],
            "C": [0.1, 0.8, 0.8, 0.9, 0.9, 0.1],
            "D": [0.5, 0.5, 0.5, 0.8, 0.8, 0.5],
        }
    )
    out = TopK("top_k", {"k": 2, "rebalance_every": 3, "short_k": 1}).generate_signals(panel, preds)
    sig = out["signal"].unstack("ticker")
    # rebalance on days 0 and 3: day 0 -> A, B long, C short; day 3 -> C, D long, A short (lowest .1)
    assert sig["A"].tolist() == [1, 1, 1, -1, -1, -1]
    assert sig["B"].tolist() == [1, 1, 1, 0, 0, 0]
    assert sig["C"].tolist() == [-1, -1, -1, 1, 1, 1]
    assert sig["D"].tolist() == [0, 0, 0, 1, 1, 1]


def test_top_k_min_prob_and_missing_predictions():
    panel, preds = _panel_and_probs({"A": [0.9, 0.9, 0.9], "B": [0.4, 0.4, 0.4]})
    preds = preds.drop(index=("A", pd.Timestamp("2021-01-05")))
    out = TopK("top_k", {"k": 2, "rebalance_every": 1, "min_prob": 0.5}).generate_signals(panel, preds)
    assert out.loc["A", "signal"].tolist() == [1, 0, 1]
    assert out.loc["B", "signal"].tolist() == [0, 0, 0]


def test_sma_crossover_matches_rolling_means_per_ticker():
    panel = make_ohlcv_panel(("AAA", "BBB"), n_days=120, seed=9)
    out = SmaCrossover("s", {"fast": 5, "slow": 15, "allow_short": True}).generate_signals(panel, None)
    for t in ("AAA", "BBB"):
        c = panel.loc[t, "close"].to_numpy()
        fast = np.convolve(c, np.ones(5) / 5, "valid")[10:]
        slow = np.convolve(c, np.ones(15) / 15, "valid")
        want = np.concatenate([np.zeros(14), np.sign(fast - slow)])
        np.testing.assert_array_equal(out.loc[t, "signal"].to_numpy(), want)


def test_buy_and_hold_chosen_tickers():
    panel = make_ohlcv_panel(("AAA", "BBB"), n_days=10, seed=1)
    out = BuyAndHold("b", {"tickers": ["BBB"]}).generate_signals(panel, None)
    assert out.loc["AAA", "signal"].eq(0).all() and out.loc["BBB", "signal"].eq(1).all()
    with pytest.raises(ConfigError, match="backtest.strategy_params.tickers: ZZZ not in the data"):
        BuyAndHold("b", {"tickers": ["ZZZ"]}).generate_signals(panel, None)


def test_top_k_target_weights_equal_score_and_inverse_vol():
    """On rebalance dates every ticker gets its signed weight (0 when not chosen), summing to gross in
    absolute value; between them NaN holds. inverse_vol weights are 1 / each ticker's realised
    volatility to that close, computed here from the closes."""
    probs = {
        "A": [0.9, 0.1, 0.1, 0.1, 0.1, 0.9, 0.9],
        "B": [0.8, 0.9, 0.9, 0.2, 0.2, 0.2, 0.2],
        "C": [0.1, 0.8, 0.8, 0.9, 0.9, 0.1, 0.1],
        "D": [0.5, 0.5, 0.5, 0.8, 0.8, 0.5, 0.5],
    }
    panel, preds = _panel_and_probs(probs)
    rng = np.random.default_rng(1)
    close = 10 * np.exp(np.cumsum(rng.normal(0, [[0.01], [0.02], [0.04], [0.03]], size=(4, 7)), axis=1))
    panel["close"] = close.ravel()
    params = {"k": 2, "rebalance_every": 3, "short_k": 1, "gross": 1.5}
    eq = TopK("top_k", params | {"weighting": "equal"}).generate_signals(panel, preds)["weight"].unstack("ticker")
    assert eq.loc[eq.index[3]].tolist() == [-0.5, 0.0, 0.5, 0.5]  # day 3: C, D long, A short
    assert eq.iloc[[1, 2, 4, 5]].isna().all().all()
    sc = TopK("top_k", params | {"weighting": "score"}).generate_signals(panel, preds)["weight"].unstack("ticker")
    raw = np.array([0.9, 0.8, 0.9])  # day 0: A .9 long, B .8 long, C short with 1 - .1
    np.testing.assert_allclose(sc.iloc[0][["A", "B", "C"]].to_numpy(), 1.5 * raw / raw.sum() * [1, 1, -1])
    iv = TopK("top_k", params | {"weighting": "inverse_vol", "vol_lookback": 2})
    w = iv.generate_signals(panel, preds)["weight"].unstack("ticker")
    assert (w.iloc[0] == 0).all()  # no volatility yet: nobody is weighted
    day = 3
    inv = {}
    for j, t in enumerate("ACD"):
        c = close["ABCD".index(t)]
        r = [c[day - 1] / c[day - 2] - 1, c[day] / c[day - 1] - 1]
        inv[t] = 1 / (np.std(r, ddof=1) * np.sqrt(252))
    total = sum(inv.values())
    expect = [-1.5 * inv["A"] / total, 0.0, 1.5 * inv["C"] / total, 1.5 * inv["D"] / total]
    np.testing.assert_allclose(w.iloc[day].to_numpy(), expect, rtol=1e-12)
