"""Turning a raw table (CSV / Parquet / download) into canonical columns, with file-naming errors.

Shared by every bundled source so column matching, the Adj Close fallback, date parsing and the
date-window filter behave the same whatever the input.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from qlop.api import (
    OHLCV_COLUMNS,
    BarSpec,
    DataError,
    parse_date_column,
    parse_timestamp_column,
    session_ids,
    validate_panel,
)

#: Normalised spelling (lower case, no spaces/underscores/dashes/dots) -> canonical column.
ALIASES: dict[str, str] = {
    "date": "date",
    "datetime": "date",
    "timestamp": "date",
    "open": "open",
    "high": "high",
    "low": "low",
    "close": "close",
    "adjclose": "adj_close",
    "adjustedclose": "adj_close",
    "volume": "volume",
    "ticker": "ticker",
    "symbol": "ticker",
}
REQUIRED = ("date", "open", "high", "low", "close", "volume")
CANONICAL = frozenset(("date", "ticker", *OHLCV_COLUMNS))


def _key(name: Any) -> str:
    return re.sub(r"[\s_\-.]", "", str(name)).lower()


def column_map(
    columns: list[Any],
    source: str,
    mapping: Mapping[str, str] | None = None,
    ticker_column: str = "ticker",
    need_ticker: bool = False,
) -> dict[Any, str]:
    """Which of ``columns`` becomes which QLOP column; a missing required column names ``source``.

    ``mapping`` (your name -> QLOP name) wins over the case-insensitive defaults. Unknown columns are
    left out. ``adj_close`` may be absent (it then equals ``close``).
    """
    mapping = {_key(k): v for k, v in (mapping or {}).items()}
    for target in mapping.values():
        if target not in CANONICAL:
            raise DataError(f"{source}: column mapping target {target!r} is not one of {', '.join(sorted(CANONICAL))}")
    ticker_key = _key(ticker_column)
    rename: dict[Any, str] = {}
    taken: dict[str, Any] = {}
    for col in columns:
        k = _key(col)
        target = mapping.get(k) or ("ticker" if k == ticker_key else ALIASES.get(k))
        if target is None:
            continue
        if target in taken:
            raise DataError(f"{source}: columns {taken[target]!r} and {col!r} both map to {target!r}")
        taken[target] = col
        rename[col] = target
    required = REQUIRED + (("ticker",) if need_ticker else ())
    missing = [c for c in required if c not in taken]
    if missing:
        pretty = {
            "date": "Date",
            "open": "Open",
            "high": "High",
            "low": "Low",
            "close": "Close",
            "volume": "Volume",
            "ticker": ticker_column,
        }
        found = ", ".join(map(str, columns)) or "none"
        raise DataError(f"{source}: missing required column {pretty[missing[0]]!r} (found: {found})")
    return rename


def canonical_columns(
    df: pd.DataFrame,
    source: str,
    mapping: Mapping[str, str] | None = None,
    ticker_column: str = "ticker",
    need_ticker: bool = False,
) -> pd.DataFrame:
    """Rename ``df``'s columns to QLOP's names (:func:`column_map`); a missing ``Adj Close`` equals ``Close``."""
    rename = column_map(list(df.columns), source, mapping, ticker_column, need_ticker)
    out = df[list(rename)].rename(columns=rename)
    if "adj_close" not in out.columns:
        out["adj_close"] = out["close"]
    return out


def to_panel(
    df: pd.DataFrame,
    source: str,
    ticker: str | None = None,
    date_format: str | None = None,
    start: Any = None,
    end: Any = None,
    bars: BarSpec | None = None,
    timezone: str | None = None,
) -> pd.DataFrame:
    """Parse dates and validate every row in the file's own order, then keep ``start..end``.

    Validating the whole input (not just the window) keeps row numbers in errors true to the file.
    Intraday ``bars`` keep whole timestamps (naive ones read in ``timezone``), checked against the
    session, and the window is by session date.
    """
    tickers = df["ticker"].astype(str).to_numpy(dtype=object) if ticker is None else ticker
    intraday = bars is not None and bars.intraday
    if intraday:
        utc = parse_timestamp_column(df["date"], source, tickers, date_format, timezone)
        frame = df.assign(date=pd.DatetimeIndex(utc.to_numpy()).tz_localize("UTC"))
    else:
        frame = df.assign(date=parse_date_column(df["date"], source, tickers, date_format))
    if ticker is not None:
        frame = frame.assign(ticker=ticker)
    panel = validate_panel(frame, source, bars=bars if intraday else None)
    if start is None and end is None:
        return panel
    if intraday:
        assert bars is not None
        return panel.loc[session_window_mask(panel.index.get_level_values("date"), bars.session or "24/7", start, end)]
    return panel.loc[window_mask(panel.index.get_level_values("date"), start, end)]


def session_window_mask(stamps: pd.Index, session: str, start: Any, end: Any) -> np.ndarray:
    """Intraday bars whose session is dated ``start .. end`` inclusive (``None`` = open ended)."""
    day = session_ids(stamps, session)
    mask = np.ones(len(stamps), dtype=bool)
    if start is not None:
        mask &= day >= (pd.Timestamp(start).normalize() - pd.Timestamp(0)).days
    if end is not None:
        mask &= day <= (pd.Timestamp(end).normalize() - pd.Timestamp(0)).days
    return mask


def window_mask(dates: pd.Series | pd.Index, start: Any, end: Any) -> np.ndarray:
    """Rows between ``start`` and ``end`` inclusive (``None`` = open ended)."""
    mask = np.ones(len(dates), dtype=bool)
    values = dates.to_numpy()
    if start is not None:
        mask &= values >= np.datetime64(pd.Timestamp(start).normalize(), "ns")
    if end is not None:
        mask &= values <= np.datetime64(pd.Timestamp(end).normalize(), "ns")
    return mask


def require_rows(panel: pd.DataFrame, tickers: list[str], source: str, start: Any, end: Any) -> None:
    """Every requested ticker must have bars in the window: never a silently empty result."""
    have = set(panel.index.unique("ticker")) if len(panel) else set()
    for t in tickers:
        if t not in have:
            window = f" between {_d(start, 'the start')} and {_d(end, 'the end')}" if (start or end) else ""
            raise DataError(f"{source}: ticker {t}: no rows{window}")


def _d(value: Any, missing: str) -> str:
    """A window bound for a message; ``missing`` names an open end ("the start", "the end")."""
    return missing if value is None else pd.Timestamp(value).strftime("%Y-%m-%d")


def concat_panels(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate validated per-ticker panels (already sorted within) into one sorted panel."""
    if not parts:
        return validate_panel(pd.DataFrame(columns=["ticker", "date", *OHLCV_COLUMNS]), "empty")
    panel = pd.concat(parts) if len(parts) > 1 else parts[0]
    if not panel.index.is_monotonic_increasing:
        panel = panel.sort_index(kind="stable")
    return panel
