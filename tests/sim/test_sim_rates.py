"""Rates in the simulator and the label: a financing-rate series read through a data source and
applied day by day, the day count, and the extra slippage of stop and liquidation fills.

The rate series here are made up for the tests (written to CSV files by :func:`write_rates`): the
embedded sample data has no rate series.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from qlop.errors import ConfigError
from qlop.sim import TradeRules, simulate
from qlop.sim.terms import RateSeries

FLAT = [100.0, 100.0, 100.0, 100.0]


def write_rates(folder: Path, ticker: str, prints: dict[str, float]) -> RateSeries:
    """A CSV rate series in the data sources' OHLCV layout (close = the annual rate in percent)."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["Date,Open,High,Low,Close,Volume"]
    lines += [f"{d},{r},{r},{r},{r},0" for d, r in sorted(prints.items())]
    (folder / f"{ticker}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return RateSeries(data_source_type="csv", data_source_params={"path": str(folder)}, ticker=ticker, units="percent")


def _days(*dates: str) -> np.ndarray:
    return np.array(dates, dtype="datetime64[D]").astype(np.int64)


def _trade(rules: TradeRules, dates: np.ndarray, bars: list[list[float]] | None = None):
    bars = bars or [FLAT] * len(dates)
    o, h, lo, c = (np.array([b[k] for b in bars]) for k in range(4))
    n = len(dates)
    res = simulate(o, h, lo, c, dates, np.full(n, n - 1), np.array([0]), rules)
    return res


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("QLOP_CACHE_DIR", str(tmp_path / "cache"))


def test_a_time_varying_financing_rate_is_applied_on_the_right_days(tmp_path):
    """1 % until Friday 2021-01-08, 10 % from Monday 2021-01-11 (no weekend prints): a long held from
    Wednesday the 6th to Wednesday the 13th pays 1 % for the nights of the 6th to the 10th (Friday's
    print holds over the weekend) and 10 % for the nights of the 11th and 12th; held to the 8th only,
    it never sees the 10 %."""
    series = write_rates(
        tmp_path / "rates",
        "FEDFUNDS",
        {
            "2021-01-04": 1.0,
            "2021-01-05": 1.0,
            "2021-01-06": 1.0,
            "2021-01-07": 1.0,
            "2021-01-08": 1.0,
            "2021-01-11": 10.0,
            "2021-01-12": 10.0,
            "2021-01-13": 10.0,
        },
    )
    dates = _days("2021-01-06", "2021-01-13")
    rules = TradeRules.frictionless(side="long", leverage=3, horizon=2, financing_rate=series)
    fin = _trade(rules, dates).financing[0]
    assert fin == pytest.approx((3 - 1) * (5 * 0.01 + 2 * 0.10) / 360, rel=1e-12)
    short_hold = _trade(rules, _days("2021-01-06", "2021-01-08")).financing[0]
    assert short_hold == pytest.approx((3 - 1) * 2 * 0.01 / 360, rel=1e-12)
    # the same series under ACT/365: the sum of the days' rates over 365
    fin_365 = _trade(rules.model_copy(update={"day_count": "act_365"}), dates).financing[0]
    assert fin_365 == pytest.approx((3 - 1) * (5 * 0.01 + 2 * 0.10) / 365, rel=1e-12)
    # a constant rate equal to the series' mean over those days charges the same
    const = _trade(rules.model_copy(update={"financing_rate": (5 * 0.01 + 2 * 0.10) / 7}), dates).financing[0]
    assert const == pytest.approx(fin, rel=1e-12)


def test_financing_accrues_calendar_days_held_under_the_day_count():
    """Friday to Monday is three nights: ACT/360 (the default) charges 3/360 of the annual rate."""
    rules = TradeRules.frictionless(side="long", leverage=2, horizon=2, financing_rate=0.06)
    assert rules.day_count == "act_360"
    fin = _trade(rules, _days("2021-01-08", "2021-01-11")).financing[0]
    assert fin == pytest.approx(0.06 * 1 * 3 / 360, rel=1e-12)
    fin = _trade(rules.model_copy(update={"day_count": "act_365"}), _days("2021-01-08", "2021-01-11")).financing[0]
    assert fin == pytest.approx(0.06 * 1 * 3 / 365, rel=1e-12)


def test_a_series_that_does_not_cover_the_data_is_an_error_naming_both_ranges(tmp_path):
    series = write_rates(tmp_path / "rates", "LATE", {"2021-02-01": 1.0, "2021-02-02": 1.0})
    rules = TradeRules.frictionless(side="long", leverage=2, horizon=2, financing_rate=series)
    with pytest.raises(ConfigError) as err:
        _trade(rules, _days("2021-01-06", "2021-01-13"))
    msg = str(err.value)
    assert msg.startswith("financing_rate: rate series LATE.close from csv (percent) covers 2021-02-01..2021-02-02")
    assert "2021-01-06..2021-01-13" in msg


def test_a_rate_in_the_wrong_units_is_an_error(tmp_path):
    series = write_rates(tmp_path / "rates", "PCT", {"2021-01-04": 5.0, "2021-01-20": 5.0})
    wrong = series.model_copy(update={"units": "fraction"})  # 5.0 read as 500 % a year
    rules = TradeRules.frictionless(side="long", leverage=2, horizon=2, financing_rate=wrong)
    with pytest.raises(
        ConfigError,
        match=r"financing_rate: rate series PCT.close from csv \(fraction\) has 5 on "
        r"2021-01-04, not an annual rate .*check 'units'",
    ):
        _trade(rules, _days("2021-01-06", "2021-01-13"))


def test_stop_slippage_costs_stop_and_liquidation_fills_only():
    """``stop_slippage_bps`` is paid on the exit notional of a stop (intrabar or gap) or a liquidation,
    the same as filling that many bps worse; take-profits and other exits are untouched."""
    base = TradeRules.frictionless(side="long", leverage=2, horizon=3, stop_loss=0.05, take_profit=0.05)
    slip = base.model_copy(update={"stop_slippage_bps": 30.0})
    days = _days("2021-01-04", "2021-01-05", "2021-01-06")
    stop = [FLAT, [100, 101, 94, 95], FLAT]  # touches the stop at 95 inside bar 2
    gap = [FLAT, [93, 94, 92, 93], FLAT]  # opens below the stop: fills at 93
    tp = [FLAT, [100, 106, 99, 105], FLAT]  # touches the take-profit at 105
    for bars, reason, price in ((stop, 2, 95.0), (gap, 2, 93.0), (tp, 1, 105.0)):
        a, b = _trade(base, days, bars), _trade(slip, days, bars)
        assert a.reason[0] == b.reason[0] == reason and b.exit_price[0] == price
        extra = 30e-4 * 2 * price / 100 if reason == 2 else 0.0
        assert b.fees[0] - a.fees[0] == pytest.approx(extra, abs=1e-15)
        # the same as a fill `stop_slippage_bps` worse than the level
        if reason == 2:
            worse = 2 * (price * (1 - 30e-4) / 100 - 1)
            assert b.net_return[0] == pytest.approx(worse, rel=1e-12)
    liq = TradeRules.frictionless(side="long", leverage=5, horizon=3, maintenance_margin=0.1, stop_slippage_bps=30.0)
    r = _trade(liq, days, [FLAT, [100, 100, 80, 85], FLAT])
    assert r.reason_names[0] == "liquidation"
    assert r.fees[0] == pytest.approx(30e-4 * 5 * r.exit_price[0] / 100, rel=1e-12)


def test_the_label_takes_its_financing_series_from_its_params(tmp_path):
    """The label's params are the trade terms: a [label.label_params.financing_rate] table is a series."""
    import pandas as pd

    from qlop_contrib.labels.leverage import LeverageOpportunityLabel

    folder = tmp_path / "rates"
    start = dt.date(2021, 1, 1)
    write_rates(folder, "RATE", {str(start + dt.timedelta(days=k)): (0.5 if k < 20 else 9.0) for k in range(60)})
    dates = pd.bdate_range("2021-01-04", periods=30)
    panel = pd.DataFrame(
        {
            "ticker": "X",
            "date": dates,
            "open": 100.0,
            "high": 100.0,
            "low": 100.0,
            "close": 100.0,
            "adj_close": 100.0,
            "volume": 1.0,
        }
    ).set_index(["ticker", "date"])
    params = {
        "leverage": 3.0,
        "horizon": 2,
        "hurdle": -1.0,
        "commission_bps": 0,
        "slippage_bps": 0,
        "financing_rate": {
            "data_source_type": "csv",
            "data_source_params": {"path": str(folder)},
            "ticker": "RATE",
            "units": "percent",
        },
    }
    label = LeverageOpportunityLabel("leverage_opportunity", params)
    assert isinstance(label.trade_rules().financing_rate, RateSeries)
    net = label.make_labels(panel)["net_return"]
    # a flat price: the net return is minus the financing of one night (entry Tuesday, exit Wednesday)
    # at the rate of the entry day, 0.5 % before the 21st and 9 % from it
    assert net.loc[("X", pd.Timestamp("2021-01-04"))] == pytest.approx(-(2 * 0.005) / 360, rel=1e-12)
    assert net.loc[("X", pd.Timestamp("2021-01-25"))] == pytest.approx(-(2 * 0.09) / 360, rel=1e-12)
