"""Walk-forward and purged k-fold splits: coverage, purge, embargo, validation slice."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qlop.config import ValidationConfig
from qlop.errors import ConfigError
from qlop.validation import (
    embargo_anchor_dates,
    label_end_dates,
    make_folds,
    purged_kfold,
    validation_split,
    walk_forward,
)

H = 5


@pytest.fixture
def panel():
    rng = np.random.default_rng(1)
    parts = []
    days = pd.bdate_range("2010-01-01", "2014-12-31")
    for k in range(3):
        d = days[k * 7 :]
        d = d[rng.uniform(size=d.size) > 0.05]
        parts.append(pd.MultiIndex.from_product([[f"T{k}"], d], names=["ticker", "date"]))
    index = parts[0].append(parts[1:])
    usable = np.ones(len(index), dtype=bool)
    # last H bars of each ticker are unlabelled, first 10 are warm-up
    codes = pd.factorize(index.get_level_values(0))[0]
    for c in np.unique(codes):
        pos = np.flatnonzero(codes == c)
        usable[pos[:10]] = False
        usable[pos[-H:]] = False
    return index, usable


def _loop_label_end(index: pd.MultiIndex, h: int) -> np.ndarray:
    """Reference: a plain loop over each ticker's own calendar."""
    out = []
    for _, group in pd.Series(index.get_level_values(1), index=index).groupby(level=0, sort=False):
        dates = list(group)
        for i in range(len(dates)):
            out.append(np.datetime64(dates[i + h], "ns") if i + h < len(dates) else np.datetime64("NaT", "ns"))
    return np.array(out, dtype="datetime64[ns]")


def test_label_end_follows_each_tickers_own_calendar(panel):
    index, _ = panel
    expected = _loop_label_end(index, H)
    got = label_end_dates(index, H)
    assert np.array_equal(np.isnat(got), np.isnat(expected))
    assert (got[~np.isnat(got)] == expected[~np.isnat(expected)]).all()


@pytest.mark.parametrize("window", ["expanding", "rolling"])
def test_walk_forward_covers_every_usable_date_once_and_purges(panel, window):
    index, usable = panel
    dates = index.get_level_values(1).to_numpy()
    folds = walk_forward(index, usable, H, train_years=2, test_months=6, window=window)
    assert len(folds) == 6  # 2012H1 .. 2014H2
    tested = np.concatenate([f.test_idx for f in folds])
    assert len(np.unique(tested)) == len(tested), "a row is tested by two folds"
    first_test = pd.Timestamp(dates[usable].min()) + pd.DateOffset(years=2)
    expected = np.flatnonzero(usable & (dates >= np.datetime64(first_test)))
    assert np.array_equal(np.sort(tested), expected)
    label_end = label_end_dates(index, H)
    for f in folds:
        assert usable[f.train_idx].all() and usable[f.test_idx].all()
        test_dates = dates[f.test_idx]
        assert test_dates.min() >= f.test_start and test_dates.max() <= f.test_end
        # the purge: no training label window reaches the test period ...
        assert label_end[f.train_idx].max() < test_dates.min(), f"fold {f.fold} leaks"
        # ... and it is tight: every earlier row whose label ends before the test period is kept
        earlier = np.flatnonzero(usable & (dates < f.test_start) & (label_end < f.test_start))
        if window == "expanding":
            assert np.array_equal(np.sort(f.train_idx), earlier)
            assert f.n_purged == 3 * H
        else:
            lo = np.datetime64(pd.Timestamp(f.test_start) - pd.DateOffset(years=2))
            assert dates[f.train_idx].min() >= lo
            assert np.array_equal(np.sort(f.train_idx), earlier[dates[earlier] >= lo])


def test_walk_forward_without_room_for_a_test_period_is_a_config_error(panel):
    index, usable = panel
    with pytest.raises(ConfigError, match="model.validation.train_years"):
        walk_forward(index, usable, H, train_years=10, test_months=6)


