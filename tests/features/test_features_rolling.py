"""The rolling kernels equal pandas per ticker on random ragged panels with missing values (hypothesis)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from qlop.grouping import ticker_groups
from qlop_contrib.features import rolling
from qlop_contrib.features.cross_section import cross_rank


@st.composite
def panels(draw):
    """A flat column over ragged tickers (each on its own dates), some values missing."""
    lengths = draw(st.lists(st.integers(1, 40), min_size=1, max_size=6))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    n = sum(lengths)
    x = rng.normal(100.0, 5.0, n) * rng.choice([1.0, 1e-3, 1e3], size=n)
    x[rng.uniform(size=n) < draw(st.sampled_from([0.0, 0.05, 0.3]))] = np.nan
    tickers = np.repeat([f"T{i}" for i in range(len(lengths))], lengths)
    offsets = rng.integers(0, 10, len(lengths))
    days = np.concatenate([o + np.sort(rng.choice(60, size=k, replace=False)) for o, k in zip(offsets, lengths)])
    dates = pd.Timestamp("2020-01-01") + pd.to_timedelta(days, unit="D")
    index = pd.MultiIndex.from_arrays([tickers, dates], names=["ticker", "date"])
    return pd.Series(x, index=index), draw(st.integers(1, 12))


def _g(s: pd.Series):
    return s.groupby(level="ticker", sort=False)


def _roll(s: pd.Series, w: int, mp: int | None = None):
    return _g(s).rolling(w, min_periods=mp)


@settings(max_examples=60, deadline=None)
@given(panels())
def test_shift_and_rolling_sums_match_pandas(case):
    s, w = case
    groups = ticker_groups(s.index)
    x = s.to_numpy()
    np.testing.assert_array_equal(rolling.shift(x, w, groups), _g(s).shift(w).to_numpy())
    mp = max(1, w // 2)
    ref = _roll(s, w, mp).mean().droplevel(0).to_numpy()
    np.testing.assert_allclose(
        rolling.rolling_mean(x, w, groups, min_periods=mp), ref, rtol=1e-9, atol=1e-9, equal_nan=True
    )


@settings(max_examples=60, deadline=None)
@given(panels())
def test_rolling_mean_std_and_max_match_pandas(case):
    s, w = case
    groups = ticker_groups(s.index)
    x = s.to_numpy()
    mean, std = rolling.rolling_mean_std(x, w, groups)
    roll = _roll(s, w)
    # Reference: numpy's mean and std of each window, one window at a time. pandas' online update
    # drifts here, where values span six orders of magnitude: its std by ~1e-7, its mean by ~5e-11
    # relative once a ticker's window has held values 1e6 times larger than the current ones.
    ref_mean, ref_std = np.full(len(x), np.nan), np.full(len(x), np.nan)
    for _, part in _g(pd.Series(np.arange(len(x)), index=s.index)):
        rows = part.to_numpy()
        for k in range(w - 1, len(rows)):
            window = x[rows[k - w + 1 : k + 1]]
            ref_mean[rows[k]] = np.mean(window)
            if w >= 2:
                ref_std[rows[k]] = np.std(window, ddof=1)
    np.testing.assert_allclose(mean, ref_mean, rtol=1e-12, equal_nan=True)
    # and pandas agrees up to its drift (relative to the largest value the ticker's windows held)
    np.testing.assert_allclose(mean, roll.mean().droplevel(0).to_numpy(), rtol=1e-7, equal_nan=True)
    np.testing.assert_allclose(std, ref_std, rtol=1e-12, atol=1e-12, equal_nan=True)
    np.testing.assert_array_equal(rolling.rolling_max(x, w, groups), roll.max().droplevel(0).to_numpy())
    # expanding max skips NaN (pandas' cummax does too) and is NaN where x is NaN
    np.testing.assert_array_equal(rolling.expanding_max(x, groups), _g(s).cummax().to_numpy())


@settings(max_examples=60, deadline=None)
@given(panels(), st.integers(2, 4))
def test_cross_rank_matches_pandas(case, min_count):
    s, _ = case
    s = s.round(0)  # create ties
    groups = ticker_groups(s.index)
    by_date = s.groupby(level="date")
    count = by_date.transform("count")
    ref = ((by_date.rank(method="average") - 1) / (count - 1)).where(count >= min_count)
    np.testing.assert_allclose(
        cross_rank(s.to_numpy(), groups.date_codes, min_count), ref.to_numpy(), rtol=1e-15, equal_nan=True
    )
