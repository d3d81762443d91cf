"""The canonical frames every stage exchanges, and their checks.

OHLCV panel: a DataFrame indexed by (``ticker``, ``date``), sorted and unique, float64 columns
``open high low close adj_close volume``, dates tz-naive at day resolution. Features, labels and
predictions use the same index.
"""

from __future__ import annotations

INDEX_NAMES: tuple[str, str] = ("ticker", "date")
PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close", "adj_close")
OHLCV_COLUMNS: tuple[str, ...] = (*PRICE_COLUMNS, "volume")

from typing import TYPE_CHECKING, Any

from qlop.errors import DataError

if TYPE_CHECKING:  # pandas stays off the import path of modules that only need the constants
    import numpy as np
    import pandas as pd

#: Relative slack for the OHLC checks: absorbs float noise from adjustment factors, nothing more.
OHLC_RTOL = 1e-9


def _fmt_date(value: Any) -> str:
    try:
        import pandas as pd

        ts = pd.Timestamp(value)
        return ts.strftime("%Y-%m-%d") if ts == ts.normalize() else ts.isoformat()
    except (TypeError, ValueError):
        return repr(value)


def _where(source: str, ticker: Any = None, date: Any = None, column: str | None = None,
           row: int | None = None) -> str:
    parts = []
    if ticker is not None:
        parts.append(f"ticker {ticker}")
    if date is not None:
        parts.append(f"date {_fmt_date(date)}")
    if column is not None:
        parts.append(f"column {column}")
    if row is not None:
        parts.append(f"row {row}")
    return f"{source}: {', '.join(parts)}" if parts else source


def _more(n: int) -> str:
    return f" (and {n} more row{'s' if n != 1 else ''})" if n > 0 else ""


def _fail(source: str, mask: "np.ndarray", tickers: "np.ndarray", dates: "np.ndarray | None",
          column: str | None, what: str, rows: "np.ndarray | None" = None) -> None:
    """Raise one DataError naming the first offending row of ``mask`` (and how many more there are)."""
    import numpy as np

    hits = np.flatnonzero(mask)
    if not len(hits):
        return
    i = hits[0]
    row = int(rows[i]) + 1 if rows is not None else None
    date = dates[i] if dates is not None else None
    msg = what(i) if callable(what) else what
    raise DataError(f"{_where(source, tickers[i], date, column, row)}: {msg}{_more(len(hits) - 1)}")


def validate_panel(df: "pd.DataFrame", source: str = "panel") -> "pd.DataFrame":
    """Check ``df`` against the canonical OHLCV panel and return it in canonical form.

    ``df`` is indexed by (``ticker``, ``date``) or has those two columns, in the order the source
    read the rows: dates out of order are detected on that raw order, per ticker, before anything is
    sorted. Every problem raises :class:`DataError` with one line naming ``source`` (file or source
    name), ticker, date, column and the 1-based data row. The returned panel is sorted, unique,
    float64 ``open high low close adj_close volume`` (zero volume becomes NaN), dates tz-naive at
    midnight as datetime64[ns]. All checks are vectorised.
    """
    import numpy as np
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise DataError(f"{source}: expected a DataFrame, got {type(df).__name__}")
    frame = _flat(df, source)
    missing = [c for c in OHLCV_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"{source}: missing required column {missing[0]!r}"
                        + (f" (also {', '.join(map(repr, missing[1:]))})" if len(missing) > 1 else ""))
    n = len(frame)
    rows = np.arange(n)
    raw_tickers = frame["ticker"].to_numpy(dtype=object)
    bad_ticker = pd.isna(raw_tickers) | (pd.Series(raw_tickers, dtype=object).astype(str).str.strip() == "").to_numpy()
    _fail(source, bad_ticker, raw_tickers, None, "ticker", "missing ticker", rows)
    tickers = frame["ticker"].astype(str).to_numpy(dtype=object)

    dates = parse_date_column(frame["date"], source, tickers)

    # Order and duplicates, per ticker, on the raw row order (stable sort keeps it within a ticker).
    codes, _ = pd.factorize(tickers)
    order = np.lexsort((rows, codes)) if n else rows
    d_sorted = dates.to_numpy()[order].astype("int64")
    same = codes[order][1:] == codes[order][:-1]
    step = np.diff(d_sorted)
    dup = np.zeros(n, dtype=bool)
    back = np.zeros(n, dtype=bool)
    dup[order[1:][same & (step == 0)]] = True
    back[order[1:][same & (step < 0)]] = True
    dvals = dates.to_numpy()
    _fail(source, dup, tickers, dvals, "date", "duplicated date", rows)
    prev_of = np.empty(n, dtype="datetime64[ns]")
    if n > 1:
        prev_of[order[1:]] = dvals[order[:-1]]
    _fail(source, back, tickers, dvals, "date",
          lambda i: f"dates out of order (comes after {_fmt_date(prev_of[i])})", rows)

    values: dict[str, np.ndarray] = {}
    for col in OHLCV_COLUMNS:
        raw = frame[col]
        num = pd.to_numeric(raw, errors="coerce") if not pd.api.types.is_numeric_dtype(raw) else raw
        arr = np.asarray(num, dtype="float64")
        bad = np.isnan(arr) & ~pd.isna(raw).to_numpy()
        rawv = raw.to_numpy(dtype=object)
        _fail(source, bad, tickers, dvals, col, lambda i, r=rawv: f"not a number: {r[i]!r}", rows)
        values[col] = arr
    for col in PRICE_COLUMNS:
        arr = values[col]
        _fail(source, np.isnan(arr), tickers, dvals, col, "missing price", rows)
        _fail(source, ~np.isfinite(arr), tickers, dvals, col, lambda i, a=arr: f"non-finite price {a[i]}", rows)
        _fail(source, arr <= 0, tickers, dvals, col, lambda i, a=arr: f"non-positive price {a[i]:g}", rows)
    o, h, lo, c = values["open"], values["high"], values["low"], values["close"]
    top, bottom = np.maximum(o, c), np.minimum(o, c)
    _fail(source, h < top * (1 - OHLC_RTOL), tickers, dvals, "high",
          lambda i: f"high {h[i]:g} is below max(open, close) {top[i]:g}", rows)
    _fail(source, lo > bottom * (1 + OHLC_RTOL), tickers, dvals, "low",
          lambda i: f"low {lo[i]:g} is above min(open, close) {bottom[i]:g}", rows)
    vol = values["volume"]
    _fail(source, ~np.isnan(vol) & ~np.isfinite(vol), tickers, dvals, "volume", "non-finite volume", rows)
    _fail(source, vol < 0, tickers, dvals, "volume", lambda i: f"negative volume {vol[i]:g}", rows)
    vol = np.where(vol == 0, np.nan, vol)
    values["volume"] = vol

    index = pd.MultiIndex.from_arrays([pd.Index(tickers, dtype="str"), pd.DatetimeIndex(dvals)],
                                      names=list(INDEX_NAMES))
    out = pd.DataFrame({c: values[c] for c in OHLCV_COLUMNS}, index=index)
    if n:
        out = out.iloc[order]
    return out


