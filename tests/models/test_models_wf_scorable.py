"""Walk-forward test periods hold every scorable row, labelled or not; training only labelled ones.

Whether a row is labelled depends on the future (its ticker needs H more bars), so predicting only
labelled rows would let a backtest know, H bars ahead, that a ticker's data is about to end.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qlop.validation import label_end_dates, walk_forward

H = 5


def _panel() -> tuple[pd.MultiIndex, np.ndarray, np.ndarray]:
    """Two tickers; B's data ends in mid-2013 (a delisting). Warm-up rows are not scorable."""
    days = pd.bdate_range("2010-01-01", "2014-12-31")
    a = pd.MultiIndex.from_product([["A"], days], names=["ticker", "date"])
    b = pd.MultiIndex.from_product([["B"], days[days <= "2013-06-14"]], names=["ticker", "date"])
    index = a.append(b)
    codes = pd.factorize(index.get_level_values(0))[0]
    scorable = np.ones(len(index), dtype=bool)
    usable = np.ones(len(index), dtype=bool)
    for c in np.unique(codes):
        pos = np.flatnonzero(codes == c)
        scorable[pos[:10]] = usable[pos[:10]] = False
        usable[pos[-H:]] = False  # no label: the horizon runs past the ticker's data
    return index, usable, scorable


@pytest.mark.parametrize("window", ["expanding", "rolling"])
def test_every_scorable_row_is_tested_once_and_only_labelled_rows_train(window):
    index, usable, scorable = _panel()
    folds = walk_forward(index, usable, H, train_years=1, test_months=6, window=window, scorable=scorable)
    dates = index.get_level_values("date").to_numpy()
    tested = np.concatenate([f.test_idx for f in folds])
    first_test = folds[0].test_start
    assert np.array_equal(np.sort(tested), np.flatnonzero(scorable & (dates >= first_test)))
    # B's last H rows (unlabelled, just before its data ends) are predicted like any other row
    b_last = np.flatnonzero(index.get_level_values("ticker") == "B")[-H:]
    assert set(b_last) <= set(tested)
    label_end = label_end_dates(index, H)
    for f in folds:
        assert usable[f.train_idx].all()
        assert (label_end[f.train_idx] < f.test_start).all()
        assert ((dates[f.test_idx] >= f.test_start) & (dates[f.test_idx] <= f.test_end)).all()


def test_without_scorable_only_labelled_rows_are_tested():
    index, usable, _ = _panel()
    folds = walk_forward(index, usable, H, train_years=1, test_months=6)
    tested = np.concatenate([f.test_idx for f in folds])
    assert usable[tested].all()
