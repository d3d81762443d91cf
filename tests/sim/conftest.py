"""Shared helpers for the simulator tests: the plain per-trade reference and panel builders.

The reference is written straight from docs/simulator.md, one trade and one bar at a time, with no
numpy vectorisation, so that the vectorised engine is checked against an independent reading of the
rules.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

REASON_NAMES = ("horizon", "tp", "sl", "liquidation", "signal", "end", "session")
SAMPLE_DIR = Path(__file__).resolve().parents[2] / "qlop_contrib" / "data" / "ohlcv"


def reference_trade(o, h, l, c, day, seg_end, e, rules, side, horizon, exit_open=None, rate_on=None, clock=None):
    """Simulate one trade bar by bar; return a dict of the SimResult fields for it.

    ``rate_on(day)``: the annual financing rate in effect on a calendar day, when the rules' financing
    rate is a series (each day held accrues its own rate). ``clock``: an intraday panel's
    ``(open_seconds, bar_seconds, session_end)``; carry then accrues on the seconds held."""
    L = rules.leverage
    mm = rules.maintenance_margin
    E = float(o[e])
    long = side > 0
    if rules.take_profit is None:
        tp = math.inf if long else -math.inf
    else:
        tp = E * (1 + rules.take_profit) if long else E * (1 - rules.take_profit)
    if rules.stop_loss is None:
        sl = -math.inf if long else math.inf
    else:
        sl = E * (1 - rules.stop_loss) if long else E * (1 + rules.stop_loss)
    # Equity = margin + pnl = mm * current notional, with margin = notional at entry / L.
    if long:
        liq = E * ((L - 1) / (L * (1 - mm))) if L > 1 else -math.inf
    else:
        liq = E * ((1 + L) / (L * (1 + mm)))

    def beyond_adverse(price, level):
        return price <= level if long else price >= level

    def beyond_favourable(price, level):
        return price >= level if long else price <= level

    last = int(seg_end[e])
    session_last = e if clock is None else int(clock[2][e])  # a daily bar is its own session
    if rules.exit_at_session_end:
        last = min(last, session_last)
    exit_bar = exit_price = why = None
    at_open = False
    for k in range(horizon):
        i = e + k
        if k >= 1:
            op = float(o[i])
            if beyond_adverse(op, liq):
                exit_bar, exit_price, why, at_open = i, op, "liquidation", True
            elif beyond_adverse(op, sl):
                exit_bar, exit_price, why, at_open = i, op, "sl", True
            elif beyond_favourable(op, tp):
                exit_bar, exit_price, why, at_open = i, op, "tp", True
            elif exit_open is not None and exit_open >= 0 and i == exit_open:
                exit_bar, exit_price, why, at_open = i, op, "signal", True
            if exit_bar is not None:
                break
        worst = float(l[i]) if long else float(h[i])
        best = float(h[i]) if long else float(l[i])
        touched = []
        if beyond_adverse(worst, liq):
            touched.append((abs(liq - E), 0, liq, "liquidation"))
        if beyond_adverse(worst, sl):
            touched.append((abs(sl - E), 1, sl, "sl"))
        if touched:
            # The price passes the level nearer to entry first; liquidation on an exact tie.
            _, _, exit_price, why = min(touched)
            exit_bar = i
            break
        if beyond_favourable(best, tp):
            exit_bar, exit_price, why = i, tp, "tp"
            break
        if i == last and k < horizon - 1:
            exit_bar, exit_price, why = i, float(c[i]), "end" if i == int(seg_end[e]) else "session"
            break
    if exit_bar is None:
        exit_bar, exit_price, why = e + horizon - 1, float(c[e + horizon - 1]), "horizon"

    # Money, per unit of margin: notional L, quantity L / E.
    qty = L / E
    price_ret = (exit_price - E) / E * (1 if long else -1)
    pnl = qty * (exit_price - E) * (1 if long else -1)
    cost = (rules.commission_bps + rules.slippage_bps) / 10_000
    fees = cost * L + cost * qty * exit_price
    if why == "liquidation":
        fees += rules.liquidation_fee * qty * exit_price
    if why in ("sl", "liquidation"):  # a stop or liquidation fills stop_slippage_bps worse
        fees += rules.stop_slippage_bps / 10_000 * qty * exit_price
    year = {"act_365": 365, "act_360": 360}[rules.day_count]
    if clock is None:  # nights held
        days = int(day[exit_bar]) - int(day[e])
        spans = [(k, 1.0) for k in range(int(day[e]), int(day[exit_bar]))]
    else:  # seconds held, from the entry bar's open to the exit (its open for a gap or signal fill)
        t0 = int(clock[0][e])
        t1 = int(clock[0][exit_bar]) + (0 if at_open else int(clock[1]))
        days = (t1 - t0) / 86400
        spans = []  # (calendar day, fraction of it held)
        for k in range(t0 // 86400, (t1 - 1) // 86400 + 1 if t1 > t0 else t0 // 86400):
            overlap = min(t1, (k + 1) * 86400) - max(t0, k * 86400)
            spans.append((k, overlap / 86400))
    if long and rate_on is not None:
        financing = sum(rate_on(k) * part * max(L - 1, 0.0) / year for k, part in spans)
    elif long:
        financing = rules.financing_rate * max(L - 1, 0.0) * days / year
    else:
        financing = rules.borrow_fee * L * days / year
    net = max(pnl - fees - financing, -1.0)
    return dict(
        exit_idx=exit_bar,
        entry_price=E,
        exit_price=exit_price,
        reason=why,
        exit_at_open=at_open,
        price_return=price_ret,
        fees=fees,
        financing=financing,
        net_return=net,
        bars_held=exit_bar - e + 1,
        side=1 if long else -1,
    )


def reference_simulate(
    o, h, l, c, day, seg_end, entries, rules, side=None, horizon=None, exit_open=None, rate_on=None, clock=None
):
    """Per-trade loop over ``entries``; returns a dict of arrays keyed like SimResult."""
    rows = []
    for j, e in enumerate(entries):
        s = (1 if rules.side == "long" else -1) if side is None else int(side[j])
        hz = rules.horizon if horizon is None else int(horizon[j])
        xo = None if exit_open is None else int(exit_open[j])
        rows.append(reference_trade(o, h, l, c, day, seg_end, int(e), rules, s, hz, xo, rate_on, clock))
    keys = (
        "exit_idx",
        "entry_price",
        "exit_price",
        "reason",
        "exit_at_open",
        "price_return",
        "fees",
        "financing",
        "net_return",
        "bars_held",
        "side",
    )
    return {k: np.array([r[k] for r in rows]) for k in keys}


def assert_matches_reference(result, ref):
    """Exact equality of bars and reasons, float equality up to rounding for money."""
    names = np.asarray(REASON_NAMES, dtype=object)[result.reason]
    np.testing.assert_array_equal(names, ref["reason"].astype(object) if len(names) else names)
    np.testing.assert_array_equal(result.exit_idx, ref["exit_idx"].astype(np.int64))
    np.testing.assert_array_equal(result.bars_held, ref["bars_held"].astype(np.int64))
    np.testing.assert_array_equal(result.exit_at_open, ref["exit_at_open"].astype(bool))
    np.testing.assert_array_equal(result.side, ref["side"].astype(np.int8))
    for key in ("entry_price", "exit_price", "price_return", "fees", "financing", "net_return"):
        np.testing.assert_allclose(getattr(result, key), ref[key].astype(float), rtol=1e-9, atol=1e-12, err_msg=key)


def segments(lengths):
    """``seg_end`` for tickers of the given lengths concatenated."""
    ends = np.cumsum(lengths) - 1
    return np.repeat(ends, lengths).astype(np.int64)


@pytest.fixture(scope="session")
def sample_panel():
    """A few sample tickers (2000-2017) read with pandas, as flat arrays plus the frame."""
    import pandas as pd

    frames = []
    for ticker in ("AAPL", "AMD", "GE", "JPM", "NVDA"):
        df = pd.read_csv(SAMPLE_DIR / f"{ticker}.csv", parse_dates=["Date"])
        df["ticker"] = ticker
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="session")
def simref():
    """The reference implementation and helpers, as a fixture (test modules are not importable)."""
    from types import SimpleNamespace

    return SimpleNamespace(
        simulate=reference_simulate, trade=reference_trade, check=assert_matches_reference, segments=segments
    )


@pytest.fixture(scope="session")
def canonical_panel(sample_panel):
    """The sample tickers as a canonical (ticker, date) panel, 2012-2017 only (small and fast)."""
    frame = sample_panel.rename(
        columns={
            "Date": "date",
            "Open": "open",
            "High": "high",
            "Low": "low",
            "Close": "close",
            "Adj Close": "adj_close",
            "Volume": "volume",
        }
    )
    frame = frame[frame["date"] >= "2012-01-01"].astype({"volume": float})
    return frame.set_index(["ticker", "date"]).sort_index()
