"""Sequence windows (qlop.windows): complete windows, context rows and scoring with history, against
plain per-row loops; the train stage's handling of rows a sequence model cannot score."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qlop.windows import context_rows, gather_windows, group_codes, predict_rows, window_rows


def _frame(lengths: dict[str, int], n_features: int = 3, seed: int = 0, holes: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    parts = []
    for ticker, n in lengths.items():
        dates = pd.bdate_range("2021-01-01", periods=n)
        parts.append(
            pd.DataFrame(
                rng.normal(size=(n, n_features)),
                columns=[f"f{i}" for i in range(n_features)],
                index=pd.MultiIndex.from_product([[ticker], dates], names=["ticker", "date"]),
            )
        )
    X = pd.concat(parts)
    if holes:
        flat = X.to_numpy().copy()
        idx = rng.choice(flat.shape[0], holes, replace=False)
        flat[idx, rng.integers(0, n_features, holes)] = np.nan
        X = pd.DataFrame(flat, index=X.index, columns=X.columns)
    return X


def _reference_rows(X: pd.DataFrame, lookback: int) -> list[int]:
    """Plain loop: row i ends a complete window when the lookback rows up to i share its ticker and are finite."""
    tickers = X.index.get_level_values(0)
    values = X.to_numpy()
    out = []
    for i in range(len(X)):
        lo = i - lookback + 1
        if lo < 0 or any(tickers[j] != tickers[i] for j in range(lo, i + 1)):
            continue
        if np.isfinite(values[lo : i + 1]).all():
            out.append(i)
    return out


@pytest.mark.parametrize("lookback", [1, 2, 5, 13])
def test_window_rows_match_a_plain_loop(lookback: int) -> None:
    X = _frame({"AAA": 30, "BBB": 4, "CCC": 25}, holes=6, seed=lookback)
    rows = window_rows(X.to_numpy(), group_codes(X.index), lookback)
    assert rows.tolist() == _reference_rows(X, lookback)


def test_gather_windows_hold_the_rows_up_to_t_oldest_first() -> None:
    X = _frame({"AAA": 12, "BBB": 9})
    rows = window_rows(X.to_numpy(), group_codes(X.index), 4)
    windows = gather_windows(X.to_numpy(), rows, 4)
    assert windows.shape == (rows.size, 4, 3) and windows.dtype == np.float32
    for k, i in enumerate(rows):
        np.testing.assert_array_equal(windows[k], X.to_numpy(dtype=np.float32)[i - 3 : i + 1])


def test_group_codes_refuse_frames_a_window_would_misread() -> None:
    X = _frame({"AAA": 5, "BBB": 5})
    with pytest.raises(ValueError, match="grouped by ticker"):
        group_codes(X.iloc[[0, 1, 5, 2]].index)
    with pytest.raises(ValueError, match="dates do not increase"):
        group_codes(X.iloc[[1, 0, 2]].index)


@pytest.mark.parametrize("lookback", [1, 3, 8])
def test_context_rows_are_exactly_the_history_the_wanted_rows_need(lookback: int) -> None:
    X = _frame({"AAA": 40, "BBB": 6, "CCC": 30})
    rng = np.random.default_rng(lookback)
    wanted = rng.random(len(X)) < 0.1
    available = rng.random(len(X)) < 0.9
    got = context_rows(group_codes(X.index), wanted, lookback, available)
    tickers = X.index.get_level_values(0)
    expected = set()
    for i in np.flatnonzero(wanted & available):
        before = [j for j in range(i + 1) if available[j] and tickers[j] == tickers[i]]
        expected.update(before[-lookback:])
    assert got.tolist() == sorted(expected)


class _MeanOfWindow:
    """A sequence model whose prediction is the mean of f0 over its window (NaN without one)."""

    name = "mean_of_window"

    def __init__(self, lookback: int) -> None:
        self.lookback = lookback
        self.seen: list[int] = []

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        self.seen.append(len(X))
        rows = window_rows(X.to_numpy(), group_codes(X.index), self.lookback)
        out = np.full(len(X), np.nan)
        out[rows] = gather_windows(X[["f0"]].to_numpy(), rows, self.lookback)[:, :, 0].mean(axis=1)
        return out


def test_predict_rows_hands_a_sequence_model_the_history_of_the_test_rows() -> None:
    X = _frame({"AAA": 30, "BBB": 30})
    dates = X.index.get_level_values(1)
    test = np.flatnonzero(dates >= dates.unique()[20])  # the last 10 days of each ticker
    model = _MeanOfWindow(5)
    pred = predict_rows(model, X, test)
    assert np.isfinite(pred).all(), "every test row has four earlier rows of its ticker"
    f0 = X["f0"].to_numpy()
    np.testing.assert_allclose(pred, [f0[i - 4 : i + 1].mean() for i in test], rtol=1e-5, atol=1e-6)
    assert model.seen == [test.size + 2 * 4], "only the four rows before each ticker's test window are added"
    # without that history the first four test rows of each ticker could not be scored
    assert np.isnan(model.predict(X.iloc[test])).sum() == 8


def test_predict_rows_gives_a_row_model_exactly_its_rows() -> None:
    X = _frame({"AAA": 10, "BBB": 10})
    model = _MeanOfWindow(1)
    pred = predict_rows(model, X, np.array([3, 4, 15]))
    np.testing.assert_allclose(pred, X["f0"].to_numpy()[[3, 4, 15]], rtol=1e-6)
    assert model.seen == [3]
