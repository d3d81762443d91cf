"""Vectorised rolling kernels over concatenated tickers, with a reset at each ticker's first bar.

Every kernel works on the flat column of the whole panel. Windows that would reach back into the
previous ticker are exactly the rows whose position in their ticker is below ``window - 1``; those
rows are set to NaN, so a ticker's warm-up starts at its own first bar and no value ever mixes two
tickers. A window that contains a NaN gives NaN (pandas' ``rolling(window)`` semantics) unless a
kernel documents a ``min_periods``.

Only Python loops over tickers are used (for cumulative sums, whose rounding must not carry from one
ticker to the next); never over rows.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from qlop.api import TickerGroups

#: Windows processed at once by the two-pass standard deviation (bounds temporary memory).
_CHUNK = 1 << 15


def head_rows(groups: TickerGroups, k: int) -> np.ndarray:
    """Positions of the first ``k`` rows of every ticker (fewer when a ticker is shorter)."""
    if k <= 0 or not len(groups):
        return np.empty(0, dtype=np.int64)
    k = min(k, int(groups.lengths.max()))
    idx = groups.starts[:, None] + np.arange(k, dtype=np.int64)
    return idx[idx < groups.ends[:, None]]


def shift(x: np.ndarray, k: int, groups: TickerGroups) -> np.ndarray:
    """``x`` lagged by ``k`` rows within each ticker (NaN for the first ``k`` rows of each ticker)."""
    out = np.empty_like(x, dtype=np.float64)
    if k >= len(x):
        out.fill(np.nan)
        return out
    out[k:] = x[: len(x) - k]
    out[:k] = np.nan
    out[head_rows(groups, k)] = np.nan
    return out


def _grouped_cumsum(x: np.ndarray, groups: TickerGroups) -> np.ndarray:
    """Inclusive cumulative sum restarted at each ticker's first row."""
    out = np.empty_like(x, dtype=np.float64)
    for s, e in groups.slices():
        np.cumsum(x[s:e], out=out[s:e])
    return out


def _window_diff(c: np.ndarray, w: int, groups: TickerGroups) -> np.ndarray:
    """``c[t] - c[t-w]`` within a ticker, where ``c`` is a per-ticker cumulative sum (``c[-1]`` = 0)."""
    out = c.copy()
    if w < len(c):
        out[w:] -= c[: len(c) - w]
    head = head_rows(groups, w)
    out[head] = c[head]
    return out


def rolling_sum_count(x: np.ndarray, w: int, groups: TickerGroups) -> tuple[np.ndarray, np.ndarray]:
    """Sum of the non-NaN values and their number over the last ``w`` rows (fewer at a ticker's start)."""
    valid = ~np.isnan(x)
    sums = _window_diff(_grouped_cumsum(np.where(valid, x, 0.0), groups), w, groups)
    counts = _window_diff(_grouped_cumsum(valid.astype(np.float64), groups), w, groups)
    return sums, counts


def rolling_mean(x: np.ndarray, w: int, groups: TickerGroups, min_periods: int | None = None) -> np.ndarray:
    """Mean of the last ``w`` rows; NaN where fewer than ``min_periods`` (default ``w``) are non-NaN.

    Matches ``groupby(ticker).rolling(w, min_periods).mean()``.
    """
    mp = w if min_periods is None else min_periods
    sums, counts = rolling_sum_count(x, w, groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = sums / counts
    out[counts < mp] = np.nan
    return out


def rolling_mean_std(x: np.ndarray, w: int, groups: TickerGroups, ddof: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of the last ``w`` rows (NaN if any is NaN or the window is incomplete).

    Two passes per window (mean, then squared deviations) over a sliding-window view, in chunks: as
    accurate as ``pandas.rolling(w).std()`` even when the level drifts a hundredfold inside one
    ticker, where the one-pass sum-of-squares shortcut loses about half the significant digits.
    """
    n = len(x)
    mean = np.full(n, np.nan)
    std = np.full(n, np.nan)
    if n < w:
        return mean, std
    view = sliding_window_view(x, w)
    for s in range(0, len(view), _CHUNK):
        block = view[s : s + _CHUNK]
        rows = slice(s + w - 1, s + w - 1 + len(block))
        m = block.mean(axis=1)
        mean[rows] = m
        if w <= ddof:  # a standard deviation needs more values than ddof
            continue
        dev = block - m[:, None]
        np.square(dev, out=dev)
        ss = dev.sum(axis=1)
        np.divide(ss, w - ddof, out=ss)
        np.sqrt(ss, out=std[rows])
    head = head_rows(groups, w - 1)
    mean[head] = np.nan
    std[head] = np.nan
    return mean, std


def rolling_max(x: np.ndarray, w: int, groups: TickerGroups) -> np.ndarray:
    """Maximum of the last ``w`` rows (NaN if any is NaN or the window is incomplete).

    Doubling: ``m_k[t] = max(x[t-k+1..t])`` for powers of two ``k``, then two overlapping power-of-two
    windows cover ``w`` exactly. ``log2(w)`` array passes instead of ``w``.
    """
    n = len(x)
    out = np.full(n, np.nan)
    if n < w:
        return out
    m = np.asarray(x, dtype=np.float64)
    k = 1
    while 2 * k <= w:
        nxt = m.copy()
        np.maximum(m[k:], m[:-k], out=nxt[k:])
        m, k = nxt, 2 * k
    # window [t-w+1, t] = [t-k+1, t] U [t-w+1, t-w+k]
    np.maximum(m[w - 1 :], m[k - 1 : n - w + k], out=out[w - 1 :])
    out[head_rows(groups, w - 1)] = np.nan
    return out


def expanding_max(x: np.ndarray, groups: TickerGroups) -> np.ndarray:
    """Running maximum since each ticker's first bar, skipping NaN (NaN where ``x`` is NaN)."""
    out = np.empty_like(x, dtype=np.float64)
    for s, e in groups.slices():
        np.fmax.accumulate(x[s:e], out=out[s:e])
    out[np.isnan(x)] = np.nan
    return out
