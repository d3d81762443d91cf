"""How many bars a year the data has, and how long a span of bars lasts, read from its own dates.

Annualising (Sharpe, volatility, alpha, a feature's volatility) needs the number of bars in a year:
252 for a US stock calendar, 365 for a 7-day one (crypto), 52 for weekly bars. QLOP infers it from
the dates instead of assuming it:

* :func:`periods_per_year`: the median count of bars per calendar year over the years the data
  covers in full; data without a full calendar year gives its bars scaled to a year of its span;
* :func:`trailing_periods_per_year`: the same idea causally, row by row, for features: the bars of
  the ticker in the 365 days up to the row, or, in its first year, its bar rate so far;
* :func:`calendar_years`: the span of an equity curve in years of 365.25 days, CAGR's denominator.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Days in a calendar year on average (leap years included).
DAYS_PER_YEAR = 365.25


def day_numbers(dates: Any) -> np.ndarray:
    """Calendar day numbers (days since 1970-01-01) of dates or of day numbers already."""
    d = np.asarray(dates)
    if d.dtype.kind == "M":
        return d.astype("datetime64[D]").astype(np.int64)
    return d.astype(np.int64)


def bar_spacing(days: np.ndarray) -> float:
    """The median number of calendar days between consecutive (distinct) dates; 1 for fewer than two."""
    d = np.unique(days)
    return float(np.median(np.diff(d))) if d.size > 1 else 1.0


def calendar_years(dates: Any) -> float:
    """The calendar span of bars at ``dates`` in years: first to last date plus one bar spacing (the
    period the first bar's return covers), over 365.25 days. NaN without dates."""
    d = np.unique(day_numbers(dates))
    if d.size == 0:
        return float("nan")
    return float(d[-1] - d[0] + bar_spacing(d)) / DAYS_PER_YEAR


def periods_per_year(dates: Any) -> float:
    """Bars per year of the calendar at ``dates`` (distinct dates): the median of the bar counts of
    the calendar years the data covers in full (its first date no later than 7 January, its last no
    earlier than 24 December: no market closes for a week); with no such year, the bars over
    :func:`calendar_years`. NaN without dates."""
    d = np.unique(day_numbers(dates))
    if d.size == 0:
        return float("nan")
    year_of = d.astype("datetime64[D]").astype("datetime64[Y]")
    years = np.unique(year_of)
    jan7 = (years.astype("datetime64[D]") + 6).astype(np.int64)
    dec24 = ((years + 1).astype("datetime64[D]") - 8).astype(np.int64)
    full = years[(d[0] <= jan7) & (d[-1] >= dec24)]
    if full.size:
        counts = np.array([np.count_nonzero(year_of == y) for y in full])
        return float(np.median(counts))
    return float(d.size / calendar_years(d))


def trailing_periods_per_year(dates: Any, seg_start: np.ndarray) -> np.ndarray:
    """Per row, bars per year of its ticker's calendar known at that row: the ticker's bars in the
    365 days ending on the row's date when its history spans a year, else its bars so far over the
    days since its first bar, times 365 (so a 7-day calendar reads 365 from its second bar on; a
    business-day one about 260 in its first weeks, 252 after a year). NaN on a ticker's first row.
    Rows are grouped by ticker in date order; ``seg_start`` is each row's ticker's first row.
    Causal: a row's value depends on its own and earlier dates only."""
    d = day_numbers(dates)
    n = d.size
    if n == 0:
        return np.zeros(0)
    rows = np.arange(n, dtype=np.int64)
    start = np.asarray(seg_start, dtype=np.int64)
    # the first row of the ticker within the last 365 days: a sorted search per ticker, done on a key
    # that keeps tickers apart (ticker start * big + day)
    big = int(d.max() - d.min()) + 1000
    key = start * big + (d - d.min())
    first_in_year = np.searchsorted(key, key - 364, side="left")
    first_in_year = np.maximum(first_in_year, start)
    span = d - d[start]
    bars_so_far = rows - start + 1
    mature = span >= 365
    out = np.full(n, np.nan)
    out[mature] = (rows - first_in_year + 1)[mature]
    young = ~mature & (span > 0)
    out[young] = (bars_so_far[young] - 1) * 365.0 / span[young]
    return out
