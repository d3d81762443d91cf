"""The numpy steps equal independent pandas references computed ticker by ticker."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qlop.errors import ConfigError


def _by_ticker(series: pd.Series):
    return series.groupby(level="ticker", sort=False, group_keys=False)


def test_returns_simple_and_log(kit, panel):
    out = kit.make_step("returns", {"windows": [1, 5], "kinds": ["simple", "log"]}).transform(panel)
    c = panel["close"]
    prev = {k: _by_ticker(c).shift(k) for k in (1, 5)}
    expected = {
        "ret_1": c / prev[1] - 1,
        "ret_5": c / prev[5] - 1,
        "logret_1": np.log(c / prev[1]),
        "logret_5": np.log(c / prev[5]),
    }
    kit.assert_columns_equal(out, {k: v.to_numpy() for k, v in expected.items()}, rtol=1e-15)


def test_lag_of_any_column(kit, panel):
    out = kit.make_step("lag", {"columns": ["volume", "close"], "periods": [1, 3]}).transform(panel)
    expected = {f"{c}_lag_{k}": _by_ticker(panel[c]).shift(k).to_numpy() for c in ("volume", "close") for k in (1, 3)}
    kit.assert_columns_equal(out, expected)


@pytest.mark.parametrize("annualize", [True, False])
def test_realised_volatility(kit, panel, annualize):
    out = kit.make_step("rvol", {"window": 10, "annualize": annualize, "periods_per_year": 252}).transform(panel)
    logret = np.log(panel["close"] / _by_ticker(panel["close"]).shift(1))
    ref = _by_ticker(logret).rolling(10).std().droplevel(0) * (np.sqrt(252) if annualize else 1.0)
    kit.assert_columns_equal(out, {"rvol_10": ref.to_numpy()}, rtol=1e-9)


def test_realised_volatility_reads_each_tickers_calendar(kit):
    """A 7-day calendar (crypto) annualises by sqrt(365), a business-day one by about sqrt(252), in one panel,
    from each ticker's own dates up to the row (the first year by its bar rate so far)."""
    import pandas as pd

    rng = np.random.default_rng(5)
    frames = []
    for ticker, dates in (
        ("BTC", pd.date_range("2018-01-01", "2020-12-31", freq="D")),
        ("SPY", pd.bdate_range("2018-01-01", "2020-12-31")),
    ):
        close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, dates.size)))
        frames.append(
            pd.DataFrame(
                {
                    "ticker": ticker,
                    "date": dates,
                    "open": close,
                    "high": close,
                    "low": close,
                    "close": close,
                    "adj_close": close,
                    "volume": 1.0,
                }
            )
        )
    panel = pd.concat(frames).set_index(["ticker", "date"]).sort_index()
    out = kit.make_step("rvol", {"window": 20}).transform(panel)["rvol_20"]
    logret = np.log(panel["close"] / _by_ticker(panel["close"]).shift(1))
    raw = _by_ticker(logret).rolling(20).std().droplevel(0)
    scale = (out / raw).dropna() ** 2
    np.testing.assert_allclose(scale.loc["BTC"].to_numpy(), 365.0, rtol=1e-12)
    spy = scale.loc["SPY"]
    assert spy.loc["2019-06-01":].between(260, 262).all()  # business days without holidays: 261 a year
    assert spy.loc[:"2018-12-31"].between(250, 275).all()  # the first year: its bar rate so far


def test_zscore_of_drifting_prices_and_of_volume_matches_pandas(kit, panel):
    """AAPL's close rises tenfold in this slice: a one-pass variance would lose digits here."""
    out = kit.make_step("zscore", {"columns": ["close", "volume"], "window": 15}).transform(panel)
    expected = {}
    for col in ("close", "volume"):
        roll = _by_ticker(panel[col]).rolling(15)
        mean, std = roll.mean().droplevel(0), roll.std().droplevel(0)
        expected[f"zscore_15_{col}"] = ((panel[col] - mean) / std).to_numpy()
    kit.assert_columns_equal(out, expected, rtol=1e-8, atol=1e-10)
    # A missing volume makes every window that contains it NaN.
    c = out["zscore_15_volume"].loc["C"]
    assert c.loc["2010-04-26":"2010-05-14"].isna().all() and c.loc["2010-05-17":].notna().any()


def test_zscore_of_a_constant_window_is_nan_not_inf(kit, panel):
    panel["flat"] = 5.0
    out = kit.make_step("zscore", {"columns": ["flat"], "window": 5}).transform(panel)
    assert out["zscore_5_flat"].isna().all()


def test_drawdown_and_distance_from_rolling_high(kit, panel):
    out = kit.make_step("drawdown", {"windows": [20, 63], "expanding": True}).transform(panel)
    c = panel["close"]
    expected = {f"dist_high_{w}": (c / _by_ticker(c).rolling(w).max().droplevel(0) - 1).to_numpy() for w in (20, 63)}
    expected["drawdown"] = (c / _by_ticker(c).cummax() - 1).to_numpy()
    kit.assert_columns_equal(out, expected, rtol=1e-15)
    assert (out.max() <= 0).all()


