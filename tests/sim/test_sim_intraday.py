"""Intraday panels in the simulator: the clock from timestamps, carry on the time held, session exits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qlop.sim import REASONS, TradeRules, panel_arrays, simulate
from qlop.sim.rates import RateCurve


def _panel(times, ticker="BTC", price=100.0, tz=None):
    idx = pd.MultiIndex.from_arrays([[ticker] * len(times), pd.DatetimeIndex(times)], names=["ticker", "date"])
    n = len(times)
    frame = pd.DataFrame(
        {
            "open": np.full(n, price),
            "high": np.full(n, price * 1.001),
            "low": np.full(n, price * 0.999),
            "close": np.full(n, price),
            "adj_close": np.full(n, price),
            "volume": np.full(n, 1.0),
        },
        index=idx,
    )
    if tz:
        frame.attrs["timezone"] = tz
    return frame


def hourly_24_7(days=3):
    return _panel(pd.date_range("2024-03-01", periods=24 * days, freq="1h", tz="UTC"))


def xnys_5m(sessions=("2024-03-01", "2024-03-04")):
    """Regular hours 09:30-16:00 New York, 5-minute bars (78 a session), a weekend between."""
    times = []
    for day in sessions:
        start = pd.Timestamp(f"{day} 09:30", tz="America/New_York")
        times.extend(pd.date_range(start, periods=78, freq="5min").tz_convert("UTC"))
    return _panel(times, ticker="SPY", tz="America/New_York")


def test_clock_of_an_intraday_panel():
    arr = panel_arrays(hourly_24_7())
    assert arr.intraday and arr.bar_seconds == 3600
    assert arr.clock.time[1] - arr.clock.time[0] == 3600
    assert arr.day[0] == np.datetime64("2024-03-01", "D").astype(np.int64)
    # 24/7 in UTC: a session is a UTC day of 24 bars
    np.testing.assert_array_equal(arr.session_end[:24], np.full(24, 23))
    assert arr.session_end[24] == 47


def test_sessions_follow_the_exchange_time_zone():
    arr = panel_arrays(xnys_5m())
    assert arr.bar_seconds == 300
    np.testing.assert_array_equal(arr.session_end, np.repeat([77, 155], 78))


def test_a_daily_panel_has_no_clock(canonical_panel):
    arr = panel_arrays(canonical_panel)
    assert not arr.intraday and arr.bar_seconds == 0
    np.testing.assert_array_equal(arr.stamp, arr.day)


@pytest.mark.parametrize("day_count,year", [("act_360", 360.0), ("act_365", 365.0)])
def test_24_hourly_bars_pay_exactly_one_days_financing(day_count, year):
    arr = panel_arrays(hourly_24_7())
    rules = TradeRules.frictionless(leverage=3.0, horizon=24, financing_rate=0.06, day_count=day_count, borrow_fee=0.1)
    args = (arr.open, arr.high, arr.low, arr.close, arr.day, arr.seg_end)
    long = simulate(*args, [5], rules, clock=arr.clock)
    assert REASONS[long.reason[0]] == "horizon" and long.bars_held[0] == 24
    assert long.financing[0] == 0.06 * 2.0 / year  # one day on the borrowed 2x margin
    short = simulate(*args, [5], rules.model_copy(update={"side": "short"}), clock=arr.clock)
    assert short.financing[0] == 0.1 * 3.0 / year
    one = simulate(*args, [5], rules.model_copy(update={"horizon": 1}), clock=arr.clock)
    assert one.financing[0] == pytest.approx(0.06 * 2.0 / year / 24, rel=1e-15)


def test_a_series_accrues_each_days_rate_for_the_part_of_the_day_held():
    arr = panel_arrays(hourly_24_7())
    first = int(arr.day[0])
    curve = RateCurve(first, np.array([0.02, 0.10, 0.04, 0.04]))
    rules = TradeRules.frictionless(leverage=2.0, horizon=24, financing_rate={"ticker": "R", "units": "fraction"})
    # entry at 18:00 on day 0: 6 hours at 2 %, 18 hours at 10 %
    res = simulate(
        arr.open, arr.high, arr.low, arr.close, arr.day, arr.seg_end, [18], rules, financing=curve, clock=arr.clock
    )
    assert res.financing[0] == pytest.approx((0.02 * 6 / 24 + 0.10 * 18 / 24) / 360, rel=1e-12)


def test_exit_at_session_end_closes_before_the_overnight_gap():
    frame = xnys_5m()
    frame.loc[("SPY", frame.index[78][1]), "open"] = 50.0  # Monday opens far below Friday's stop
    arr = panel_arrays(frame)
    args = (arr.open, arr.high, arr.low, arr.close, arr.day, arr.seg_end)
    base = TradeRules.frictionless(horizon=20, stop_loss=0.05)
    held = simulate(*args, [70], base, clock=arr.clock)
    assert REASONS[held.reason[0]] == "sl" and held.exit_idx[0] == 78 and held.exit_at_open[0]  # gap fill
    flat = simulate(*args, [70], base.model_copy(update={"exit_at_session_end": True}), clock=arr.clock)
    assert REASONS[flat.reason[0]] == "session" and flat.exit_idx[0] == 77 and not flat.exit_at_open[0]
    # in the last session the data's end comes with the session's: that is the data's end
    last = simulate(*args, [150], base.model_copy(update={"exit_at_session_end": True}), clock=arr.clock)
    assert REASONS[last.reason[0]] == "end" and last.exit_idx[0] == 155


def test_label_with_session_exit_labels_rows_whose_session_closes_in_the_data():
    from qlop_contrib.labels.leverage import LeverageOpportunityLabel

    frame = xnys_5m()
    plain = LeverageOpportunityLabel("leverage_opportunity", {"horizon": 12}).make_labels(frame)
    by_session = LeverageOpportunityLabel(
        "leverage_opportunity", {"horizon": 12, "exit_at_session_end": True}
    ).make_labels(frame)
    # without the session exit the last 12 bars of the data have no label; with it, the first
    # session's rows all do (their trades close at 16:00), the last session's last 12 still do not
    assert plain["label"].isna().sum() == 12
    assert by_session["label"].iloc[:77].notna().all()
    assert by_session["label"].iloc[-12:].isna().all()
    assert set(by_session["exit_reason"].iloc[66:77]) == {"session"}
    assert by_session["bars_held"].iloc[76] == 1  # signal on the 15:50 bar: enters 15:55, leaves 16:00


def test_with_the_exchange_calendar_the_last_bar_of_a_session_closes_at_the_close():
    """XNYS hourly bars (data layer attrs): 09:30 .. 15:30, the 15:30 bar ends at 16:00, not 16:30;
    the day after Thanksgiving closes at 13:00, so its 12:30 bar is its last and ends then."""
    pytest.importorskip("qlop.sessions")
    times = []
    for day, bars in (("2023-11-22", 7), ("2023-11-24", 4)):
        start = pd.Timestamp(f"{day} 09:30", tz="America/New_York")
        times.extend(pd.date_range(start, periods=bars, freq="1h").tz_convert("UTC"))
    frame = _panel(times, ticker="SPY")
    frame.attrs.update(interval="1h", session="XNYS", timezone="America/New_York")
    arr = panel_arrays(frame)
    np.testing.assert_array_equal(arr.session_end, np.repeat([6, 10], [7, 4]))
    ends = pd.to_datetime(arr.clock.ends, unit="s", utc=True).tz_convert("America/New_York")
    assert [f"{t:%H:%M}" for t in ends[5:]] == ["15:30", "16:00", "10:30", "11:30", "12:30", "13:00"]
    rules = TradeRules.frictionless(leverage=2.0, horizon=2, financing_rate=0.0876, day_count="act_365")
    res = simulate(arr.open, arr.high, arr.low, arr.close, arr.day, arr.seg_end, [5], rules, clock=arr.clock)
    # 14:30 to 16:00: an hour and a half on the borrowed margin
    assert res.financing[0] == pytest.approx(0.0876 * 1.5 / 24 / 365, rel=1e-12)
