"""Target-weight books end to end on the sample data: the examples' configs through the CLI, the
margin calls of a 10x cross-margin book in 2008 in the documented order, weights that move through
time, and the errors a target-weight book gives."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from qlop.backtest import EngineSettings, ExitRules, run_engine
from qlop.errors import ConfigError
from qlop.layout import RunLayout

ROOT = Path(__file__).resolve().parents[2]


def test_cross_margin_2008_margin_calls_close_the_largest_loss_first(tmp_path, monkeypatch):
    from qlop.cli.main import cli

    monkeypatch.chdir(tmp_path)  # the trials ledger goes under the config's runs_dir
    run = tmp_path / "run"
    example = str(ROOT / "examples" / "cross_margin_2008.toml")
    result = CliRunner().invoke(cli, ["run", "-c", example, "--run-dir", str(run), "--workers", "1"])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(cli, ["backtest", "-c", example, "--run-dir", str(run)])
    assert result.exit_code == 0, result.output
    layout = RunLayout(run)
    metrics = json.loads(layout.backtest_metrics.read_text())
    assert metrics["margin_mode"] == "cross" and metrics["engine"] == "target_weights"
    assert metrics["margin_calls"] >= 2
    assert "Margin mode" in result.output and "cross" in result.output  # the table says which mode
    fills = pd.read_parquet(layout.trades)
    positions = pd.read_parquet(layout.positions)
    equity = pd.read_parquet(layout.equity)
    calls = fills[fills["reason"] == "margin_call"]
    assert len(calls) == metrics["margin_calls"]
    assert (calls["date"] >= pd.Timestamp("2007-06-01")).all() and (calls["date"] <= pd.Timestamp("2009-06-30")).all()
    # each call closed the position with the largest unrealised loss among those open at that close,
    # recomputed here from the fills (average cost) and the closes
    panel = pd.read_parquet(layout.data)["close"]
    held: dict[str, float] = {}
    cost: dict[str, float] = {}
    for _, f in fills.iterrows():
        t = f["ticker"]
        if f["reason"] == "margin_call":
            losses = {u: held[u] * (panel.loc[(u, f["date"])] - cost[u]) for u in held if held[u] != 0}
            assert min(losses, key=lambda u: (losses[u], u)) == t, (f["date"], losses)
        q0 = held.get(t, 0.0)
        q1 = q0 + f["quantity"]
        if q0 == 0 or np.sign(q1) != np.sign(q0):
            cost[t] = f["price"]
        elif abs(q1) > abs(q0):
            cost[t] = (q0 * cost[t] + f["quantity"] * f["price"]) / q1
        held[t] = 0.0 if abs(q1) < 1e-9 * max(abs(q0), 1.0) else q1
    # equity is never negative, and fell below the positions' margins with no call on some close
    assert (equity["equity"] >= 0).all()
    below = equity["equity"] < equity["gross_exposure"] / 10.0
    call_dates = set(calls["date"])
    assert any(d not in call_dates for d in equity.index[below & (equity["n_positions"] > 0)])
    # the positions file holds each position's weight through time
    first = positions[positions["date"] == positions["date"].min()]
    assert len(first) == 5 and np.allclose(
        first["weight"].sum(), equity.loc[first["date"].iloc[0], "leverage"], rtol=1e-9
    )


def test_inverse_vol_weights_move_through_time_with_turnover_and_costs(tmp_path):
    """The top_k inverse_vol book's positions change weight from one rebalance to the next; turnover
    and fees are in the metrics (predictions made up here: the engine, not the model, is tested)."""
    from qlop.config import config_from_data
    from qlop.stages import backtest as stage
    from qlop.stages.data import load_panel

    cfg = config_from_data(
        {
            "name": "iv",
            "data": {
                "data_source_type": "sample",
                "tickers": ["AAPL", "KO", "XOM", "JPM"],
                "start_date": "2012-01-01",
                "end_date": "2013-12-31",
            },
            "backtest": {
                "strategy_type": "top_k",
                "strategy_params": {"k": 2, "rebalance_every": 5, "weighting": "inverse_vol"},
                "leverage": 1.0,
                "max_gross_leverage": 1.0,
                "rebalance_band": 0.01,
            },
        }
    )
    panel = load_panel(cfg.data)
    rng = np.random.default_rng(0)
    preds = pd.DataFrame({"prob": rng.uniform(0.3, 0.7, len(panel)), "fold": 0}, index=panel.index)
    layout = RunLayout(tmp_path)
    panel.to_parquet(layout.data)
    preds.to_parquet(layout.predictions)
    stage.run(cfg, tmp_path)
    positions = pd.read_parquet(layout.positions)
    metrics = json.loads(layout.backtest_metrics.read_text())
    per_date = positions.pivot(index="date", columns="ticker", values="weight")
    assert per_date.notna().sum(axis=1).max() == 2
    assert per_date.std().max() > 0.01  # weights change through time, not only membership
    assert metrics["annual_turnover"] > 1 and metrics["fees_paid"] > 0 and metrics["n_fills"] > 50


def test_barrier_strategy_is_refused_where_positions_are_resized():
    idx = pd.MultiIndex.from_product([["A"], pd.bdate_range("2021-01-04", periods=5)], names=["ticker", "date"])
    panel = pd.DataFrame(
        {"open": 10.0, "high": 11.0, "low": 9.0, "close": 10.0, "adj_close": 10.0, "volume": 1.0}, index=idx
    )
    sig = pd.DataFrame({"signal": np.int8(1)}, index=idx)
    with pytest.raises(ConfigError, match="barriers"):
        run_engine(panel, sig, EngineSettings(margin_mode="cross"), ExitRules(take_profit=0.05))
    bad = pd.DataFrame({"weight": [0.5, np.inf, 0.5, 0.5, 0.5]}, index=idx)
    with pytest.raises(Exception, match="ticker A, date 2021-01-05: weight"):
        run_engine(panel, bad, EngineSettings())


def _plain_vol(close: np.ndarray, seg_end: np.ndarray, lookback: int, periods: float) -> np.ndarray:
    """Each window on its own, sums in row order (what the blocked kernel must reproduce bit for bit)."""
    out = np.full(close.size, np.nan)
    i = 0
    while i < close.size:
        end = int(seg_end[i])
        ret = [np.nan] + [close[j] / close[j - 1] - 1.0 for j in range(i + 1, end + 1)]
        for j in range(i + lookback, end + 1):
            window = ret[j - i - lookback + 1 : j - i + 1]
            mean = 0.0
            for x in window:
                mean += x
            mean /= lookback
            var = 0.0
            for x in window:
                var += (x - mean) * (x - mean)
            out[j] = np.sqrt(var / (lookback - 1) * periods)
        i = end + 1
    return out


@pytest.mark.parametrize("lookback", [2, 5, 20, 23])
def test_blocked_volatility_windows_give_the_bits_of_one_window_at_a_time(lookback):
    from qlop.backtest.rebalance_kernel import rolling_vol, vol_targets

    rng = np.random.default_rng(lookback)
    lengths = [1, lookback, lookback + 1, 255, 256, 257, 700]  # around the 256-row blocks
    close = np.concatenate([100 * np.exp(np.cumsum(rng.normal(0, 0.02, n))) for n in lengths])
    close[-300:-200] = close[-301]  # flat prices: equal returns give a volatility of exactly 0
    starts = np.cumsum([0, *lengths[:-1]])
    seg_end = np.repeat(starts + np.asarray(lengths) - 1, lengths)
    want = _plain_vol(close, seg_end, lookback, 252.0)
    assert (want[-200 + lookback : -200] == 0.0).all()
    vol, _ = rolling_vol(close, seg_end, lookback, 252.0)
    assert vol.tobytes() == want.tobytes()

    signal = rng.integers(-1, 2, close.size).astype(np.int8)
    weight = rng.choice([0.5, 1.0, -2.0, np.nan], close.size)
    for sig in (signal, None):
        base = weight if sig is None else sig * weight
        with np.errstate(divide="ignore", invalid="ignore"):
            scaled = np.where(np.isfinite(want) & (want > 0), base * (0.3 / want), 0.0)
        expect = np.where(np.isnan(base), np.nan, np.clip(scaled, -3.0, 3.0))
        got = vol_targets(close, seg_end, sig, weight, lookback, 252.0, 0.3, 3.0)
        assert got.tobytes() == expect.tobytes()
