"""Walk-forward on intraday panels: test periods by timestamp, purge by the label's last bar time."""

from __future__ import annotations

import numpy as np
import pandas as pd

from qlop.validation import label_end_dates, walk_forward


def _index(times_by_ticker):
    tickers, times = [], []
    for t, stamps in times_by_ticker.items():
        tickers += [t] * len(stamps)
        times += list(stamps)
    return pd.MultiIndex.from_arrays([tickers, pd.DatetimeIndex(times)], names=["ticker", "date"])


def test_hourly_24_7_folds_cover_every_bar_once_and_purge_labels_reaching_the_test_period():
    stamps = pd.date_range("2023-01-01", "2023-05-31 23:00", freq="1h", tz="UTC")
    index = _index({"BTC": stamps, "ETH": stamps[5:]})
    n, horizon = len(index), 24
    usable = np.ones(n, dtype=bool)
    folds = walk_forward(index, usable, horizon, train_years=2 / 12, test_months=1)
    dates = index.get_level_values(1)
    tested = np.concatenate([f.test_idx for f in folds])
    # every bar from the first test instant on is tested exactly once, test periods are month blocks
    assert np.unique(tested).size == tested.size
    assert set(tested) == set(np.flatnonzero(dates >= pd.Timestamp("2023-03-01", tz="UTC")))
    for f in folds:
        test_dates = dates[f.test_idx]
        assert test_dates.min() == pd.Timestamp(f.test_start, tz="UTC")
        assert (test_dates.month == test_dates[0].month).all()
        assert test_dates.max().hour == 23  # the period runs to its last hourly bar, not to midnight
        ends = pd.DatetimeIndex(label_end_dates(index, horizon)[f.train_idx]).tz_localize("UTC")
        assert (ends < test_dates.min()).all()  # no training label's window reaches the test period
        # exactly the last `horizon` bars per ticker before the test period are purged
        assert f.n_purged == 2 * horizon
        assert dates[f.train_idx].max() == test_dates.min() - pd.Timedelta(hours=horizon + 1)


def test_exchange_bars_purge_across_the_overnight_gap():
    """A label over the last bars of a session ends in the next session: it is purged by that time."""
    days = pd.bdate_range("2023-01-02", "2023-04-28")
    stamps = [
        pd.Timestamp(f"{d:%Y-%m-%d} 09:30", tz="America/New_York").tz_convert("UTC") + pd.Timedelta(minutes=30 * k)
        for d in days
        for k in range(13)
    ]
    index = _index({"SPY": stamps})
    horizon = 20  # more than a session: labels on a Friday afternoon reach into Monday
    folds = walk_forward(index, np.ones(len(index), dtype=bool), horizon, train_years=2 / 12, test_months=1)
    dates = index.get_level_values(1)
    for f in folds:
        first_test = dates[f.test_idx].min()
        ends = pd.DatetimeIndex(label_end_dates(index, horizon)[f.train_idx]).tz_localize("UTC")
        assert (ends < first_test).all()
        assert f.n_purged == horizon
        record = f.summary(index.get_level_values(1).tz_convert(None).to_numpy())
        assert record["test_start"] == f"{first_test:%Y-%m-%dT%H:%M}"  # bar times, in UTC
