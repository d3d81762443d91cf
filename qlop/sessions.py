"""Bar intervals and trading sessions: the one home of "when does a market trade".

An intraday panel's timestamps are bar *starts* in UTC; a bar at ``t`` covers ``[t, t + interval)``,
cut at its session's close. A panel's bars belong to a **session** (one trading day):

* ``"24/7"``: every UTC calendar day is a session, 00:00 to 24:00 UTC (crypto, perpetuals). The bar
  grid is anchored at UTC midnight.
* an exchange code known to ``exchange_calendars`` (``"XNYS"``, ``"XLON"``, ``"CMES"``, ...): its
  regular hours, holidays and early closes come from that maintained library (never a hand-written
  list); the exchange's time zone is the panel's ``timezone``. The bar grid is anchored at each
  session's open (XNYS hourly bars start 09:30, 10:30, ..., 15:30 New York time); a session with a
  lunch break anchors its afternoon bars at the break's end, and a bar inside the break is outside
  the session.

**Periods per year** (what annualises an intraday Sharpe or volatility) are defined, not inferred:
``bars_per_session(interval, session) x sessions_per_year(session)``, where a regular session's bars
are ``ceil(session minutes / interval minutes)`` (the last bar of XNYS hourly is 15:30-16:00) and a
year has 365 sessions for ``24/7``, 260 for ``24/5`` and 252 for an exchange. So ``24/7`` hourly is
24 x 365 = 8,760 and XNYS hourly 7 x 252 = 1,764. Daily panels keep the calendar-inferred figure of
:mod:`qlop.calendar`.

The panel carries its bar description in ``DataFrame.attrs`` (:func:`panel_bars` reads it back,
:func:`set_panel_bars` writes it); Parquet keeps ``attrs``, so ``data.parquet`` and cache entries do.
Every function takes timestamps as a tz-aware ``DatetimeIndex``/``Series``, a ``datetime64`` array
(naive = UTC) or int64 nanoseconds, and works on whole arrays (2M one-minute bars in about 0.1 s
once the exchange calendar is built, which takes about a second the first time).
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from qlop.errors import ConfigError, DataError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

#: Bar intervals QLOP accepts in ``[data] interval`` (and ``resample``), finest first.
INTERVALS: tuple[str, ...] = ("1m", "5m", "15m", "30m", "1h", "4h", "1d")
#: The intraday ones: panels of these carry UTC timestamps and a session.
INTRADAY_INTERVALS: tuple[str, ...] = INTERVALS[:-1]
_MINUTES = {"1m": 1, "5m": 5, "15m": 15, "30m": 30, "1h": 60, "4h": 240, "1d": 1440}

#: The session of crypto and other round-the-clock markets (UTC days).
ALWAYS_OPEN = "24/7"
#: Sessions a year: 24/7 trades every day, 24/5 every weekday, an exchange about 252 days.
SESSIONS_PER_YEAR_EXCHANGE = 252
_SESSIONS_PER_YEAR = {ALWAYS_OPEN: 365, "24/5": 260}

#: ``DataFrame.attrs`` keys of a panel's bar description.
ATTR_INTERVAL, ATTR_SESSION, ATTR_TIMEZONE = "interval", "session", "timezone"

#: The years whose most common session length defines an exchange's regular session (fixed, so
#: periods per year never drift with today's date).
_REFERENCE_YEARS = ("2022-01-01", "2023-12-31")

_NS_PER_MIN = 60_000_000_000
_NS_PER_DAY = 86_400_000_000_000


def interval_minutes(interval: str) -> int:
    """Minutes in one bar of ``interval`` (``1d`` = 1,440); an unknown interval is a one-line error."""
    try:
        return _MINUTES[interval]
    except KeyError:
        raise ConfigError(f"interval {interval!r} is not supported (supported: {', '.join(INTERVALS)})") from None


def is_intraday(interval: str) -> bool:
    """True for an interval shorter than a day (its panel has UTC timestamps and a session)."""
    return interval in INTRADAY_INTERVALS


@dataclass(frozen=True)
class BarSpec:
    """What a panel's bars are: their interval, the session they trade in and its time zone."""

    interval: str = "1d"
    session: str | None = None
    timezone: str | None = None

    @property
    def intraday(self) -> bool:
        return is_intraday(self.interval)


