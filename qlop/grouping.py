"""Per-ticker grouping of a panel: its ticker segments, computed once per index and shared.

A panel is sorted by (ticker, date), so each ticker is one contiguous block of rows. Feature steps
work on those blocks of the flat numpy columns (TA-Lib on each slice, numpy kernels with a reset at
each block start) instead of ``groupby().apply``, whose per-group frame overhead dominates at panel
scale. Part of the plugin-author API (:mod:`qlop.api`): a third-party step groups the same way.

The segments of an index are cached by the index object's identity (the pipeline hands every step
the same index), so the boundary scan and the order check run once per pipeline, not once per step.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from qlop.errors import DataError
from qlop.schema import INDEX_NAMES

if TYPE_CHECKING:
    import pandas as pd

_CACHE_SIZE = 8
_cache: dict[int, tuple[weakref.ref[Any], "TickerGroups"]] = {}


@dataclass(eq=False)
class TickerGroups:
    """Contiguous ticker blocks of a sorted panel: rows ``starts[g]:ends[g]`` belong to ticker ``g``."""

    starts: np.ndarray
    ends: np.ndarray
    index: "pd.MultiIndex" = field(repr=False)
    _lazy: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def n(self) -> int:
        return len(self.index)

    @property
    def lengths(self) -> np.ndarray:
        return self.ends - self.starts

    def __len__(self) -> int:
        return len(self.starts)

    def slices(self) -> list[tuple[int, int]]:
        """``(start, end)`` of each ticker block, as Python ints (cheap to loop over)."""
        return list(zip(self.starts.tolist(), self.ends.tolist()))

    @property
    def row_start(self) -> np.ndarray:
        """For each row, the position of its ticker's first row."""
        if "row_start" not in self._lazy:
            self._lazy["row_start"] = np.repeat(self.starts, self.lengths)
        return self._lazy["row_start"]

    @property
    def pos(self) -> np.ndarray:
        """For each row, its position inside its ticker (0 at the ticker's first bar)."""
        if "pos" not in self._lazy:
            self._lazy["pos"] = np.arange(self.n, dtype=np.int64) - self.row_start
        return self._lazy["pos"]

    @property
    def date_codes(self) -> np.ndarray:
        """An integer per row that is equal exactly for equal dates (for same-date cross sections)."""
        if "date_codes" not in self._lazy:
            self._lazy["date_codes"] = np.asarray(self.index.codes[1])  # small ints: fast radix sorts
        return self._lazy["date_codes"]

    @property
    def dates(self) -> np.ndarray:
        """Dates of every row as datetime64[ns] (an intraday panel's UTC bar starts, tz dropped)."""
        if "dates" not in self._lazy:
            level = self.index.levels[1]
            if getattr(level, "tz", None) is not None:
                level = level.tz_convert(None)
            self._lazy["dates"] = np.asarray(level.values, dtype="datetime64[ns]")[self.index.codes[1]]
        return self._lazy["dates"]

    def ticker(self, row: int) -> str:
        return str(self.index[row][0])


def ticker_groups(index: "pd.Index") -> TickerGroups:
    """The ticker blocks of ``index`` (cached per index object).

    Raises :class:`DataError` naming the ticker and date when the index is not a (ticker, date)
    MultiIndex grouped by ticker with strictly increasing dates: computing on such rows would let one
    ticker's bars leak into another's indicators, or the future into the past.
    """
    key = id(index)
    hit = _cache.get(key)
    if hit is not None and hit[0]() is index:
        return hit[1]
    groups = _build(index)
    if len(_cache) >= _CACHE_SIZE:
        for k in [k for k, (ref, _) in _cache.items() if ref() is None] or list(_cache)[:1]:
            _cache.pop(k, None)
    _cache[key] = (weakref.ref(index), groups)
    return groups


def clear_cache() -> None:
    """Forget cached segments (benchmarks use it to time a cold pipeline)."""
    _cache.clear()


def _build(index: "pd.Index") -> TickerGroups:
    import pandas as pd

    if not isinstance(index, pd.MultiIndex) or index.nlevels != 2:
        raise DataError(f"feature steps need a ({', '.join(INDEX_NAMES)}) MultiIndex, got {list(index.names)}")
    n = len(index)
    tick = np.asarray(index.codes[0])
    day = np.asarray(index.codes[1])
    if n and (tick.min() < 0 or day.min() < 0):
        raise DataError("feature steps: the index has missing tickers or dates")
    if n == 0:
        empty = np.empty(0, dtype=np.int64)
        return TickerGroups(empty, empty, index)
    levels = index.levels[1]
    if not levels.is_monotonic_increasing:  # compare dates through their rank, not the level codes
        rank = np.empty(len(levels), dtype=np.int64)
        rank[np.argsort(levels.values, kind="stable")] = np.arange(len(levels))
        day = rank[day]
    new = tick[1:] != tick[:-1]
    starts = np.flatnonzero(new)
    starts += 1
    starts = np.concatenate(([0], starts)).astype(np.int64)
    ends = np.append(starts[1:], n).astype(np.int64)
    block_codes = tick[starts]
    if len(np.unique(block_codes)) != len(block_codes):
        seen: set[int] = set()
        for s, c in zip(starts.tolist(), block_codes.tolist()):
            if c in seen:
                raise DataError(
                    f"feature steps: ticker {index[s][0]}, date {_fmt(index[s][1])}: rows are "
                    "not grouped by ticker (sort the panel by ticker, date)"
                )
            seen.add(c)
    back = day[1:] <= day[:-1]
    back[starts[1:] - 1] = False  # a new ticker may start at any date
    if back.any():
        i = int(np.flatnonzero(back)[0]) + 1
        what = "duplicated date" if day[i] == day[i - 1] else "dates not increasing within the ticker"
        raise DataError(
            f"feature steps: ticker {index[i][0]}, date {_fmt(index[i][1])}: {what} (sort the panel by ticker, date)"
        )
    return TickerGroups(starts, ends, index)


def _fmt(value: Any) -> str:
    try:
        return f"{value:%Y-%m-%d}"
    except (TypeError, ValueError):
        return str(value)
