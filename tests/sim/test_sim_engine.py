"""Hand-checked simulator cases: each number below is worked out on paper from docs/simulator.md."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pydantic import ValidationError

from qlop.sim import REASONS, TradeRules, barrier_prices, liquidation_price, simulate

#: The hand calculations below assume no cost unless a case names one (the shared defaults carry
#: commission, slippage and financing).
free = TradeRules.frictionless


def run(bars, rules, entry=0, days=None, **overrides):
    """Simulate one trade (or several entries) on a single-ticker panel of (open, high, low, close) bars."""
    arr = np.asarray(bars, dtype=float)
    n = len(arr)
    day = np.arange(n, dtype=np.int64) if days is None else np.asarray(days)
    entries = np.atleast_1d(entry)
    return simulate(arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3], day, np.full(n, n - 1), entries, rules, **overrides)


def one(result):
    """The single trade of ``result`` as a dict with the reason as a string."""
    assert len(result) == 1
    return {
        "reason": REASONS[result.reason[0]],
        "exit_idx": int(result.exit_idx[0]),
        "price": float(result.exit_price[0]),
        "at_open": bool(result.exit_at_open[0]),
        "ret": float(result.price_return[0]),
        "net": float(result.net_return[0]),
        "fees": float(result.fees[0]),
        "fin": float(result.financing[0]),
        "bars": int(result.bars_held[0]),
    }


FLAT = [100, 100.5, 99.5, 100]
LONG = free(side="long", leverage=1, horizon=5, take_profit=0.05, stop_loss=0.03)
SHORT = LONG.model_copy(update={"side": "short"})


def test_gap_through_take_profit_fills_at_the_open():
    t = one(run([FLAT, [110, 112, 109, 111], FLAT], LONG))
    assert (t["reason"], t["exit_idx"], t["price"], t["at_open"]) == ("tp", 1, 110.0, True)
    assert t["ret"] == pytest.approx(0.10)
    # Short: a gap down through the take-profit fills at the (better) open too.
    t = one(run([FLAT, [90, 91, 88, 89], FLAT], SHORT))
    assert (t["reason"], t["price"], t["at_open"]) == ("tp", 90.0, True)
    assert t["ret"] == pytest.approx(0.10)


def test_gap_through_stop_fills_at_the_open_not_the_level():
    t = one(run([FLAT, [95, 96, 94, 95.5], FLAT], LONG))
    assert (t["reason"], t["price"], t["at_open"]) == ("sl", 95.0, True)
    assert t["ret"] == pytest.approx(-0.05)


def test_an_open_outside_the_bars_range_still_counts_as_a_gap():
    # Adjusted data can leave the open a hair below the low; the bar trades at its open all the same.
    t = one(run([FLAT, [96.9, 99, 97.5, 98], FLAT], LONG))
    assert (t["reason"], t["price"], t["at_open"]) == ("sl", 96.9, True)


def test_a_bar_touching_both_barriers_takes_the_stop():
    t = one(run([FLAT, [100, 106, 96, 104], FLAT], LONG))
    assert (t["reason"], t["exit_idx"], t["price"], t["at_open"]) == ("sl", 1, 97.0, False)
    t = one(run([FLAT, [100, 104, 94, 96], FLAT], SHORT))
    assert (t["reason"], t["price"]) == ("sl", 103.0)


def test_touching_exactly_the_level_counts():
    tp, sl, _ = barrier_prices(np.array([100.0]), 1, LONG)
    t = one(run([FLAT, [100, tp[0], 99, 100], FLAT], LONG))
    assert (t["reason"], t["price"]) == ("tp", tp[0])
    t = one(run([FLAT, [100, 101, sl[0], 100], FLAT], LONG))
    assert (t["reason"], t["price"]) == ("sl", sl[0])


def test_the_entry_bar_counts_after_its_open():
    t = one(run([[100, 106, 99.5, 105], FLAT], LONG))
    assert (t["reason"], t["exit_idx"], t["bars"], t["price"]) == ("tp", 0, 1, 105.0)


def test_liquidation_price_leaves_equity_at_the_maintenance_margin():
    for lev, mm in [(3.0, 0.25), (10.0, 0.05), (2.0, 0.0), (1.5, 0.6)]:
        e = 100.0
        p_long = float(liquidation_price(e, 1, lev, mm))
        p_short = float(liquidation_price(e, -1, lev, mm))
        qty = lev / e  # margin 1, notional lev
        assert 1 + qty * (p_long - e) == pytest.approx(mm * qty * p_long)
        assert 1 + qty * (e - p_short) == pytest.approx(mm * qty * p_short)
    assert float(liquidation_price(100.0, 1, 3, 0.25)) == pytest.approx(100 * 2 / (3 * 0.75))
    assert float(liquidation_price(100.0, -1, 3, 0.25)) == pytest.approx(100 * 4 / (3 * 1.25))
    assert float(liquidation_price(100.0, 1, 1, 0.25)) == -math.inf  # an unlevered long is never liquidated


def test_liquidation_inside_a_bar_and_through_a_gap():
    rules = free(side="long", leverage=3, horizon=5, maintenance_margin=0.25, liquidation_fee=0.01)
    p_liq = 100 * 2 / (3 * 0.75)
    t = one(run([FLAT, [95, 96, 85, 90], FLAT], rules))
    assert (t["reason"], t["price"], t["at_open"]) == ("liquidation", pytest.approx(p_liq), False)
    # Equity left = mm x notional: 1 - 3 * (1 - p_liq/100) = 0.25 * 3 * p_liq/100 = 2/3 of the margin.
    assert t["ret"] * 3 == pytest.approx(-1 / 3)
    assert t["fees"] == pytest.approx(0.01 * 3 * p_liq / 100)
    t = one(run([FLAT, [80, 82, 78, 81], FLAT], rules))
    assert (t["reason"], t["price"], t["at_open"]) == ("liquidation", 80.0, True)
    short = rules.model_copy(update={"side": "short"})
    t = one(run([FLAT, [103, 115, 102, 110], FLAT], short))
    assert (t["reason"], t["price"]) == ("liquidation", pytest.approx(100 * 4 / (3 * 1.25)))


def test_the_nearer_of_stop_and_liquidation_is_hit_first():
    base = free(side="long", leverage=10, horizon=5, maintenance_margin=0.05)
    p_liq = 100 * 9 / (10 * 0.95)  # 94.74
    crash = [FLAT, [99, 99.5, 90, 91], FLAT]
    t = one(run(crash, base.model_copy(update={"stop_loss": 0.03})))
    assert (t["reason"], t["price"]) == ("sl", 97.0)
    t = one(run(crash, base.model_copy(update={"stop_loss": 0.08})))
    assert (t["reason"], t["price"]) == ("liquidation", pytest.approx(p_liq))
    # A gap below the stop but above the liquidation price is a stop at the open ...
    t = one(run([FLAT, [96, 96.5, 95.5, 96], FLAT], base.model_copy(update={"stop_loss": 0.03})))
    assert (t["reason"], t["price"], t["at_open"]) == ("sl", 96.0, True)
    # ... a gap below the liquidation price is a liquidation even when the stop is nearer.
    t = one(run([FLAT, [93, 94, 92, 93], FLAT], base.model_copy(update={"stop_loss": 0.03})))
    assert (t["reason"], t["price"], t["at_open"]) == ("liquidation", 93.0, True)


def test_stop_at_the_liquidation_price_counts_as_liquidation():
    rules = free(side="long", leverage=10, horizon=5, maintenance_margin=0.0, stop_loss=0.1)
    tp, sl, liq = barrier_prices(np.array([100.0]), 1, rules)
    assert sl[0] == liq[0] == pytest.approx(90.0)
    t = one(run([FLAT, [95, 96, 85, 90], FLAT], rules))
    assert t["reason"] == "liquidation"


def test_costs_arithmetic_long():
    rules = free(side="long", leverage=3, horizon=2, commission_bps=10, slippage_bps=5, financing_rate=0.05)
    t = one(run([FLAT, [104, 111, 103, 110], FLAT], rules, days=[0, 3, 4]))
    assert (t["reason"], t["exit_idx"], t["price"]) == ("horizon", 1, 110.0)
    assert t["fees"] == pytest.approx(0.0015 * 3 + 0.0015 * 3 * 1.10)  # both legs on notional
    assert t["fin"] == pytest.approx(0.05 * 2 * 3 / 360)  # borrowed part (L-1) x calendar days, ACT/360
    assert t["net"] == pytest.approx(3 * 0.10 - t["fees"] - t["fin"])


def test_dates_count_as_calendar_days():
    rules = free(side="long", leverage=2, horizon=2, financing_rate=0.1)
    dates = np.array(["2020-01-03", "2020-01-06", "2020-01-07"], dtype="datetime64[ns]")  # Friday -> Monday
    t = one(run([FLAT, FLAT, FLAT], rules, days=dates))  # datetime64 values become day numbers
    assert t["fin"] == pytest.approx(0.1 * 1 * 3 / 360)


def test_day_count_act_360_is_the_default_and_act_365_divides_by_365():
    assert TradeRules().day_count == "act_360"
    for day_count, year in (("act_360", 360), ("act_365", 365)):
        long = free(side="long", leverage=2, horizon=2, financing_rate=0.1, day_count=day_count)
        assert one(run([FLAT, FLAT, FLAT], long, days=[0, 3, 4]))["fin"] == pytest.approx(0.1 * 1 * 3 / year)
        short = free(side="short", leverage=2, horizon=2, borrow_fee=0.1, day_count=day_count)
        assert one(run([FLAT, FLAT, FLAT], short, days=[0, 7, 8]))["fin"] == pytest.approx(0.1 * 2 * 7 / year)


def test_costs_arithmetic_short_pay_borrow_fee_not_financing():
    rules = free(
        side="short", leverage=2, horizon=2, commission_bps=1, slippage_bps=2, financing_rate=0.05, borrow_fee=0.1
    )
    t = one(run([FLAT, [95, 96, 89, 90], FLAT], rules, days=[0, 7, 8]))
    assert (t["reason"], t["price"]) == ("horizon", 90.0)
    assert t["ret"] == pytest.approx(0.10)
    assert t["fees"] == pytest.approx(0.0003 * 2 * (1 + 0.9))
    assert t["fin"] == pytest.approx(0.1 * 2 * 7 / 360)
    assert t["net"] == pytest.approx(0.2 - t["fees"] - t["fin"])


def test_loss_is_floored_at_the_margin():
    rules = free(side="long", leverage=5, horizon=3, maintenance_margin=0.0, commission_bps=10)
    t = one(run([FLAT, [70, 71, 69, 70], FLAT], rules))
    assert (t["reason"], t["price"]) == ("liquidation", 70.0)
    assert t["ret"] == pytest.approx(-0.30)
    assert t["net"] == -1.0


def test_horizon_exit_at_close_and_end_of_data():
    rules = free(horizon=3)
    bars = [FLAT, [100, 101, 99, 100.2], [100, 101, 99, 100.4], [100, 101, 99, 100.6], [100, 101, 99, 100.8]]
    res = run(bars, rules, entry=[0, 1, 3])
    assert [REASONS[r] for r in res.reason] == ["horizon", "horizon", "end"]
    assert res.exit_idx.tolist() == [2, 3, 4]
    assert res.exit_price.tolist() == [100.4, 100.6, 100.8]
    assert res.bars_held.tolist() == [3, 3, 2]
    frame = res.to_frame()
    assert frame["reason"].tolist() == ["horizon", "horizon", "end"] and len(frame) == 3


def test_a_trade_never_reads_the_next_tickers_bars():
    # Ticker A ends at bar 2; ticker B's bars would hit every barrier.
    o = np.array([100, 100, 100, 10, 500.0])
    h = np.array([101, 101, 101, 600, 600.0])
    lo = np.array([99, 99, 99, 1, 1.0])
    c = np.array([100, 100, 100.5, 10, 500.0])
    res = simulate(o, h, lo, c, np.arange(5), np.array([2, 2, 2, 4, 4]), [1], LONG)
    assert (REASONS[res.reason[0]], int(res.exit_idx[0]), float(res.exit_price[0])) == ("end", 2, 100.5)


def test_signal_exit_at_an_open():
    rules = free(horizon=5, take_profit=0.05, stop_loss=0.03)
    bars = [FLAT, FLAT, [101, 101.5, 100.5, 101], FLAT, FLAT]
    t = one(run(bars, rules, exit_open_idx=[2]))
    assert (t["reason"], t["exit_idx"], t["price"], t["at_open"], t["bars"]) == ("signal", 2, 101.0, True, 3)
    # A barrier hit before the signal bar wins; a gap through a barrier at that same open is the barrier.
    t = one(run([FLAT, [100, 106, 99, 105], *bars[2:]], rules, exit_open_idx=[2]))
    assert (t["reason"], t["exit_idx"]) == ("tp", 1)
    t = one(run([FLAT, FLAT, [95, 96, 94, 95], FLAT, FLAT], rules, exit_open_idx=[2]))
    assert (t["reason"], t["price"]) == ("sl", 95.0)
    # The signal precedes the intrabar move of its bar; negative or far-away indices never trigger.
    t = one(run([FLAT, FLAT, [100, 106, 99, 105], FLAT, FLAT], rules, exit_open_idx=[2]))
    assert (t["reason"], t["price"]) == ("signal", 100.0)
    assert one(run(bars, rules, exit_open_idx=[-1]))["reason"] == "horizon"
    assert one(run(bars, rules, exit_open_idx=[40]))["reason"] == "horizon"


def test_per_trade_side_and_horizon_overrides():
    bars = [FLAT, [100, 101, 99, 100.5], [100.5, 101.5, 100, 101], [101, 102, 100.5, 102]]
    res = run(bars, free(horizon=4), entry=[0, 0, 0], side=[1, -1, 1], horizon=[4, 4, 2])
    assert res.side.tolist() == [1, -1, 1]
    assert res.price_return[0] == pytest.approx(0.02) and res.price_return[1] == pytest.approx(-0.02)
    assert res.exit_idx.tolist() == [3, 3, 1]


def test_insolvent_leverage_is_refused_in_one_line():
    with pytest.raises(ValidationError) as err:
        TradeRules(leverage=4, maintenance_margin=0.25)
    assert err.value.errors()[0]["loc"] == ("maintenance_margin",)
    assert "leverage 4 x maintenance_margin 0.25 = 1 >= 1: the position would be liquidated at entry" in str(err.value)
    with pytest.raises(ValidationError, match="leverage 5 x maintenance_margin 0.25"):
        TradeRules(leverage=5)  # the default maintenance margin is checked too
    TradeRules(leverage=3.99, maintenance_margin=0.25)


def test_rules_are_immutable_and_strict():
    with pytest.raises(ValidationError):
        TradeRules(stop_los=0.1)
    with pytest.raises(ValidationError):
        LONG.leverage = 2  # type: ignore[misc]


def test_bad_inputs_raise():
    bars = [FLAT, FLAT, FLAT]
    with pytest.raises(ValueError, match="exit_open_idx must be after entry_idx"):
        run(bars, LONG, entry=[1], exit_open_idx=[1])
    with pytest.raises(ValueError, match="out of range"):
        run(bars, LONG, entry=[3])
    with pytest.raises(ValueError, match="horizon must be >= 1"):
        run(bars, LONG, horizon=[0])
    with pytest.raises(ValueError, match="side must be"):
        run(bars, LONG, side=[0])
    with pytest.raises(ValueError, match="not a positive price"):
        run([[np.nan, 1, 1, 1], FLAT], LONG)


def test_no_trades_gives_empty_arrays():
    res = run([FLAT, FLAT], LONG, entry=np.array([], dtype=np.int64))
    assert len(res) == 0 and res.net_return.shape == (0,)
    assert res.to_frame().empty
