"""Candidate trades skip the simulator's scan when they provably touch no level: same results.

``qlop.backtest.candidates._simulate`` splits trades into *quiet* ones (settled directly from their
known exit) and the others (simulated on a compact panel of their windows). Both must give exactly
what :func:`qlop.sim.simulate` gives on the whole panel, field by field.
"""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pytest

from qlop.backtest.candidates import _simulate
from qlop.sim import simulate
from qlop.sim.engine import SimResult
from qlop.sim.panel import PanelArrays
from qlop.sim.rules import TradeRules


def _panel(rng: np.random.Generator, n_tickers: int, n_bars: int) -> dict[str, np.ndarray]:
    ret = rng.standard_t(3, size=(n_tickers, n_bars)) * 0.02
    close = 20.0 * np.exp(np.cumsum(ret, axis=1))
    open_ = np.empty_like(close)
    open_[:, 0] = close[:, 0]
    open_[:, 1:] = close[:, :-1] * np.exp(rng.normal(0.0, 0.01, size=(n_tickers, n_bars - 1)))
    spread = np.abs(rng.normal(0.0, 0.01, size=(2, n_tickers, n_bars)))
    high = np.maximum(open_, close) * np.exp(spread[0])
    low = np.minimum(open_, close) * np.exp(-spread[1])
    # a few opens outside their bar's range: the range a bar trades over includes its open
    odd = rng.random(open_.shape) < 0.02
    open_[odd] *= np.where(rng.random(odd.sum()) < 0.5, 1.03, 0.97)
    starts = np.repeat(np.arange(n_tickers) * n_bars, n_bars)
    day = np.tile(np.arange(n_bars) * 7 // 5, n_tickers).astype(np.int64)
    return {
        "open": open_.ravel(),
        "high": high.ravel(),
        "low": low.ravel(),
        "close": close.ravel(),
        "day": day,
        "seg_start": starts,
        "seg_end": starts + n_bars - 1,
    }


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(
    "take_profit, stop_loss, leverage", [(None, None, 3.0), (0.05, 0.04, 2.0), (0.2, None, 1.0), (None, 0.1, 4.0)]
)
def test_quiet_and_loud_trades_equal_the_simulator(seed, take_profit, stop_loss, leverage):
    rng = np.random.default_rng(seed)
    p = _panel(rng, n_tickers=5, n_bars=300)
    n, m = p["open"].size, 400
    rules = TradeRules(
        side="long",
        leverage=leverage,
        horizon=1,
        take_profit=take_profit,
        stop_loss=stop_loss,
        maintenance_margin=0.2,
        liquidation_fee=0.01,
        commission_bps=2.0,
        slippage_bps=3.0,
        financing_rate=0.05,
        borrow_fee=0.02,
    )
    e = rng.integers(0, n, size=m)
    end = p["seg_end"][e]
    side = np.where(rng.random(m) < 0.5, 1, -1).astype(np.int8)
    hor = rng.integers(1, 60, size=m)
    # as the candidates give them: an exit at an open bounds the window (horizon ends there)
    xo = np.where(rng.random(m) < 0.7, e + rng.integers(1, 40, size=m), -1)
    xo[xo > end] = -1
    has = xo >= 0
    hor[has] = np.minimum(hor[has], xo[has] - e[has] + 1)

    arr = PanelArrays(**p)
    parts = _simulate(arr, rules, e, side, hor, xo, end)
    got = {f.name: np.empty_like(getattr(parts[0][1], f.name), shape=m) for f in fields(SimResult)}
    for where, res in parts:
        for name in got:
            got[name][where] = getattr(res, name)
    ref = simulate(
        p["open"],
        p["high"],
        p["low"],
        p["close"],
        p["day"],
        p["seg_end"],
        e,
        rules,
        side=side,
        horizon=hor,
        exit_open_idx=xo,
    )
    for name in got:
        np.testing.assert_array_equal(got[name], getattr(ref, name), err_msg=name)
    # both paths are exercised
    assert len(parts) == 2 and min(len(w) for w, _ in parts) > 0
