"""Annual rates over calendar days: what financing, cash interest and the risk-free rate accrue.

A rate is a constant or a :class:`~qlop.sim.terms.RateSeries` (a column of a data source, loaded
through the data-source registry and its cache, :func:`qlop.stages.data.load_panel`: an edited file
is read again). Either becomes a :class:`RateCurve`: the annual
rate in effect on every calendar day of a span, the last observation on or before that day. Interest
for the night after day ``k`` is charged at day ``k``'s rate, so a position held from day ``d0`` to
day ``d1`` accrues the rates of days ``d0 .. d1 - 1``, each divided by the day count's year:

* simple (financing of a position): ``sum(rate[k] for k in d0 .. d1-1) / Y``;
* compounded daily (idle cash, the risk-free return of a period): ``prod(1 + rate[k] / Y) - 1``.

Intraday positions accrue on the actual time held (:meth:`RateCurve.accrued_seconds`): each day's
rate times the fraction of that day the position was open, so 24 hourly bars accrue one day.

A constant keeps the closed forms ``rate x days / Y`` and ``(1 + rate / Y) ** days``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from qlop.errors import ConfigError, DataError
from qlop.sim.terms import Rate, RateSeries

#: A series may end this many calendar days before the last day it is needed for (a monthly series'
#: last print still covers the month after it).
STALE_DAYS = 31


def _date(day: int) -> str:
    return str(np.datetime64(int(day), "D"))


def load_rate_series(series: RateSeries, field: str) -> Any:
    """The series as a ``pandas.Series`` of annual rates (fractions) indexed by date.

    Errors name ``field`` (``backtest.risk_free``, ``label.label_params.financing_rate`` ...) and the source.
    """
    from qlop.config import DataConfig
    from qlop.errors import PluginError
    from qlop.stages.data import load_panel

    request = DataConfig(
        data_source_type=series.data_source_type, data_source_params=series.data_source_params, tickers=[series.ticker]
    )
    try:
        panel = load_panel(request)
    except (DataError, PluginError) as exc:
        raise ConfigError(
            f"{field}: rate series {series.ticker!r} cannot be loaded from data source "
            f"{series.data_source_type!r} ({exc})"
        ) from None
    frame = panel.xs(panel.index.get_level_values(0)[0], level=0)
    values = frame[series.column].astype("float64")
    if series.units == "percent":
        values = values / 100.0
    bad = ~np.isfinite(values.to_numpy()) | (values.abs().to_numpy() > 1.0)
    if bad.any():
        when = values.index[int(np.flatnonzero(bad)[0])]
        raise ConfigError(
            f"{field}: rate series {series.describe()} has {values[when] * (100 if series.units == 'percent' else 1):g} "
            f"on {when:%Y-%m-%d}, not an annual rate between -100 % and 100 % (check 'units')"
        )
    values.index.name = "date"
    return values


@dataclass(frozen=True)
class RateCurve:
    """The annual rate on each calendar day ``first_day .. first_day + len(rate) - 1`` (a constant has
    ``constant`` set and no per-day array)."""

    first_day: int
    rate: np.ndarray | None
    constant: float | None = None

    @property
    def is_zero(self) -> bool:
        return self.constant == 0.0

    @classmethod
    def of(cls, rate: Rate, first_day: int, last_day: int, field: str) -> "RateCurve":
        """``rate`` over the calendar days ``first_day .. last_day``: a constant, or the series loaded
        and stepped (the last observation on or before each day). A series that starts after
        ``first_day`` or ends more than :data:`STALE_DAYS` before ``last_day`` is a :class:`ConfigError`
        naming both ranges."""
        if not isinstance(rate, RateSeries):
            return cls(int(first_day), None, float(rate))
        values = load_rate_series(rate, field)
        obs = values.index.to_numpy().astype("datetime64[D]").astype(np.int64)
        if obs.size == 0 or obs[0] > first_day or obs[-1] < last_day - STALE_DAYS:
            have = f"{_date(obs[0])}..{_date(obs[-1])}" if obs.size else "no observations"
            raise ConfigError(
                f"{field}: rate series {rate.describe()} covers {have}, not the data's "
                f"{_date(first_day)}..{_date(last_day)} (it must start on or before the first date "
                f"and end at most {STALE_DAYS} days before the last)"
            )
        days = np.arange(int(first_day), int(last_day) + 1, dtype=np.int64)
        pos = np.searchsorted(obs, days, side="right") - 1
        return cls(int(first_day), np.ascontiguousarray(values.to_numpy()[pos], dtype=np.float64))

    @classmethod
    def over(cls, rate: Rate, day: Any, field: str) -> "RateCurve":
        """``rate`` over the span of the calendar day numbers ``day`` (an empty span needs no series)."""
        d = np.asarray(day)
        if d.size == 0:
            return cls(0, None, 0.0 if isinstance(rate, RateSeries) else float(rate))
        return cls.of(rate, int(d.min()), int(d.max()), field)

    @cached_property
    def _cum(self) -> np.ndarray:
        assert self.rate is not None
        return np.concatenate(([0.0], np.cumsum(self.rate)))

    def _index(self, day: Any) -> np.ndarray:
        i = np.asarray(day, dtype=np.int64) - self.first_day
        assert self.rate is not None
        if i.size and (i.min() < 0 or i.max() > self.rate.size):
            raise ValueError(
                f"rate curve covers days {self.first_day}..{self.first_day + self.rate.size}, "
                f"asked {int(np.asarray(day).min())}..{int(np.asarray(day).max())}"
            )
        return i

    def rate_days(self, day: Any) -> np.ndarray:
        """The cumulative accrual index ``A(day) = sum(rate[k] for k in first_day .. day-1)`` (rate x days):
        a position held from ``d0`` to ``d1`` accrues ``(A(d1) - A(d0)) / Y``."""
        if self.rate is None:
            return self.constant * (np.asarray(day, dtype=np.int64) - self.first_day).astype(np.float64)
        return self._cum[self._index(day)]

    def accrued(self, d0: Any, d1: Any) -> np.ndarray:
        """Simple accrual ``sum(rate[k] for k in d0 .. d1-1)`` per pair (rate x days; divide by ``Y``)."""
        if self.rate is None:
            return self.constant * (np.asarray(d1, dtype=np.int64) - np.asarray(d0, dtype=np.int64)).astype(np.float64)
        return self.rate_days(d1) - self.rate_days(d0)

    def accrued_seconds(self, s0: Any, s1: Any) -> np.ndarray:
        """Simple accrual between moments (int seconds since 1970-01-01 UTC) in rate x days: each
        calendar day's rate times the part of that day inside ``[s0, s1)`` (divide by ``Y``)."""
        a0, a1 = np.asarray(s0, dtype=np.int64), np.asarray(s1, dtype=np.int64)
        if self.rate is None:
            return self.constant * (a1 - a0).astype(np.float64) / 86_400
        return self._rate_days_at(a1) - self._rate_days_at(a0)

    def _rate_days_at(self, seconds: np.ndarray) -> np.ndarray:
        day, rest = np.divmod(seconds, 86_400)
        assert self.rate is not None
        i = self._index(day)
        if np.any((rest > 0) & (i >= self.rate.size)):
            raise ValueError(f"rate curve covers days {self.first_day}..{self.first_day + self.rate.size - 1} only")
        within = np.where(rest > 0, self.rate[np.minimum(i, self.rate.size - 1)], 0.0)
        return self._cum[i] + within * (rest / 86_400)

    def growth(self, day: Any, year: float) -> np.ndarray:
        """Daily-compounded growth of one unit held from ``first_day`` to ``day``:
        ``prod(1 + rate[k] / Y for k in first_day .. day-1)``."""
        d = np.asarray(day, dtype=np.int64)
        if self.rate is None:
            n = d - self.first_day
            if n.size == 0:
                return np.ones(0)
            lo, hi = int(n.min()), int(n.max())
            # one power per calendar day of the span, then a gather (a panel has far more rows than days)
            table = np.power(1.0 + self.constant / year, np.arange(lo, hi + 1, dtype=np.float64))
            return table[n - lo]
        g = np.concatenate(([1.0], np.cumprod(1.0 + self.rate / year)))
        return g[self._index(d)]

    def period_returns(self, day: Any, year: float) -> np.ndarray:
        """The return of one unit compounded daily between consecutive ``day`` values (the first is 0):
        the risk-free return of each period of an equity curve."""
        d = np.asarray(day, dtype=np.int64)
        if d.size == 0:
            return np.zeros(0)
        g = self.growth(d, year)
        out = np.zeros(d.size)
        out[1:] = g[1:] / g[:-1] - 1.0
        return out


def day_numbers(dates: Any) -> np.ndarray:
    """Calendar day numbers (days since 1970-01-01) of dates."""
    return np.asarray(dates, dtype="datetime64[D]").astype(np.int64)
