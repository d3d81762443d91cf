"""Flat numpy views of an OHLCV panel in the layout :func:`qlop.sim.simulate` expects."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from qlop.errors import DataError
from qlop.schema import INDEX_NAMES

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class PanelArrays:
    """Prices, calendar days and ticker segments of a panel, positionally aligned with its rows.

    ``seg_end[i]`` is the position of the last row of row ``i``'s ticker; ``seg_start[i]`` the first.
    """

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    day: np.ndarray
    seg_start: np.ndarray
    seg_end: np.ndarray

    def __len__(self) -> int:
        return self.open.shape[0]


def panel_arrays(data: "pd.DataFrame", source: str = "panel") -> PanelArrays:
    """Extract the arrays of ``data`` (indexed by ticker, date; sorted, each ticker in one block).

    Raises :class:`DataError` (one line) for a missing price column, a wrong index, or rows that are
    not grouped by ticker in increasing date order: the simulator would otherwise read another
    ticker's bars or the past as the future.
    """
    import pandas as pd

    names = list(data.index.names)
    if names[:2] != list(INDEX_NAMES) or data.index.nlevels != 2:
        raise DataError(f"{source}: expected a (ticker, date) index, got {names}")
    cols = {}
    for col in ("open", "high", "low", "close"):
        if col not in data.columns:
            raise DataError(f"{source}: missing required column {col!r}")
        cols[col] = data[col].to_numpy(dtype=np.float64)
    n = len(data)
    index = data.index
    codes = np.asarray(index.codes[0], dtype=np.int64)
    date_level = pd.DatetimeIndex(index.levels[1])
    day = date_level.to_numpy().astype("datetime64[D]").astype(np.int64)[np.asarray(index.codes[1])]
    if n and (codes.min() < 0 or np.asarray(index.codes[1]).min() < 0):
        raise DataError(f"{source}: missing ticker or date in the index")
    if n > 1:
        change = codes[1:] != codes[:-1]
        back = ~change & (day[1:] <= day[:-1])
        if np.any(back):
            i = int(np.flatnonzero(back)[0]) + 1
            raise DataError(
                f"{source}: ticker {index[i][0]}, date {index[i][1]:%Y-%m-%d}: "
                "dates not strictly increasing within the ticker (sort the panel)"
            )
        # Each ticker must form one block: as many blocks as distinct tickers.
        if int(change.sum()) + 1 != int(np.count_nonzero(np.bincount(codes))):
            block_start = np.r_[0, np.flatnonzero(change) + 1]
            order = np.argsort(codes[block_start], kind="stable")
            again = order[1:][codes[block_start][order][1:] == codes[block_start][order][:-1]]
            i = int(block_start[again.min()])  # first block of a ticker seen in an earlier block
            raise DataError(f"{source}: ticker {index[i][0]}: rows are not grouped by ticker (sort the panel)")
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]]) if n else np.empty(0, np.int64)
    ends = np.r_[starts[1:] - 1, n - 1] if n else starts
    lengths = ends - starts + 1
    return PanelArrays(
        open=cols["open"],
        high=cols["high"],
        low=cols["low"],
        close=cols["close"],
        day=day,
        seg_start=np.repeat(starts, lengths).astype(np.int64),
        seg_end=np.repeat(ends, lengths).astype(np.int64),
    )