def _flat(df: "pd.DataFrame", source: str) -> "pd.DataFrame":
    """``df`` with ``ticker`` and ``date`` as plain columns (from the index or the columns)."""
    names = [n for n in df.index.names if n is not None]
    if set(INDEX_NAMES) <= set(names):
        return df.reset_index()
    if set(INDEX_NAMES) <= set(df.columns):
        return df.reset_index(drop=True)
    have = set(names) | set(df.columns)
    for name in INDEX_NAMES:
        if name not in have:
            raise DataError(f"{source}: missing required column {name!r} (the panel is indexed by ticker, date)")
    raise DataError(f"{source}: expected a (ticker, date) index")  # pragma: no cover - covered above


def parse_date_column(raw: "pd.Series", source: str, tickers: "np.ndarray | str | None" = None,
                      fmt: str | None = None, rows: "np.ndarray | None" = None) -> "pd.Series":
    """Dates as tz-naive datetime64[ns] at midnight; an unparsable date names its ticker and row.

    ``fmt`` is a strftime format for text dates (default ISO 8601). tz-aware values keep their local
    wall-clock date (a daily bar's date is the exchange's date).
    """
    import numpy as np
    import pandas as pd

    if isinstance(raw.dtype, pd.DatetimeTZDtype):
        parsed = raw.dt.tz_localize(None)
    elif pd.api.types.is_datetime64_any_dtype(raw):
        parsed = raw
    else:
        parsed = parse_dates(raw, fmt)
    bad = pd.isna(parsed).to_numpy()
    if bad.any():
        if tickers is None or isinstance(tickers, str):
            tickers = np.full(len(raw), tickers, dtype=object)
        rawv = raw.to_numpy(dtype=object)
        hint = f" (expected format {fmt})" if fmt else " (expected YYYY-MM-DD; set date_format for others)"
        _fail(source, bad, tickers, None, "date",
              lambda i: "missing date" if pd.isna(rawv[i]) else f"unparsable date {rawv[i]!r}{hint}",
              np.arange(len(raw)) if rows is None else rows)
    return pd.Series(pd.DatetimeIndex(parsed).normalize().astype("datetime64[ns]"), index=raw.index)


def parse_dates(raw: "pd.Series", fmt: str | None = None) -> "pd.Series":
    """Parse date strings (``fmt`` for strftime formats; default ISO 8601); unparsable -> NaT.

    tz-aware values are converted to tz-naive wall-clock dates (a daily bar's date is its local date).
    """
    import pandas as pd

    if fmt:
        parsed = pd.to_datetime(raw, format=fmt, errors="coerce")
    else:
        parsed = pd.to_datetime(raw, format="ISO8601", errors="coerce", utc=False)
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        parsed = parsed.dt.tz_localize(None)
    return parsed