def test_purged_kfold_purges_and_embargoes(panel):
    index, usable = panel
    dates = index.get_level_values(1).to_numpy()
    embargo = 8
    folds = purged_kfold(index, usable, H, n_splits=4, embargo=embargo)
    tested = np.sort(np.concatenate([f.test_idx for f in folds]))
    assert np.array_equal(tested, np.flatnonzero(usable))
    label_end = label_end_dates(index, H)
    anchor = embargo_anchor_dates(index, embargo)
    codes = pd.factorize(index.get_level_values(0))[0]
    for f in folds:
        t0, t1 = f.test_start, f.test_end
        tr = f.train_idx
        overlap = (dates[tr] <= t1) & (label_end[tr] >= t0)
        assert not overlap.any(), f"fold {f.fold}: a training label window overlaps the test period"
        # no training row within `embargo` bars after the test period, per ticker
        for c in np.unique(codes):
            pos = np.flatnonzero(codes == c)
            after = pos[dates[pos] > t1]
            banned = set(after[:embargo])
            assert not banned & set(tr), f"fold {f.fold}: embargoed row used for training"
            kept = [p for p in after[embargo:] if usable[p]]
            assert set(kept) <= set(tr), f"fold {f.fold}: row after the embargo was dropped"
        assert f.n_embargoed > 0 or f.fold == len(folds) - 1
        assert ((anchor[tr] > t1) | (dates[tr] <= t1)).all()


def test_validation_slice_is_the_tail_and_purged(panel):
    index, usable = panel
    dates = index.get_level_values(1).to_numpy()
    label_end = label_end_dates(index, H)
    train = np.flatnonzero(usable & (dates < np.datetime64("2012-01-01")))
    fit, val = validation_split(train, dates, label_end, 0.2)
    v0 = dates[val].min()
    assert dates[fit].max() < v0
    assert (label_end[fit] < v0).all()
    assert len(fit) + len(val) + 3 * H == len(train)  # exactly H rows purged per ticker
    n_dates = np.unique(dates[train]).size
    assert np.unique(dates[val]).size == int(n_dates * 0.2)
    fit0, val0 = validation_split(train, dates, label_end, 0.0)
    assert val0.size == 0 and np.array_equal(fit0, train)


def test_make_folds_dispatches_on_scheme(panel):
    index, usable = panel
    wf = make_folds(index, usable, H, ValidationConfig(train_years=2, test_months=12), H)
    assert len(wf) == 3
    kf = make_folds(index, usable, H, ValidationConfig(scheme="purged_kfold", n_splits=3), H)
    assert len(kf) == 3


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    horizon=st.integers(1, 15),
    n_tickers=st.integers(1, 4),
    scheme=st.sampled_from(["expanding", "rolling", "kfold"]),
)
def test_no_training_label_window_overlaps_a_test_period(seed, horizon, n_tickers, scheme):
    """Random calendars (late starts, gaps), random horizons: the purge holds for every fold."""
    rng = np.random.default_rng(seed)
    days = pd.bdate_range("2012-01-01", "2015-12-31")
    parts = []
    for k in range(n_tickers):
        d = days[int(rng.integers(0, 200)) :]
        d = d[rng.uniform(size=d.size) > rng.uniform(0, 0.3)]
        parts.append(pd.MultiIndex.from_product([[f"T{k}"], d], names=["ticker", "date"]))
    index = parts[0].append(parts[1:])
    usable = rng.uniform(size=len(index)) > 0.1
    usable &= ~np.isnat(label_end_dates(index, horizon))  # rows without a full horizon have no label
    dates = index.get_level_values(1).to_numpy()
    if scheme == "kfold":
        folds = purged_kfold(index, usable, horizon, n_splits=4, embargo=horizon)
    else:
        folds = walk_forward(index, usable, horizon, train_years=1, test_months=5, window=scheme)
    end = _loop_label_end(index, horizon)
    for f in folds:
        tr = f.train_idx
        assert not ((dates[tr] <= f.test_end) & (end[tr] >= f.test_start)).any()
        assert not set(tr) & set(f.test_idx)
    tested = np.concatenate([f.test_idx for f in folds])
    assert len(np.unique(tested)) == len(tested)
