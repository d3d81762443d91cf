"""The simulator equals the per-trade reference on real bars (five sample tickers, 2000-2017)."""

from __future__ import annotations

import numpy as np
import pytest

from qlop.sim import REASONS, TradeRules, simulate

CONFIGS = {
    "long_3x_barriers_costs": dict(
        side="long",
        leverage=3,
        horizon=10,
        take_profit=0.05,
        stop_loss=0.03,
        commission_bps=1,
        slippage_bps=2,
        financing_rate=0.05,
    ),
    "short_5x_liquidation": dict(
        side="short",
        leverage=5,
        horizon=15,
        stop_loss=0.2,
        maintenance_margin=0.1,
        liquidation_fee=0.01,
        commission_bps=2,
        slippage_bps=3,
        borrow_fee=0.3,
    ),
    "long_10x_no_stop": dict(
        side="long",
        leverage=10,
        horizon=5,
        take_profit=0.03,
        maintenance_margin=0.05,
        financing_rate=0.08,
        liquidation_fee=0.005,
    ),
}


def _arrays(frame):
    counts = frame.groupby("ticker", sort=False).size().to_numpy()  # tickers are concatenated blocks
    day = frame["Date"].to_numpy().astype("datetime64[D]").astype(np.int64)
    cols = [frame[c].to_numpy(dtype=float) for c in ("Open", "High", "Low", "Close")]
    return (*cols, day), counts


@pytest.mark.parametrize("name", list(CONFIGS))
def test_sample_data_matches_reference(simref, sample_panel, name):
    (o, h, lo, c, day), counts = _arrays(sample_panel)
    seg_end = simref.segments(counts)
    entries = np.arange(1, len(o))  # every bar is an entry, including each ticker's first and last
    rules = TradeRules(**CONFIGS[name])
    res = simulate(o, h, lo, c, day, seg_end, entries, rules)
    simref.check(res, simref.simulate(o, h, lo, c, day, seg_end, entries, rules))


def test_sample_data_with_per_trade_overrides(simref, sample_panel):
    (o, h, lo, c, day), counts = _arrays(sample_panel)
    seg_end = simref.segments(counts)
    rng = np.random.default_rng(7)
    entries = np.sort(rng.choice(len(o), size=6000, replace=False))
    side = rng.choice([-1, 1], size=entries.size)
    horizon = rng.integers(1, 300, size=entries.size)  # beyond one scan block (64 bars)
    exit_open = np.where(rng.random(entries.size) < 0.5, -1, entries + rng.integers(1, 200, size=entries.size))
    rules = TradeRules(
        leverage=4,
        take_profit=0.3,
        stop_loss=0.2,
        maintenance_margin=0.2,
        commission_bps=1,
        slippage_bps=1,
        financing_rate=0.04,
        borrow_fee=0.02,
        liquidation_fee=0.002,
    )
    res = simulate(o, h, lo, c, day, seg_end, entries, rules, side=side, horizon=horizon, exit_open_idx=exit_open)
    ref = simref.simulate(o, h, lo, c, day, seg_end, entries, rules, side=side, horizon=horizon, exit_open=exit_open)
    simref.check(res, ref)


def test_sample_configs_exercise_every_exit_reason(simref, sample_panel):
    """Guards the comparisons above against vacuity: real data reaches every branch."""
    (o, h, lo, c, day), counts = _arrays(sample_panel)
    seg_end = simref.segments(counts)
    entries = np.arange(1, len(o))
    seen = set()
    for params in CONFIGS.values():
        res = simulate(
            o,
            h,
            lo,
            c,
            day,
            seg_end,
            entries,
            TradeRules(**params),
            exit_open_idx=np.where(entries % 7 == 0, entries + 2, -1),
        )
        seen |= {(REASONS[r], bool(g)) for r, g in zip(res.reason, res.exit_at_open)}
    expected = {("horizon", False), ("end", False), ("signal", True)}
    expected |= {(r, g) for r in ("tp", "sl", "liquidation") for g in (False, True)}
    assert expected <= seen