def panel_bars(panel: "pd.DataFrame") -> BarSpec:
    """The bar description a panel carries (a panel without one is daily)."""
    attrs = getattr(panel, "attrs", {}) or {}
    return BarSpec(
        str(attrs.get(ATTR_INTERVAL, "1d")),
        attrs.get(ATTR_SESSION) or None,
        attrs.get(ATTR_TIMEZONE) or None,
    )


def set_panel_bars(panel: "pd.DataFrame", spec: BarSpec) -> "pd.DataFrame":
    """Record ``spec`` in ``panel.attrs`` (in place; returned for chaining). Daily panels stay bare."""
    if spec.intraday:
        panel.attrs[ATTR_INTERVAL] = spec.interval
        panel.attrs[ATTR_SESSION] = spec.session
        panel.attrs[ATTR_TIMEZONE] = spec.timezone or session_timezone(spec.session or ALWAYS_OPEN)
    return panel


def bar_attrs(panel: "pd.DataFrame") -> dict[str, Any]:
    """The bar description keys of ``panel.attrs`` (empty for a daily panel), to pass along to a
    frame built from the panel's columns."""
    attrs = getattr(panel, "attrs", {}) or {}
    return {k: attrs[k] for k in (ATTR_INTERVAL, ATTR_SESSION, ATTR_TIMEZONE) if k in attrs}


# -- timestamps --------------------------------------------------------------------------------------------------------


def utc_ns(timestamps: Any) -> "np.ndarray":
    """int64 nanoseconds since the epoch (UTC) of ``timestamps`` (naive values are read as UTC)."""
    import numpy as np
    import pandas as pd

    if isinstance(timestamps, np.ndarray) and timestamps.dtype.kind in "iu":
        return timestamps.astype(np.int64, copy=False)
    idx = pd.DatetimeIndex(timestamps)
    if idx.tz is not None:
        idx = idx.tz_convert("UTC").tz_localize(None)
    return np.asarray(idx.as_unit("ns").asi8, dtype=np.int64)


def _as_utc_index(ns: "np.ndarray") -> "pd.DatetimeIndex":
    import pandas as pd

    return pd.DatetimeIndex(ns.astype("datetime64[ns]")).tz_localize("UTC")


# -- sessions ----------------------------------------------------------------------------------------------------------


def check_session(name: str) -> str:
    """``name`` if it is ``24/7`` or a calendar ``exchange_calendars`` knows; else a one-line error."""
    if name == ALWAYS_OPEN:
        return name
    import exchange_calendars as xcals

    names = xcals.get_calendar_names(include_aliases=True)
    if name not in names:
        raise ConfigError(
            f'session {name!r} is not known (use "24/7" or an exchange calendar code such as XNYS, XLON, CMES)'
        )
    return name


@functools.lru_cache(maxsize=16)
def session_timezone(session: str) -> str:
    """The time zone sessions are defined in: UTC for ``24/7``, the exchange's own otherwise."""
    if session == ALWAYS_OPEN:
        return "UTC"
    import exchange_calendars as xcals

    check_session(session)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return str(xcals.get_calendar(session).tz)


@dataclass(frozen=True)
class Schedule:
    """A session calendar as sorted int64 UTC nanosecond arrays, one entry per session.

    ``day`` is the session's date as days since 1970-01-01 (its session id); ``break_start`` and
    ``break_end`` equal ``close`` for sessions without a break.
    """

    session: str
    day: "np.ndarray"
    open: "np.ndarray"
    close: "np.ndarray"
    break_start: "np.ndarray"
    break_end: "np.ndarray"

    def locate(self, ns: "np.ndarray") -> "np.ndarray":
        """Index of the session each timestamp falls in, -1 outside every session (or in a break)."""
        import numpy as np

        if self.session == ALWAYS_OPEN:
            i = np.floor_divide(ns, _NS_PER_DAY) - (int(self.day[0]) if len(self.day) else 0)
            return np.where((i >= 0) & (i < len(self.day)), i, -1)
        i = np.searchsorted(self.open, ns, side="right") - 1
        ok = i >= 0
        j = np.maximum(i, 0)
        ok &= ns < self.close[j]
        ok &= ~((ns >= self.break_start[j]) & (ns < self.break_end[j]))
        return np.where(ok, i, -1)

    def anchor(self, i: "np.ndarray", ns: "np.ndarray") -> "np.ndarray":
        """Where the bar grid of session ``i`` starts for a timestamp ``ns`` in it (open, or break end)."""
        import numpy as np

        return np.where(ns >= self.break_end[i], self.break_end[i], self.open[i])


