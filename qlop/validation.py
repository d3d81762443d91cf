"""Out-of-sample splits for a (ticker, date) panel: walk-forward and purged k-fold.

Every split is made by DATE across all tickers, so one fold's test period is the same calendar window
for every ticker. Intraday panels split by timestamp (UTC): a test period holds the bars that open
from its first instant up to, not including, the next period's; label windows and the embargo
count the panel's own bars, so a label that runs through an overnight gap is purged by the time of
its last bar. A training row's *label window* runs from its signal date t to the date of bar t+H
of its own ticker (H = label horizon): that is the span of prices its label looked at. Two rules keep
test information out of training (Lopez de Prado, *Advances in Financial Machine Learning*, ch. 7):

- **purge**: a training row whose label window overlaps the test period is dropped;
- **embargo**: the first ``embargo`` bars (per ticker) after a test period are dropped from training,
  because test rows' own label windows reach into them. In walk-forward schemes training always lies
  before the test period, so only purged k-fold has rows after a test period to embargo.

The same purge applies inside a training window to the inner validation slice used for early stopping.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from qlop.errors import ConfigError

_NAT = np.datetime64("NaT", "ns")


@dataclass(frozen=True)
class Fold:
    """One split: row positions (into the arrays the split was made from) and its calendar window.

    ``test_start``/``test_end`` bound the test *period* (inclusive); ``train_idx`` holds the rows left
    after the purge and the embargo, validation rows included.
    """

    fold: int
    train_idx: np.ndarray
    test_idx: np.ndarray
    test_start: np.datetime64
    test_end: np.datetime64
    n_purged: int = 0
    n_embargoed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self, dates: np.ndarray) -> dict[str, Any]:
        """The ``folds.json`` record: actual first/last dates of the rows used, plus counts."""
        return {
            "fold": self.fold,
            "train_start": _iso(dates[self.train_idx].min()),
            "train_end": _iso(dates[self.train_idx].max()),
            "test_start": _iso(dates[self.test_idx].min()),
            "test_end": _iso(dates[self.test_idx].max()),
            "n_train": int(self.train_idx.size),
            "n_test": int(self.test_idx.size),
            "n_purged": self.n_purged,
            "n_embargoed": self.n_embargoed,
            **self.extra,
        }


def _iso(value: Any) -> str:
    """A date as ``YYYY-MM-DD``; an intraday bar time (not midnight) as ``YYYY-MM-DDTHH:MM`` (UTC)."""
    if isinstance(value, pd.Timestamp) and value.tz is not None:
        value = value.tz_convert("UTC").tz_localize(None)
    t = np.datetime64(value, "m")
    day = np.datetime64(value, "D")
    return str(day) if t == day else str(t)


#: A training window's or fold's first/last bar as folds.json and the model's metadata write it.
bar_iso = _iso


def _intraday(dates: np.ndarray) -> bool:
    """Bar times rather than days: any time of day other than midnight (UTC)."""
    return bool(dates.size) and bool(np.any(dates.astype("datetime64[ns]").astype(np.int64) % 86_400_000_000_000))


def _ticker_bounds(index: pd.MultiIndex) -> tuple[np.ndarray, np.ndarray]:
    """For each row: position of the first and of the last row of its ticker (index sorted by ticker)."""
    codes = pd.factorize(index.get_level_values(0), sort=False)[0]
    n = codes.size
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    change = np.flatnonzero(np.diff(codes)) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change - 1, [n - 1]])
    lengths = ends - starts + 1
    return np.repeat(starts, lengths), np.repeat(ends, lengths)


def _dates(index: pd.MultiIndex) -> np.ndarray:
    return index.get_level_values(1).to_numpy(dtype="datetime64[ns]")


def label_end_dates(index: pd.MultiIndex, horizon: int) -> np.ndarray:
    """Date of bar t+``horizon`` of each row's own ticker (NaT where the ticker ends first).

    ``index`` must be the full panel index (sorted by ticker then date), so each ticker's calendar is
    complete: warm-up rows and unlabelled rows still count as bars.
    """
    if horizon < 0:
        raise ValueError("horizon must be >= 0")
    dates = _dates(index)
    _, seg_end = _ticker_bounds(index)
    target = np.arange(dates.size) + horizon
    out = np.full(dates.size, _NAT)
    ok = target <= seg_end
    out[ok] = dates[target[ok]]
    return out


def embargo_anchor_dates(index: pd.MultiIndex, embargo: int) -> np.ndarray:
    """Date of bar t-``embargo`` of each row's ticker; the ticker's first bars get the earliest date.

    A row after a test period that ends on ``E`` is embargoed when this anchor is on or before ``E``:
    it lies within ``embargo`` bars of the test period in its ticker's calendar.
    """
    dates = _dates(index)
    seg_start, _ = _ticker_bounds(index)
    source = np.arange(dates.size) - embargo
    out = np.full(dates.size, np.datetime64("1677-09-22", "ns"))
    ok = source >= seg_start
    out[ok] = dates[source[ok]]
    return out


def _purge_mask(
    dates: np.ndarray, label_end: np.ndarray, test_start: np.datetime64, test_end: np.datetime64
) -> np.ndarray:
    """Rows whose label window [date, label_end] overlaps [test_start, test_end] (NaT end: unknown)."""
    unknown = np.isnat(label_end)
    overlap = (dates <= test_end) & ~unknown & (label_end >= test_start)
    return overlap | (unknown & (dates <= test_end))


def _months(years: float) -> int:
    return max(1, int(round(years * 12)))


def walk_forward(
    index: pd.MultiIndex,
    usable: np.ndarray,
    horizon: int,
    *,
    train_years: float,
    test_months: int,
    window: str = "expanding",
    embargo: int | None = None,
    scorable: np.ndarray | None = None,
) -> list[Fold]:
    """Walk-forward folds over the ``usable`` rows of the panel ``index``.

    The first test period starts ``train_years`` after the first usable date; test periods of
    ``test_months`` follow back to back until the last usable (or scorable) date, so every such date
    after the first training window is tested exactly once. Training holds the usable rows before the
    test period (``expanding``), or only those of the last ``train_years`` (``rolling``), minus the purge.
    ``embargo`` is accepted for symmetry with :func:`purged_kfold`: walk-forward training always ends
    before its test period, so no training row follows one and nothing is embargoed.

    ``scorable`` (default: ``usable``) marks the rows a model can be asked about, labelled or not. Test
    periods hold every scorable row: whether a row gets a prediction must not depend on its label being
    known, because that depends on the future (the last H bars before a ticker's data ends have none),
    and a backtest of the predictions would then never trade in the days before a delisting.
    """
    if window not in ("expanding", "rolling"):
        raise ConfigError(f"model.validation.window: unknown window {window!r} (expanding or rolling)")
    dates = _dates(index)
    rows = np.flatnonzero(usable)
    if rows.size == 0:
        raise ConfigError("model: no usable training rows (every row lacks a label or a feature)")
    label_end = label_end_dates(index, horizon)
    udates = dates[rows]
    test_rows = rows if scorable is None else np.flatnonzero(np.asarray(scorable, dtype=bool) | usable)
    tdates = dates[test_rows]
    first, last = udates.min(), max(udates.max(), tdates.max())
    train_len = pd.DateOffset(months=_months(train_years))
    start = pd.Timestamp(first) + train_len
    if start > pd.Timestamp(last):
        raise ConfigError(
            f"model.validation.train_years: {train_years:g} years of training leaves no test period "
            f"(usable data runs {_iso(first)} .. {_iso(last)})"
        )
    folds: list[Fold] = []
    step = pd.DateOffset(months=test_months)
    # a period's last instant: the day before the next one starts (daily), or just before it (bar times)
    last_instant = pd.Timedelta(1, "ns") if _intraday(dates) else pd.Timedelta(days=1)
    lo = start
    while lo <= pd.Timestamp(last):
        hi = lo + step
        t0, t1 = np.datetime64(lo, "ns"), np.datetime64(hi - last_instant, "ns")
        test = test_rows[(tdates >= t0) & (tdates <= t1)]
        if test.size:
            before = udates < t0
            if window == "rolling":
                before &= udates >= np.datetime64(lo - train_len, "ns")
            cand = rows[before]
            purged = _purge_mask(dates[cand], label_end[cand], t0, t1)
            train = cand[~purged]
            if train.size == 0:
                raise ConfigError(
                    f"model.validation: fold with test period from {_iso(t0)} has no training rows left "
                    "after the purge; lengthen train_years"
                )
            folds.append(Fold(len(folds), train, test, t0, t1, int(purged.sum()), 0))
        lo = hi
    return folds


def purged_kfold(index: pd.MultiIndex, usable: np.ndarray, horizon: int, *, n_splits: int, embargo: int) -> list[Fold]:
    """K contiguous date blocks, each the test set once; training = the rest minus purge and embargo.

    For comparing models, not for a backtest: a fold trains on data after its test period.
    """
    dates = _dates(index)
    rows = np.flatnonzero(usable)
    udates = dates[rows]
    unique = np.unique(udates)
    if unique.size < n_splits:
        raise ConfigError(f"model.validation.n_splits: {n_splits} folds but only {unique.size} usable dates")
    label_end = label_end_dates(index, horizon)
    anchor = embargo_anchor_dates(index, embargo)
    folds = []
    for k, block in enumerate(np.array_split(unique, n_splits)):
        t0, t1 = block[0], block[-1]
        in_test = (udates >= t0) & (udates <= t1)
        cand = rows[~in_test]
        purged = _purge_mask(dates[cand], label_end[cand], t0, t1)
        embargoed = ~purged & (dates[cand] > t1) & (anchor[cand] <= t1)
        train = cand[~purged & ~embargoed]
        if train.size == 0:
            raise ConfigError(f"model.validation.n_splits: fold {k} has no training rows left")
        folds.append(Fold(k, train, rows[in_test], t0, t1, int(purged.sum()), int(embargoed.sum())))
    return folds


def make_folds(
    index: pd.MultiIndex,
    usable: np.ndarray,
    horizon: int,
    validation: Any,
    embargo: int,
    scorable: np.ndarray | None = None,
) -> list[Fold]:
    """Folds for a :class:`qlop.config.ValidationConfig` (``scorable``: see :func:`walk_forward`; purged
    k-fold compares models on labelled rows only)."""
    if validation.scheme == "walk_forward":
        return walk_forward(
            index,
            usable,
            horizon,
            train_years=validation.train_years,
            test_months=validation.test_months,
            window=validation.window,
            embargo=embargo,
            scorable=scorable,
        )
    if validation.scheme == "purged_kfold":
        return purged_kfold(index, usable, horizon, n_splits=validation.n_splits, embargo=embargo)
    raise ConfigError(f"model.validation.scheme: unknown scheme {validation.scheme!r}")


def validation_split(
    train_idx: np.ndarray, dates: np.ndarray, label_end: np.ndarray, fraction: float
) -> tuple[np.ndarray, np.ndarray]:
    """Split training rows into (fit, validation): validation = the last ``fraction`` of the dates.

    Fit rows whose label window reaches into the validation slice are purged, like the test purge.
    Returns an empty validation set when ``fraction`` is 0 or the window is too short to split.
    """
    empty = np.zeros(0, dtype=train_idx.dtype)
    if fraction <= 0 or train_idx.size == 0:
        return train_idx, empty
    tdates = dates[train_idx]
    unique = np.unique(tdates)
    n_val = int(np.floor(unique.size * fraction))
    if n_val < 1 or n_val >= unique.size:
        return train_idx, empty
    v0 = unique[unique.size - n_val]
    in_val = tdates >= v0
    fit = train_idx[~in_val]
    ends = label_end[fit]
    keep = ~np.isnat(ends) & (ends < v0)
    fit = fit[keep]
    if fit.size == 0:
        return train_idx, empty
    return fit, train_idx[in_val]
