"""Per-ticker sequence windows: which rows a sequence model reads for each prediction, with no look-ahead.

A model with ``lookback = L > 1`` scores row (ticker, t) from that ticker's ``L`` consecutive rows ending
at t, in the order it is given them (a panel sorted by ticker, then date). A window never crosses
tickers, and it is *complete* only when all ``L`` rows are there and every value is finite; a row
without a complete window gets no prediction (NaN).

The same functions serve the model (training and scoring), the train stage (which hands ``predict`` the
``L - 1`` rows before the ones it needs scored), the ONNX exporter's parity check and bundle scoring,
so all of them read exactly the same windows. numpy only: bundle scoring must not import a model library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd


def group_codes(index: "pd.Index") -> np.ndarray:
    """Ticker code of each row (0, 1, ...) for a (ticker, date) index whose tickers come in blocks.

    Raises ValueError when a ticker's rows are not contiguous or its dates do not increase: windows
    of such a frame would mix tickers or read the future.
    """
    import pandas as pd

    tickers = index.get_level_values(0) if isinstance(index, pd.MultiIndex) else index
    codes = pd.factorize(tickers, sort=False)[0].astype(np.int64)
    if codes.size and (np.diff(codes) < 0).any():
        raise ValueError("rows are not grouped by ticker (sort the frame by ticker, then date)")
    if isinstance(index, pd.MultiIndex) and index.nlevels > 1 and codes.size > 1:
        dates = index.get_level_values(1).to_numpy()
        same = codes[1:] == codes[:-1]
        if (dates[1:][same] <= dates[:-1][same]).any():
            raise ValueError("dates do not increase within a ticker (sort the frame by ticker, then date)")
    return codes


def run_lengths(codes: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """For each row: how many consecutive valid rows of its ticker end at it (0 for an invalid row)."""
    n = codes.size
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    valid = np.asarray(valid, dtype=bool)
    starts = np.ones(n, dtype=bool)
    starts[1:] = (codes[1:] != codes[:-1]) | ~valid[:-1]
    pos = np.arange(n)
    first = np.maximum.accumulate(np.where(starts, pos, 0))
    return np.where(valid, pos - first + 1, 0)


def window_rows(values: np.ndarray, codes: np.ndarray, lookback: int) -> np.ndarray:
    """Positions of the rows whose ``lookback``-row window is complete (same ticker, all finite)."""
    if lookback < 1:
        raise ValueError(f"lookback must be >= 1, got {lookback}")
    values = np.asarray(values)
    finite = np.isfinite(values).all(axis=1) if values.ndim == 2 else np.isfinite(values)
    return np.flatnonzero(run_lengths(codes, finite) >= lookback)


def window_index(rows: np.ndarray, lookback: int) -> np.ndarray:
    """Row positions of each window, oldest first: shape ``[len(rows), lookback]``."""
    return np.asarray(rows, dtype=np.int64)[:, None] + np.arange(1 - lookback, 1, dtype=np.int64)[None, :]


def gather_windows(values: np.ndarray, rows: np.ndarray, lookback: int) -> np.ndarray:
    """The windows ending at ``rows`` as a float32 array ``[len(rows), lookback, n_features]``."""
    values = np.asarray(values, dtype=np.float32)
    return np.ascontiguousarray(values[window_index(rows, lookback)])


def context_rows(
    codes: np.ndarray, wanted: np.ndarray, lookback: int, available: np.ndarray | None = None
) -> np.ndarray:
    """Positions to hand a sequence model so each wanted row can be scored: the wanted rows and, per
    ticker, the ``lookback - 1`` available rows before each of them (sorted).

    ``wanted`` and ``available`` are boolean masks over the rows (``available`` defaults to all); a
    wanted row that is not available is not returned. Context rows are feature rows at or before the
    wanted row's date, so handing them over reads nothing from the future.
    """
    n = codes.size
    wanted = np.asarray(wanted, dtype=bool)
    avail = np.ones(n, dtype=bool) if available is None else np.asarray(available, dtype=bool)
    pos = np.flatnonzero(avail)
    if lookback <= 1 or pos.size == 0:
        return np.flatnonzero(wanted & avail)
    c = codes[pos]
    w = wanted[pos].astype(np.int64)
    m = pos.size
    # last available position of each row's ticker (within ``pos``)
    change = np.flatnonzero(np.diff(c)) + 1
    group_end = np.repeat(np.concatenate([change - 1, [m - 1]]), np.diff(np.concatenate([[0], change, [m]])))
    end = np.minimum(np.arange(m) + lookback - 1, group_end)
    csum = np.concatenate([[0], np.cumsum(w)])
    need = (csum[end + 1] - csum[np.arange(m)]) > 0  # a wanted row among this one and the next L-1
    return pos[need]


def predict_rows(model: object, X: "pd.DataFrame", rows: np.ndarray, available: np.ndarray | None = None) -> np.ndarray:
    """``model``'s predictions for the rows at positions ``rows`` of ``X`` (float64, NaN = no prediction).

    A model of the row alone (``lookback == 1``) is given exactly those rows. A sequence model is given
    them with the ``lookback - 1`` earlier ``available`` rows of each ticker (:func:`context_rows`), so
    a test row near the start of a test window still has its full history; its outputs for those
    context rows are discarded. The train stage, the test kit's model contract and ``qlop predict``
    all score through this function.
    """
    rows = np.asarray(rows, dtype=np.int64)
    lookback = int(model.lookback)  # type: ignore[attr-defined]
    if lookback <= 1 or rows.size == 0:
        return np.asarray(model.predict(X.iloc[rows]), dtype=np.float64)  # type: ignore[attr-defined]
    wanted = np.zeros(len(X), dtype=bool)
    wanted[rows] = True
    avail = None if available is None else np.asarray(available, dtype=bool) | wanted
    given = context_rows(group_codes(X.index), wanted, lookback, avail)
    pred = np.asarray(model.predict(X.iloc[given]), dtype=np.float64)  # type: ignore[attr-defined]
    if pred.shape != (given.size,):
        return pred  # the caller reports the shape mismatch
    return pred[np.searchsorted(given, rows)]