def _day_bounds(ns: "np.ndarray") -> tuple[int, int]:
    import numpy as np

    if not len(ns):
        return 0, 0
    return int(np.floor_divide(ns.min(), _NS_PER_DAY)), int(np.floor_divide(ns.max(), _NS_PER_DAY))


@functools.lru_cache(maxsize=32)
def _schedule(session: str, first_day: int, last_day: int) -> Schedule:
    import numpy as np

    if session == ALWAYS_OPEN:
        day = np.arange(first_day, last_day + 1, dtype=np.int64)
        opens = day * _NS_PER_DAY
        closes = opens + _NS_PER_DAY
        return Schedule(session, day, opens, closes, closes, closes)
    import exchange_calendars as xcals
    import pandas as pd

    check_session(session)
    with warnings.catch_warnings():  # the library reads tz-aware Series.values, which pandas 3.1 deprecates
        warnings.simplefilter("ignore")
        # the library's default calendar (20 years back, 1 ahead; built once and cached by the
        # library) serves most requests; older or later dates build a calendar of their own
        cal = xcals.get_calendar(session)
        first_ts = pd.Timestamp(first_day, unit="D")
        last_ts = pd.Timestamp(last_day, unit="D")
        if first_ts < cal.first_session or last_ts > cal.last_session:
            start = first_ts
            end = max(last_ts, start + pd.Timedelta(days=7))  # the library wants end > start
            try:
                cal = xcals.get_calendar(session, start=start.strftime("%Y-%m-%d"), end=end.strftime("%Y-%m-%d"))
            except Exception as exc:  # the library raises its own types for dates out of its range
                raise DataError(f"session {session}: no calendar for {start.date()} .. {end.date()} ({exc})") from None
    s = cal.schedule
    s = s[(s.index >= first_ts - pd.Timedelta(days=7)) & (s.index <= last_ts + pd.Timedelta(days=7))]

    def ns_of(col: str, fallback: "np.ndarray | None" = None) -> "np.ndarray":
        values = s[col]
        out = np.asarray(
            pd.DatetimeIndex(values).tz_convert("UTC").tz_localize(None).as_unit("ns").asi8, dtype=np.int64
        )
        if fallback is not None:
            out = np.where(values.isna().to_numpy(), fallback, out)
        return out

    opens, closes = ns_of("open"), ns_of("close")
    bstart = ns_of("break_start", closes) if "break_start" in s else closes
    bend = ns_of("break_end", closes) if "break_end" in s else closes
    day = np.asarray(pd.DatetimeIndex(s.index).as_unit("ns").asi8 // _NS_PER_DAY, dtype=np.int64)
    return Schedule(session, day, opens, closes, bstart, bend)


def schedule(session: str, start: Any, end: Any) -> Schedule:
    """The sessions of ``session`` whose dates lie in ``start .. end`` (dates or timestamps)."""
    import pandas as pd

    first = int(pd.Timestamp(start).value // _NS_PER_DAY)
    last = int(pd.Timestamp(end).value // _NS_PER_DAY)
    return _schedule(session, first, last)


def _schedule_for(ns: "np.ndarray", session: str) -> Schedule:
    first, last = _day_bounds(ns)
    # a day either side: a session dated yesterday may still be open (Asian exchanges in UTC)
    return _schedule(session, first - 1, last + 1)


def session_index(timestamps: Any, session: str) -> tuple["np.ndarray", Schedule]:
    """(index into the schedule, -1 outside every session; the schedule) of each timestamp."""
    ns = utc_ns(timestamps)
    sched = _schedule_for(ns, session)
    return sched.locate(ns), sched


def outside_session(timestamps: Any, session: str) -> "np.ndarray":
    """True where a bar starts outside every session (a holiday, the night, a lunch break)."""
    i, _ = session_index(timestamps, session)
    return i < 0


def off_grid(timestamps: Any, session: str, interval: str) -> "np.ndarray":
    """True where a bar inside a session does not start on the interval's grid (anchored at the open)."""
    import numpy as np

    ns = utc_ns(timestamps)
    i, sched = session_index(ns, session)
    inside = i >= 0
    j = np.maximum(i, 0)
    step = interval_minutes(interval) * _NS_PER_MIN
    if not len(sched.open):
        return np.zeros(len(ns), dtype=bool)
    return inside & ((ns - sched.anchor(j, ns)) % step != 0)


def session_ids(timestamps: Any, session: str) -> "np.ndarray":
    """Each bar's session id: its session's date as days since 1970-01-01 (-1 outside every session)."""
    import numpy as np

    i, sched = session_index(timestamps, session)
    return np.where(i >= 0, sched.day[np.maximum(i, 0)], -1) if len(sched.day) else np.full(len(i), -1)


def session_open_close(timestamps: Any, session: str) -> tuple["pd.DatetimeIndex", "pd.DatetimeIndex"]:
    """The open and close (UTC) of each bar's session; NaT outside every session."""
    import numpy as np

    i, sched = session_index(timestamps, session)
    j = np.maximum(i, 0)
    nat = np.iinfo(np.int64).min
    if not len(sched.open):
        empty = np.full(len(i), nat)
        return _as_utc_index(empty), _as_utc_index(empty)
    return _as_utc_index(np.where(i >= 0, sched.open[j], nat)), _as_utc_index(np.where(i >= 0, sched.close[j], nat))


def minutes_to_close(timestamps: Any, session: str, interval: str) -> "np.ndarray":
    """Minutes from the *end* of each bar to its session's close (0 on the session's last bar; NaN
    outside a session). Known when the bar closes, so a feature built from it is causal."""
    import numpy as np

    ns = utc_ns(timestamps)
    i, sched = session_index(ns, session)
    out = np.full(len(ns), np.nan)
    if not len(sched.close):
        return out
    j = np.maximum(i, 0)
    end = ns + interval_minutes(interval) * _NS_PER_MIN
    left = np.maximum(sched.close[j] - end, 0) / _NS_PER_MIN
    return np.where(i >= 0, left, out)


def time_of_day(timestamps: Any, session: str) -> "np.ndarray":
    """Minutes since local midnight (the session's time zone) at each bar's start."""
    import numpy as np

    ns = utc_ns(timestamps)
    tz = session_timezone(session)
    if tz == "UTC":
        return (np.mod(ns, _NS_PER_DAY) // _NS_PER_MIN).astype(np.float64)
    # the zone's UTC offset per session (one conversion per session, not per bar: clocks change at
    # night, never inside a session); bars outside every session are converted one by one
    i, sched = session_index(ns, session)
    offset = np.zeros(len(ns), dtype=np.int64)
    if len(sched.open):
        opens = _as_utc_index(sched.open)
        per_session = opens.tz_convert(tz).tz_localize(None).as_unit("ns").asi8 - sched.open
        offset = per_session[np.maximum(i, 0)]
    out = (np.mod(ns + offset, _NS_PER_DAY) // _NS_PER_MIN).astype(np.float64)
    outside = i < 0
    if outside.any():
        local = _as_utc_index(ns[outside]).tz_convert(tz)
        out[outside] = np.asarray(local.hour * 60 + local.minute, dtype=np.float64)
    return out


def last_bar_of_session(timestamps: Any, session: str, groups: "np.ndarray | None" = None) -> "np.ndarray":
    """True on each ticker's last bar of a session in the data (the next bar, if any, is in a later
    session or belongs to another ticker). ``groups`` holds a ticker code per row (rows grouped by
    ticker in time order); None means one ticker. A session's last bar *in the data* can come before
    the session's scheduled close when bars are missing."""
    import numpy as np

    sid = session_ids(timestamps, session)
    n = len(sid)
    out = np.ones(n, dtype=bool)
    if n > 1:
        same = sid[1:] == sid[:-1]
        if groups is not None:
            g = np.asarray(groups)
            same &= g[1:] == g[:-1]
        out[:-1] = ~same
    return out


@functools.lru_cache(maxsize=64)
def bars_per_session(interval: str, session: str) -> int:
    """Bars in one regular (full-day) session: ``ceil(minutes / interval)`` per part of the day.

    24/7: 1,440 minutes a day (24 hourly bars). An exchange: its most common session length in the
    calendar's recent years (early closes are exceptions, not the rule); XNYS is 390 minutes, so 7
    hourly bars and 78 five-minute bars.
    """
    import numpy as np

    step = interval_minutes(interval)
    if not is_intraday(interval):
        return 1
    if session == ALWAYS_OPEN:
        return math.ceil(1440 / step)

    sched = schedule(session, *_REFERENCE_YEARS)
    morning = (sched.break_start - sched.open) // _NS_PER_MIN
    afternoon = (sched.close - sched.break_end) // _NS_PER_MIN
    bars = np.ceil(morning / step).astype(np.int64) + np.ceil(afternoon / step).astype(np.int64)
    values, counts = np.unique(bars, return_counts=True)
    return int(values[np.argmax(counts)])


def sessions_per_year(session: str) -> int:
    """Sessions in a year, by definition: 365 for 24/7, 260 for 24/5, 252 for an exchange."""
    return _SESSIONS_PER_YEAR.get(session, SESSIONS_PER_YEAR_EXCHANGE)


def periods_per_year(interval: str, session: str) -> float:
    """Bars in a year for (interval, session): ``bars_per_session x sessions_per_year`` (24/7 hourly
    8,760; XNYS hourly 1,764; XNYS 5-minute 19,656). ``1d`` gives ``sessions_per_year``."""
    return float(bars_per_session(interval, session) * sessions_per_year(session))


def bucket_starts(timestamps: Any, session: str, interval: str) -> "np.ndarray":
    """The start (int64 UTC ns) of the ``interval`` bar each timestamp falls in, on the session's
    grid (anchored at its open): the key that resampling groups finer bars by. -1 outside a session."""
    import numpy as np

    ns = utc_ns(timestamps)
    i, sched = session_index(ns, session)
    if not len(sched.open):
        return np.full(len(ns), -1, dtype=np.int64)
    j = np.maximum(i, 0)
    step = interval_minutes(interval) * _NS_PER_MIN
    anchor = sched.anchor(j, ns)
    start = anchor + (ns - anchor) // step * step
    return np.where(i >= 0, start, -1)


def session_bars(
    session: str, interval: str, start: Any, end: Any = None, n_bars: int | None = None
) -> "pd.DatetimeIndex":
    """The full bar grid (UTC bar starts) of ``session`` at ``interval`` from the session dated
    ``start`` on: every bar of every session up to the one dated ``end`` (inclusive), or the first
    ``n_bars`` bars. Holidays and nights have no bars; early closes have fewer. What synthetic data
    and tests build intraday panels on."""
    import numpy as np
    import pandas as pd

    if end is None and n_bars is None:
        raise ValueError("session_bars needs end or n_bars")
    step = interval_minutes(interval) * _NS_PER_MIN
    first = pd.Timestamp(start).normalize()
    if end is not None:
        last = pd.Timestamp(end).normalize()
    else:
        per_day = bars_per_session(interval, session) * sessions_per_year(session) / 365.0
        last = first + pd.Timedelta(days=int(math.ceil((n_bars or 0) / max(per_day, 1e-9) * 1.2)) + 10)
    sched = schedule(session, first, last)
    keep = (sched.day >= first.value // _NS_PER_DAY) & (sched.day <= last.value // _NS_PER_DAY)
    parts = []
    for lo, hi in ((sched.open[keep], sched.break_start[keep]), (sched.break_end[keep], sched.close[keep])):
        count = np.maximum(-((lo - hi) // step), 0)  # ceil((hi - lo) / step)
        starts = np.repeat(lo, count)
        offset = np.arange(int(count.sum()), dtype=np.int64) - np.repeat(np.cumsum(count) - count, count)
        parts.append(starts + offset * step)
    ns = np.sort(np.concatenate(parts))
    if n_bars is not None:
        if len(ns) < n_bars and end is None:  # a calendar with long closures: widen and retry
            return session_bars(session, interval, start, last + pd.Timedelta(days=366), n_bars)
        ns = ns[:n_bars]
    return _as_utc_index(ns)