def test_rolling_max_for_every_window_length(kit):
    from qlop.grouping import ticker_groups
    from qlop_contrib.features.rolling import rolling_max

    panel = kit.sample_panel(("AAPL", "SPY"), "2005-01-01", "2005-06-30")
    x = panel["close"].to_numpy()
    groups = ticker_groups(panel.index)
    for w in (1, 2, 3, 5, 8, 13, 64, 100):
        ref = _by_ticker(panel["close"]).rolling(w).max().droplevel(0).to_numpy()
        np.testing.assert_array_equal(rolling_max(x, w, groups), ref, err_msg=f"window {w}")


def test_relative_volume_skips_missing_volumes(kit, panel):
    out = kit.make_step("relvol", {"window": 10, "min_periods": 8}).transform(panel)
    v = panel["volume"]
    mean = _by_ticker(v).rolling(10, min_periods=8).mean().droplevel(0)
    ref = v / _by_ticker(mean).shift(1)
    kit.assert_columns_equal(out, {"relvol_10": ref.to_numpy()}, rtol=1e-12)
    c = out["relvol_10"].loc["C"]
    assert np.isnan(c.loc["2010-04-26"]) and np.isfinite(c.loc["2010-04-27"])


def test_relative_volume_default_min_periods_is_half_the_window(kit, panel):
    out = kit.make_step("relvol", {"window": 20}).transform(panel)
    v = panel["volume"]
    mean = _by_ticker(v).rolling(20, min_periods=10).mean().droplevel(0)
    kit.assert_columns_equal(out, {"relvol_20": (v / _by_ticker(mean).shift(1)).to_numpy()}, rtol=1e-12)


def test_calendar_fields(kit, panel):
    fields = ["weekday", "month", "day_of_month", "day_of_year", "quarter"]
    out = kit.make_step("calendar", {"fields": fields}).transform(panel)
    d = panel.index.get_level_values("date")
    expected = {
        "weekday": d.day_of_week,
        "month": d.month,
        "day_of_month": d.day,
        "day_of_year": d.day_of_year,
        "quarter": d.quarter,
    }
    kit.assert_columns_equal(out, {k: np.asarray(v, dtype=float) for k, v in expected.items()})


def test_cross_sectional_rank_per_date(kit, panel):
    data = panel.join(kit.make_step("returns", {"windows": [5]}).transform(panel))
    data.loc[("AAPL", "2006-03-01"), "ret_5"] = data.loc[("C", "2006-03-01"), "ret_5"]  # a tie
    out = kit.make_step("xrank", {"columns": ["ret_5", "volume"]}).transform(data)
    expected = {}
    for col in ("ret_5", "volume"):
        by_date = data[col].groupby(level="date")
        rank = by_date.rank(method="average")
        count = by_date.transform("count")
        ref = (rank - 1) / (count - 1)
        expected[f"xrank_{col}"] = ref.where(count >= 2).to_numpy()
    kit.assert_columns_equal(out, expected, rtol=1e-15)
    assert out["xrank_ret_5"].min() == 0.0 and out["xrank_ret_5"].max() == 1.0
    tie = out["xrank_ret_5"].xs(pd.Timestamp("2006-03-01"), level="date")
    assert tie["AAPL"] == tie["C"]
    # 2004-03-01: only AAPL and C trade (GOOGL and SPY start later): ranks are 0 and 1.
    early = out["xrank_volume"].xs(pd.Timestamp("2004-03-01"), level="date")
    assert sorted(early.tolist()) == [0.0, 1.0]


def test_cross_sectional_rank_needs_min_count(kit, panel):
    out = kit.make_step("xrank", {"columns": ["close"], "min_count": 3}).transform(panel)
    only_two = out["xrank_close"].xs(pd.Timestamp("2004-03-01"), level="date")
    assert only_two.isna().all()


@pytest.mark.parametrize(
    "name,params,field",
    [
        ("returns", {"windows": [0]}, "step_params.windows.0"),
        ("returns", {"windows": [5, 5]}, "step_params.windows"),
        ("lag", {}, "step_params.columns"),
        ("zscore", {"columns": ["close"], "window": 1}, "step_params.window"),
        ("relvol", {"window": 5, "min_periods": 6}, "step_params"),
        ("calendar", {"fields": ["weekday", "hour"]}, "step_params.fields.1"),
        ("xrank", {"columns": ["close"], "min_count": 1}, "step_params.min_count"),
        ("drawdown", {"windows": [], "expanding": False}, "step_params"),
    ],
)
def test_bad_params_are_one_line_config_errors_naming_the_field(kit, name, params, field):
    with pytest.raises(ConfigError) as info:
        kit.make_step(name, params)
    assert str(info.value).startswith(f"{field}:") and "\n" not in str(info.value)


def test_a_step_reading_a_missing_column_names_it(kit, panel):
    with pytest.raises(ConfigError, match=r"feature step 'zscore': column 'rsi_14' not found"):
        kit.make_step("zscore", {"columns": ["rsi_14"]}).transform(panel)
