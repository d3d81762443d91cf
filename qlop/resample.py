"""Coarser bars from finer ones (``[data] resample``), one session at a time.

A coarse bar collects the fine bars of one ticker that fall in the same bucket of the target
interval's grid; the grid is anchored at each session's open (:func:`qlop.sessions.bucket_starts`),
so no coarse bar ever spans a session break: XNYS hourly bars from 1-minute ones are 09:30-10:30, ...,
15:30-16:00, and the night, weekend and holiday gaps stay gaps. The bar is labelled by its bucket's
start, as every intraday bar is. ``1d`` builds one bar per session dated by the session (a daily
panel). open = first open, high = max, low = min, close and adj_close = last, volume = sum (NaN when
every fine bar's volume is missing). A bucket with missing fine bars is built from those present.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qlop.errors import DataError

if TYPE_CHECKING:
    import pandas as pd


def resample_panel(panel: "pd.DataFrame", interval: str) -> "pd.DataFrame":
    """``panel`` (an intraday panel, :func:`qlop.sessions.panel_bars` says its bars) as ``interval`` bars."""
    import numpy as np
    import pandas as pd

    from qlop.schema import INDEX_NAMES, OHLCV_COLUMNS
    from qlop.sessions import BarSpec, bucket_starts, interval_minutes, panel_bars, session_ids, set_panel_bars

    bars = panel_bars(panel)
    if not bars.intraday:
        raise DataError(f"resample {interval!r}: the panel is not intraday (interval {bars.interval!r})")
    src, dst = interval_minutes(bars.interval), interval_minutes(interval)
    if dst <= src or dst % src:
        raise DataError(f"resample {interval!r} is not a coarser multiple of the panel's interval {bars.interval!r}")
    session = bars.session or "24/7"
    n = len(panel)
    codes = np.asarray(panel.index.codes[0], dtype=np.int64)
    names = panel.index.levels[0]
    stamps = panel.index.get_level_values("date")
    daily = interval == "1d"
    key = session_ids(stamps, session) if daily else bucket_starts(stamps, session, interval)
    if n and (key < 0).any():
        i = int(np.flatnonzero(key < 0)[0])
        raise DataError(
            f"resample: ticker {names[codes[i]]}, date {stamps[i].isoformat()}: bar outside the {session} session"
        )
    new = np.r_[True, (codes[1:] != codes[:-1]) | (key[1:] != key[:-1])] if n else np.zeros(0, dtype=bool)
    starts = np.flatnonzero(new)
    last = np.r_[starts[1:], n] - 1
    v = {c: panel[c].to_numpy(dtype=np.float64) for c in OHLCV_COLUMNS}
    out: dict[str, np.ndarray] = {}
    if n:
        out["open"] = v["open"][starts]
        out["high"] = np.maximum.reduceat(v["high"], starts)
        out["low"] = np.minimum.reduceat(v["low"], starts)
        out["close"] = v["close"][last]
        out["adj_close"] = v["adj_close"][last]
        vol = v["volume"]
        seen = np.add.reduceat((~np.isnan(vol)).astype(np.int64), starts)
        total = np.add.reduceat(np.nan_to_num(vol, nan=0.0), starts)
        out["volume"] = np.where(seen > 0, total, np.nan)
    else:
        out = {c: np.zeros(0) for c in OHLCV_COLUMNS}
    new_codes = codes[starts]
    if daily:
        when = (key[starts].astype("datetime64[D]")).astype("datetime64[ns]")
        dcodes, duniq = pd.factorize(when, sort=True)
        level = pd.DatetimeIndex(duniq).astype("datetime64[ns]")
    else:
        dcodes, duniq = pd.factorize(key[starts], sort=True)
        level = pd.DatetimeIndex(np.asarray(duniq).astype("datetime64[ns]")).tz_localize("UTC")
    index = pd.MultiIndex(
        levels=[names, level], codes=[new_codes, dcodes], names=list(INDEX_NAMES), verify_integrity=False
    )
    result = pd.DataFrame({c: out[c] for c in OHLCV_COLUMNS}, index=index, copy=False)
    if daily:
        return result
    return set_panel_bars(result, BarSpec(interval, session, bars.timezone))
