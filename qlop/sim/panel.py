"""Flat numpy views of an OHLCV panel in the layout :func:`qlop.sim.simulate` expects.

A daily panel's clock is its calendar day numbers. An intraday panel (tz-aware timestamps, or times
of day other than midnight) also carries a :class:`BarClock`: when each bar opens, how long a bar
lasts and where each bar's session ends, so financing accrues on the actual time held and a trade
can be closed at its session's last bar.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from qlop.errors import DataError
from qlop.formatting import bar_time
from qlop.schema import INDEX_NAMES

if TYPE_CHECKING:
    import pandas as pd


#: Seconds in a calendar day: a day count's year is ``days_per_year`` of these.
DAY_SECONDS = 86_400


@dataclass(frozen=True)
class BarClock:
    """The clock of an intraday panel, positionally aligned with its rows.

    ``time``: int64 seconds since 1970-01-01 UTC at each bar's open; ``bar_seconds``: the length of
    one bar; ``session_end``: the position of the last bar of each bar's session within its ticker
    (a session is one trading day of the panel's exchange, from its calendar: the schedule, never
    the next bar's arrival, decides it); ``end_time``: each bar's close in seconds, ``time +
    bar_seconds`` unless the session closes first (XNYS hourly: the 15:30 bar closes at 16:00), None
    when no bar is cut.
    """

    time: np.ndarray
    bar_seconds: int
    session_end: np.ndarray
    end_time: np.ndarray | None = None

    @property
    def ends(self) -> np.ndarray:
        """Each bar's close in seconds."""
        return self.time + self.bar_seconds if self.end_time is None else self.end_time

    def take(self, rows: np.ndarray, session_end: np.ndarray) -> "BarClock":
        """The clock of the bars at ``rows`` (a compact panel), with their sessions' ends given anew."""
        return BarClock(
            self.time[rows], self.bar_seconds, session_end, None if self.end_time is None else self.end_time[rows]
        )

    def exit_time(self, exit_: np.ndarray, at_open: np.ndarray) -> np.ndarray:
        """The moment (seconds) of each exit: the exit bar's open for a gap or signal fill, else its close."""
        if self.end_time is None:
            return self.time[exit_] + np.where(at_open, 0, self.bar_seconds)
        return np.where(at_open, self.time[exit_], self.end_time[exit_])

    def held_days(self, entry: np.ndarray, exit_: np.ndarray, at_open: np.ndarray) -> np.ndarray:
        """Days (fractional) from the open of bar ``entry`` to the open of bar ``exit_`` when ``at_open``,
        else to its close: integer seconds first, so 24 hourly bars are exactly 1.0."""
        return (self.exit_time(exit_, at_open) - self.time[entry]).astype(np.float64) / DAY_SECONDS


@dataclass(frozen=True)
class PanelArrays:
    """Prices, calendar days and ticker segments of a panel, positionally aligned with its rows.

    ``seg_end[i]`` is the position of the last row of row ``i``'s ticker; ``seg_start[i]`` the first.
    ``day`` is the calendar day (UTC) of each bar's open; ``clock`` is None for a daily panel.
    """

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    day: np.ndarray
    seg_start: np.ndarray
    seg_end: np.ndarray
    clock: BarClock | None = None

    def __len__(self) -> int:
        return self.open.shape[0]

    @property
    def intraday(self) -> bool:
        return self.clock is not None

    @property
    def bar_seconds(self) -> int:
        """Length of a bar in seconds; 0 for a daily panel (a day's financing is counted in nights)."""
        return 0 if self.clock is None else int(self.clock.bar_seconds)

    @property
    def stamp(self) -> np.ndarray:
        """Each bar's key on the book calendar: its day number (daily) or its open in seconds (intraday)."""
        return self.day if self.clock is None else self.clock.time

    @property
    def session_end(self) -> np.ndarray:
        """Position of the last bar of each bar's session (a daily bar is its own session)."""
        return np.arange(len(self), dtype=np.int64) if self.clock is None else self.clock.session_end

    def stamp_index(self, stamps: np.ndarray) -> "pd.DatetimeIndex":
        """Calendar keys from :attr:`stamp` back to timestamps (tz-aware UTC for an intraday panel)."""
        import pandas as pd

        s = np.asarray(stamps, dtype=np.int64)
        if self.clock is None:
            return pd.DatetimeIndex(s.astype("datetime64[D]").astype("datetime64[ns]"))
        return pd.DatetimeIndex(pd.to_datetime(s, unit="s", utc=True))


def is_intraday(dates: "pd.DatetimeIndex") -> bool:
    """Intraday bars: tz-aware timestamps, or any time of day other than midnight."""
    import pandas as pd

    dates = pd.DatetimeIndex(dates)
    if dates.tz is not None:
        return True
    values = dates.as_unit("ns").asi8
    return bool(values.size) and bool(np.any(values % (DAY_SECONDS * 10**9) != 0))


def bar_seconds_of(data: "pd.DataFrame", times: np.ndarray, codes: np.ndarray) -> int:
    """The length of one bar: from the panel's ``interval`` metadata when the data source set it, else
    the shortest gap between consecutive bars of a ticker (bars sit on the interval's grid, so a
    missing bar lengthens a gap but never shortens one)."""
    interval = getattr(data, "attrs", {}).get("interval")
    if isinstance(interval, str) and interval[:-1].isdigit() and interval[-1] in "mhd":
        return int(interval[:-1]) * {"m": 60, "h": 3600, "d": DAY_SECONDS}[interval[-1]]
    same = codes[1:] == codes[:-1]
    gaps = (times[1:] - times[:-1])[same]
    gaps = gaps[gaps > 0]
    if gaps.size == 0:
        return DAY_SECONDS
    return int(gaps.min())


def session_ends(data: "pd.DataFrame", times: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Position of the last bar of each bar's session within its ticker. With the panel's ``session``
    (``attrs``, set by the data layer) the exchange calendar says (:func:`qlop.sessions.last_bar_of_session`);
    otherwise a session is a calendar date in the panel's time zone (``attrs["timezone"]``, else the
    timestamps' own, else UTC)."""
    import pandas as pd

    n = times.size
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    attrs = getattr(data, "attrs", {}) or {}
    if attrs.get("session"):
        from qlop.sessions import last_bar_of_session

        last = np.asarray(last_bar_of_session(times * 10**9, attrs["session"], codes), dtype=bool)
        last[-1] = True
    else:
        tz = attrs.get("timezone") or pd.DatetimeIndex(data.index.get_level_values(1)).tz or "UTC"
        local = pd.to_datetime(times, unit="s", utc=True).tz_convert(tz)
        day = (local.tz_localize(None).as_unit("ns").asi8 // (DAY_SECONDS * 10**9)).astype(np.int64)
        last = np.r_[(codes[1:] != codes[:-1]) | (day[1:] != day[:-1]), True]
    ends = np.flatnonzero(last)
    return np.repeat(ends, np.diff(np.r_[-1, ends])).astype(np.int64)


def bar_end_times(data: "pd.DataFrame", times: np.ndarray, bar_seconds: int) -> np.ndarray | None:
    """Each bar's close in seconds where its session closes before a whole bar (None when none does):
    the panel's exchange calendar (``attrs["session"]``) gives the closes; a 24/7 session cuts none."""
    attrs = getattr(data, "attrs", {}) or {}
    session = attrs.get("session")
    if not session or session == "24/7" or times.size == 0:
        return None
    from qlop.sessions import session_open_close

    _, closes = session_open_close(times * 10**9, session)
    close_s = np.asarray(closes.asi8, dtype=np.int64) // 10**9
    full = times + bar_seconds
    known = ~np.asarray(closes.isna())
    ends = np.where(known, np.minimum(full, close_s), full)
    return ends if np.any(ends != full) else None


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
    intraday = is_intraday(date_level)
    if intraday:  # UTC seconds at each bar's open; the calendar day is the UTC date
        level_s = date_level.as_unit("ns").asi8 // 10**9  # tz-aware: asi8 is UTC
        times = np.asarray(level_s, dtype=np.int64)[np.asarray(index.codes[1])]
        day = times // DAY_SECONDS
    else:
        day = date_level.to_numpy().astype("datetime64[D]").astype(np.int64)[np.asarray(index.codes[1])]
    if n and (codes.min() < 0 or np.asarray(index.codes[1]).min() < 0):
        raise DataError(f"{source}: missing ticker or date in the index")
    if n > 1:
        change = codes[1:] != codes[:-1]
        stamp = times if intraday else day
        back = ~change & (stamp[1:] <= stamp[:-1])
        if np.any(back):
            i = int(np.flatnonzero(back)[0]) + 1
            raise DataError(
                f"{source}: ticker {index[i][0]}, date {bar_time(index[i][1])}: "
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
    clock = None
    if intraday:
        bar = bar_seconds_of(data, times, codes)
        clock = BarClock(times, bar, session_ends(data, times, codes), bar_end_times(data, times, bar))
    return PanelArrays(
        open=cols["open"],
        high=cols["high"],
        low=cols["low"],
        close=cols["close"],
        day=day,
        seg_start=np.repeat(starts, lengths).astype(np.int64),
        seg_end=np.repeat(ends, lengths).astype(np.int64),
        clock=clock,
    )
