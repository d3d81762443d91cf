"""Property test: the vectorised simulator equals the per-trade reference loop on random panels.

Panels are random OHLC-consistent paths with overnight gaps (some large), optionally snapped to a
coarse price grid so that exact barrier touches and stop/liquidation ties happen; rules cover both
sides, leverage up to 25x, every cost term (stop slippage included), both day counts, a financing rate
that is a constant or a series varying day by day, and per-trade side, horizon and exit-at-open
overrides.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qlop.sim import TradeRules, engine, simulate
from qlop.sim.rates import RateCurve
from qlop.sim.terms import RateSeries

#: A financing-rate series in the rules; its values are drawn per example and handed to the simulator
#: as a curve (the loading through a data source is tested in test_sim_rates.py).
SERIES = RateSeries(ticker="RATE", units="fraction")


@st.composite
def random_panel(draw):
    n_tickers = draw(st.integers(1, 3))
    lengths = np.array(draw(st.lists(st.integers(1, 25), min_size=n_tickers, max_size=n_tickers)))
    seed = draw(st.integers(0, 2**32 - 1))
    vol = draw(st.sampled_from([0.005, 0.02, 0.05, 0.12]))
    gap_prob = draw(st.sampled_from([0.0, 0.15, 0.4]))
    tick = draw(st.sampled_from([None, 0.01, 0.25]))
    rng = np.random.default_rng(seed)
    opens, highs, lows, closes, days = [], [], [], [], []
    for length in lengths:
        prev = rng.uniform(5, 200)
        day = int(rng.integers(10_000, 20_000))
        for _ in range(length):
            gap = rng.normal(0, vol / 4) + (rng.normal(0, 3 * vol) if rng.random() < gap_prob else 0.0)
            op = prev * np.exp(gap)
            cl = op * np.exp(rng.normal(0, vol))
            hi = max(op, cl) * np.exp(abs(rng.normal(0, vol / 2)))
            lo = min(op, cl) * np.exp(-abs(rng.normal(0, vol / 2)))
            if tick:
                op, cl, hi, lo = (max(round(x / tick) * tick, tick) for x in (op, cl, hi, lo))
                hi, lo = max(hi, op, cl), min(lo, op, cl)
            opens.append(op)
            highs.append(hi)
            lows.append(lo)
            closes.append(cl)
            days.append(day)
            day += int(rng.integers(1, 5))
            prev = cl
    n = int(lengths.sum())
    m = draw(st.integers(1, 40))
    entries = rng.integers(0, n, size=m)
    panel = dict(
        o=np.array(opens),
        h=np.array(highs),
        l=np.array(lows),
        c=np.array(closes),
        day=np.array(days, dtype=np.int64),
        lengths=lengths,
        entries=entries,
    )
    overrides = {}
    if draw(st.booleans()):
        overrides["side"] = rng.choice([-1, 1], size=m)
    if draw(st.booleans()):
        overrides["horizon"] = rng.integers(1, 9, size=m)
    if draw(st.booleans()):
        overrides["exit_open_idx"] = np.where(rng.random(m) < 0.5, -1, entries + rng.integers(1, 9, size=m))
    return panel, overrides


@st.composite
def random_rules(draw):
    leverage = draw(st.sampled_from([0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 25.0]))
    mm = draw(st.sampled_from([0.0, 0.02, 0.1, 0.25, 0.5]))
    if leverage * mm >= 1:
        mm = 0.02
    barrier = st.one_of(st.none(), st.sampled_from([0.005, 0.01, 0.02, 0.05, 0.1, 0.3]))
    return TradeRules(
        side=draw(st.sampled_from(["long", "short"])),
        leverage=leverage,
        horizon=draw(st.integers(1, 8)),
        take_profit=draw(barrier),
        stop_loss=draw(barrier),
        maintenance_margin=mm,
        liquidation_fee=draw(st.sampled_from([0.0, 0.005, 0.02])),
        commission_bps=draw(st.sampled_from([0.0, 1.0, 5.5])),
        slippage_bps=draw(st.sampled_from([0.0, 2.0, 10.0])),
        financing_rate=draw(st.sampled_from([0.0, 0.05, 0.2, SERIES])),
        stop_slippage_bps=draw(st.sampled_from([0.0, 0.0, 5.0, 50.0])),
        borrow_fee=draw(st.sampled_from([0.0, 0.03, 0.5])),
        day_count=draw(st.sampled_from(["act_365", "act_360"])),
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=random_panel(), rules=random_rules(), block=st.sampled_from([1, 3, 64]))
def test_simulate_equals_per_trade_loop(simref, data, rules, block):
    panel, overrides = data
    seg_end = simref.segments(panel["lengths"])
    args = (panel["o"], panel["h"], panel["l"], panel["c"], panel["day"], seg_end, panel["entries"])
    curve = rate_on = None
    if rules.financing_rate == SERIES:  # a rate that changes every few days, some days negative
        first, last = int(panel["day"].min()), int(panel["day"].max())
        steps = np.random.default_rng(int(panel["day"].sum())).choice([-0.01, 0.0, 0.02, 0.07, 0.3], last - first + 1)
        curve = RateCurve(first, np.repeat(steps[::3], 3)[: last - first + 1])
        rate_on = lambda k: float(curve.rate[k - first])  # noqa: E731
    # Long windows are scanned a block of bars at a time; small blocks exercise the multi-pass scan.
    saved, engine._BLOCK = engine._BLOCK, block
    try:
        result = simulate(*args, rules, **overrides, financing=curve)
    finally:
        engine._BLOCK = saved
    ref = simref.simulate(
        *args,
        rules,
        side=overrides.get("side"),
        horizon=overrides.get("horizon"),
        exit_open=overrides.get("exit_open_idx"),
        rate_on=rate_on,
    )
    simref.check(result, ref)
    assert np.all(result.net_return >= -1.0)
    # No trade reads past its own ticker's last bar.
    assert np.all(result.exit_idx <= seg_end[panel["entries"]])


@st.composite
def random_intraday_panel(draw):
    """Intraday tickers: 24/7 bars (a session per UTC day) or exchange sessions of a few bars opening
    at 14:30 UTC with overnight and weekend gaps between them; the clock is built here, bar by bar."""
    bar = draw(st.sampled_from([300, 3600, 4 * 3600]))
    always_open = draw(st.booleans())
    n_tickers = draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**32 - 1))
    vol = draw(st.sampled_from([0.002, 0.01, 0.04]))
    rng = np.random.default_rng(seed)
    o, h, l, c, times, sess_end, lengths = [], [], [], [], [], [], []
    for _ in range(n_tickers):
        prev = rng.uniform(5, 200)
        day = int(rng.integers(18_000, 20_000))
        t = day * 86400 + (int(rng.integers(0, 86400 // bar)) * bar if always_open else 14 * 3600 + 1800)
        count = int(rng.integers(1, 40))
        start = len(times)
        for j in range(count):
            new_session = j == 0 or (always_open and t // 86400 != times[-1] // 86400)  # 24/7: a session is a UTC day
            op = prev * np.exp(rng.normal(0, vol / 4) + (rng.normal(0, 4 * vol) if new_session and j else 0.0))
            cl = op * np.exp(rng.normal(0, vol))
            o.append(op)
            c.append(cl)
            h.append(max(op, cl) * np.exp(abs(rng.normal(0, vol / 2))))
            l.append(min(op, cl) * np.exp(-abs(rng.normal(0, vol / 2))))
            times.append(t)
            prev = cl
            if always_open:
                t += bar
            elif rng.random() < 0.25:  # the session closes after this bar: next one days later
                t = (t // 86400 + int(rng.integers(1, 4))) * 86400 + 14 * 3600 + 1800
            else:
                t += bar
        # the session of each bar ends at its last bar before the next session starts
        sess = []
        for i in range(start, len(times)):
            k = i
            while k + 1 < len(times) and _same_session(times[k], times[k + 1], bar, always_open):
                k += 1
            sess.append(k)
        sess_end.extend(sess)
        lengths.append(count)
    n = len(times)
    m = draw(st.integers(1, 40))
    entries = rng.integers(0, n, size=m)
    panel = dict(
        o=np.array(o),
        h=np.array(h),
        l=np.array(l),
        c=np.array(c),
        day=np.array(times, dtype=np.int64) // 86400,
        time=np.array(times, dtype=np.int64),
        bar=bar,
        session_end=np.array(sess_end, dtype=np.int64),
        lengths=np.array(lengths),
        entries=entries,
    )
    overrides = {}
    if draw(st.booleans()):
        overrides["side"] = rng.choice([-1, 1], size=m)
    if draw(st.booleans()):
        overrides["horizon"] = rng.integers(1, 30, size=m)
    if draw(st.booleans()):
        overrides["exit_open_idx"] = np.where(rng.random(m) < 0.5, -1, entries + rng.integers(1, 9, size=m))
    return panel, overrides


def _same_session(t0, t1, bar, always_open):
    if always_open:
        return t0 // 86400 == t1 // 86400
    return t1 - t0 == bar


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=random_intraday_panel(), rules=random_rules(), session_exit=st.booleans())
def test_intraday_simulate_equals_per_trade_loop(simref, data, rules, session_exit):
    """Intraday calendars: carry on the seconds held, exits at the session's last bar, gaps at opens."""
    from qlop.sim.panel import BarClock

    panel, overrides = data
    rules = rules.model_copy(update={"exit_at_session_end": session_exit, "horizon": rules.horizon * 3})
    seg_end = simref.segments(panel["lengths"])
    # a session never runs past its ticker's data
    session_end = np.minimum(panel["session_end"], seg_end)
    clock = BarClock(panel["time"], panel["bar"], session_end)
    args = (panel["o"], panel["h"], panel["l"], panel["c"], panel["day"], seg_end, panel["entries"])
    curve = rate_on = None
    if rules.financing_rate == SERIES:
        first = int(panel["day"].min())
        last = int((panel["time"].max() + panel["bar"]) // 86400)
        steps = np.random.default_rng(int(panel["day"].sum())).choice([-0.01, 0.0, 0.02, 0.07, 0.3], last - first + 1)
        curve = RateCurve(first, steps)
        rate_on = lambda k: float(curve.rate[k - first])  # noqa: E731
    result = simulate(*args, rules, **overrides, financing=curve, clock=clock)
    ref = simref.simulate(
        *args,
        rules,
        side=overrides.get("side"),
        horizon=overrides.get("horizon"),
        exit_open=overrides.get("exit_open_idx"),
        rate_on=rate_on,
        clock=(panel["time"], panel["bar"], session_end),
    )
    simref.check(result, ref)
    if session_exit:  # no trade is open across a session break
        assert np.all(result.exit_idx <= session_end[panel["entries"]])
