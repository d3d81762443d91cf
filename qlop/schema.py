"""The canonical frames every stage exchanges, and their checks.

OHLCV panel: a DataFrame indexed by (``ticker``, ``date``), sorted and unique, float64 columns
``open high low close adj_close volume``. A daily panel's dates are tz-naive at day resolution; an
intraday panel's ``date`` level holds tz-aware UTC bar starts (``datetime64[ns, UTC]``) and its
``attrs`` say its interval, session and the session's time zone (:mod:`qlop.sessions`). Features,
labels and predictions use the same index.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qlop.errors import DataError

if TYPE_CHECKING:  # pandas stays off the import path of modules that only need the constants
    import numpy as np
    import pandas as pd

    from qlop.sessions import BarSpec

INDEX_NAMES: tuple[str, str] = ("ticker", "date")
PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close", "adj_close")
OHLCV_COLUMNS: tuple[str, ...] = (*PRICE_COLUMNS, "volume")

#: Relative slack for the OHLC checks: absorbs float noise from adjustment factors, nothing more.
OHLC_RTOL = 1e-9


def _fmt_date(value: Any) -> str:
    try:
        import pandas as pd

        ts = pd.Timestamp(value)
        return ts.strftime("%Y-%m-%d") if ts == ts.normalize() else ts.isoformat()
    except (TypeError, ValueError):
        return repr(value)


def _where(source: str, ticker: Any = None, date: Any = None, column: str | None = None, row: int | None = None) -> str:
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


def _fail(
    source: str,
    mask: "np.ndarray",
    tickers: "np.ndarray",
    dates: "np.ndarray | None",
    column: str | None,
    what: str,
    rows: "np.ndarray | None" = None,
) -> None:
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


def validate_panel(
    df: "pd.DataFrame", source: str = "panel", bars: "BarSpec | None" = None, timezone: str | None = None
) -> "pd.DataFrame":
    """Check ``df`` against the canonical OHLCV panel and return it in canonical form.

    ``df`` is indexed by (``ticker``, ``date``) or has those two columns, in the order the source
    read the rows: dates out of order are detected on that raw order, per ticker, before anything is
    sorted. Every problem raises :class:`DataError` with one line naming ``source`` (file or source
    name), ticker, date, column and the 1-based data row. The returned panel is sorted, unique,
    float64 ``open high low close adj_close volume`` (zero volume becomes NaN), dates tz-naive at
    midnight as datetime64[ns]. All checks are vectorised; ticker names are handled as codes.

    ``bars`` (default: what ``df.attrs`` says, else daily) with an intraday interval keeps whole
    timestamps instead: tz-aware values are converted to UTC, naive ones are read in ``timezone``
    (without it they are an error), and each bar must start inside a session of ``bars.session`` and
    on the interval's grid. The result's ``date`` level is ``datetime64[ns, UTC]`` and its ``attrs``
    record ``bars`` (:func:`qlop.sessions.panel_bars`).
    """
    import numpy as np
    import pandas as pd

    from qlop.sessions import ALWAYS_OPEN, BarSpec, panel_bars, set_panel_bars

    if bars is None:
        bars = panel_bars(df) if isinstance(df, pd.DataFrame) else BarSpec()
    if bars.intraday and bars.session is None:
        bars = BarSpec(bars.interval, ALWAYS_OPEN, bars.timezone)

    if not isinstance(df, pd.DataFrame):
        raise DataError(f"{source}: expected a DataFrame, got {type(df).__name__}")
    missing = [c for c in OHLCV_COLUMNS if c not in df.columns]
    codes, names, raw_dates = _keys(df, source)
    if missing:
        raise DataError(
            f"{source}: missing required column {missing[0]!r}"
            + (f" (also {', '.join(map(repr, missing[1:]))})" if len(missing) > 1 else "")
        )
    n = len(df)
    rows = np.arange(n)
    tickers = _Lookup(codes, names)
    _fail(source, codes < 0, tickers, None, "ticker", "missing ticker", rows)

    if bars.intraday:
        dates = parse_timestamp_column(raw_dates, source, tickers, timezone=timezone).to_numpy()
    else:
        dates = parse_date_column(raw_dates, source, tickers).to_numpy()
    dint = dates.view("int64")
    # what messages show: intraday bars as UTC timestamps with their offset
    shown = pd.DatetimeIndex(dates).tz_localize("UTC") if bars.intraday else dates

    # Order and duplicates per ticker, on the raw row order (a stable sort keeps it within a ticker).
    grouped = n < 2 or bool(np.all(codes[1:] >= codes[:-1]))
    order = rows if grouped else np.lexsort((rows, codes))
    if n > 1:
        oc, od = codes[order], dint[order]
        same = oc[1:] == oc[:-1]
        step = od[1:] - od[:-1]
        dup = np.zeros(n, dtype=bool)
        back = np.zeros(n, dtype=bool)
        dup[order[1:][same & (step == 0)]] = True
        back[order[1:][same & (step < 0)]] = True
        _fail(source, dup, tickers, shown, "date", "duplicated date", rows)
        prev_of = np.zeros(n, dtype=np.int64)
        prev_of[order[1:]] = order[:-1]
        _fail(
            source,
            back,
            tickers,
            shown,
            "date",
            lambda i: f"dates out of order (comes after {_fmt_date(shown[prev_of[i]])})",
            rows,
        )

    values: dict[str, np.ndarray] = {}
    for col in OHLCV_COLUMNS:
        raw = df[col]
        if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
            arr = np.asarray(raw, dtype="float64")
        else:
            arr = np.asarray(pd.to_numeric(raw, errors="coerce"), dtype="float64")
            rawv = raw.to_numpy(dtype=object)
            _fail(
                source,
                np.isnan(arr) & ~pd.isna(rawv),
                tickers,
                shown,
                col,
                lambda i, r=rawv: f"not a number: {r[i]!r}",
                rows,
            )
        values[col] = arr
    for col in PRICE_COLUMNS:
        arr = values[col]
        _fail(source, np.isnan(arr), tickers, shown, col, "missing price", rows)
        _fail(source, np.isinf(arr), tickers, shown, col, lambda i, a=arr: f"non-finite price {a[i]}", rows)
        _fail(source, arr <= 0, tickers, shown, col, lambda i, a=arr: f"non-positive price {a[i]:g}", rows)
    o, h, lo, c = values["open"], values["high"], values["low"], values["close"]
    top, bottom = np.maximum(o, c), np.minimum(o, c)
    _fail(
        source,
        h < top * (1 - OHLC_RTOL),
        tickers,
        shown,
        "high",
        lambda i: f"high {h[i]:g} is below max(open, close) {top[i]:g}",
        rows,
    )
    _fail(
        source,
        lo > bottom * (1 + OHLC_RTOL),
        tickers,
        shown,
        "low",
        lambda i: f"low {lo[i]:g} is above min(open, close) {bottom[i]:g}",
        rows,
    )
    vol = values["volume"]
    _fail(source, np.isinf(vol), tickers, shown, "volume", "non-finite volume", rows)
    _fail(source, vol < 0, tickers, shown, "volume", lambda i: f"negative volume {vol[i]:g}", rows)
    values["volume"] = np.where(vol == 0, np.nan, vol)
    if not bars.intraday:
        return _assemble(values, codes, names, dates, None if grouped else order)
    _check_sessions(source, bars, dint, tickers, rows)
    panel = _assemble(values, codes, names, dates, None if grouped else order, utc=True)
    return set_panel_bars(panel, bars)


def _check_sessions(source: str, bars: "BarSpec", dint: "np.ndarray", tickers: Any, rows: "np.ndarray") -> None:
    """Every intraday bar starts inside a session and on the interval's grid (anchored at the open)."""
    import pandas as pd

    from qlop.sessions import off_grid, session_index, session_timezone

    session = bars.session or "24/7"
    where, _ = session_index(dint, session)
    shown = pd.DatetimeIndex(dint.astype("datetime64[ns]")).tz_localize("UTC")
    tz = session_timezone(session)
    _fail(
        source,
        where < 0,
        tickers,
        shown,
        "date",
        lambda i: (
            f"bar at {shown[i].tz_convert(tz).strftime('%Y-%m-%d %H:%M')} {tz} is outside the "
            f"{session} session (a holiday, the night or a break)"
        ),
        rows,
    )
    _fail(
        source,
        off_grid(dint, session, bars.interval),
        tickers,
        shown,
        "date",
        lambda i: (
            f"bar is not on the {bars.interval} grid of the {session} session "
            f"(bars start at the session open plus multiples of {bars.interval})"
        ),
        rows,
    )


class _Lookup:
    """Ticker name of row ``i`` without materialising one string per row."""

    def __init__(self, codes: "np.ndarray", names: list[str]) -> None:
        self.codes, self.names = codes, names

    def __getitem__(self, i: int) -> Any:
        code = self.codes[i]
        return None if code < 0 else self.names[code]

    def __len__(self) -> int:
        return len(self.codes)


def _keys(df: "pd.DataFrame", source: str) -> tuple["np.ndarray", list[str], "pd.Series"]:
    """(ticker codes into sorted names, sorted names, raw date values) from index levels or columns."""
    import numpy as np
    import pandas as pd

    index_names = list(df.index.names)
    if isinstance(df.index, pd.MultiIndex) and set(INDEX_NAMES) <= set(index_names):
        pos = index_names.index("ticker")
        codes = np.asarray(df.index.codes[pos], dtype=np.int64)
        names_raw = np.asarray(df.index.levels[pos], dtype=object)
        raw_dates = pd.Series(df.index.get_level_values("date"))
    elif set(INDEX_NAMES) <= set(df.columns):
        factor, uniques = pd.factorize(df["ticker"].to_numpy(dtype=object), use_na_sentinel=True)
        codes = np.asarray(factor, dtype=np.int64)
        names_raw = np.asarray(uniques, dtype=object)
        raw_dates = df["date"].reset_index(drop=True)
    else:
        have = {str(n) for n in index_names if n} | {str(c) for c in df.columns}
        name = next((n for n in INDEX_NAMES if n not in have), "ticker")
        raise DataError(f"{source}: missing required column {name!r} (the panel is indexed by ticker, date)")
    # Ticker names are non-empty text; the level is kept sorted so that codes order like names.
    text = [None if pd.isna(v) else str(v).strip() for v in names_raw]
    valid = np.array([bool(t) for t in text], dtype=bool)
    uniq, inverse = np.unique(np.array([t for t in text if t], dtype=object).astype(str), return_inverse=True)
    remap = np.full(len(text), -1, dtype=np.int64)
    remap[valid] = inverse
    codes = np.where(codes >= 0, remap[np.maximum(codes, 0)], -1) if len(text) else codes
    return codes, [str(u) for u in uniq], raw_dates


def _assemble(
    values: dict[str, "np.ndarray"],
    codes: "np.ndarray",
    names: list[str],
    dates: "np.ndarray",
    order: "np.ndarray | None",
    utc: bool = False,
) -> "pd.DataFrame":
    """The canonical frame, sorted by (ticker, date), built from codes (no per-row strings)."""
    import numpy as np
    import pandas as pd

    if order is not None:
        codes, dates = codes[order], dates[order]
        values = {k: v[order] for k, v in values.items()}
    dcodes, duniq = pd.factorize(dates, sort=True)
    level = pd.DatetimeIndex(duniq).astype("datetime64[ns]")
    if utc:
        level = level.tz_localize("UTC")
    index = pd.MultiIndex(
        levels=[pd.Index(names, dtype="str"), level],
        codes=[codes, dcodes],
        names=list(INDEX_NAMES),
        verify_integrity=False,
    )
    return pd.DataFrame({c: np.ascontiguousarray(values[c]) for c in OHLCV_COLUMNS}, index=index, copy=False)


def parse_date_column(
    raw: "pd.Series",
    source: str,
    tickers: "np.ndarray | str | None" = None,
    fmt: str | None = None,
    rows: "np.ndarray | None" = None,
) -> "pd.Series":
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
        _fail(
            source,
            bad,
            tickers,
            None,
            "date",
            lambda i: "missing date" if pd.isna(rawv[i]) else f"unparsable date {rawv[i]!r}{hint}",
            np.arange(len(raw)) if rows is None else rows,
        )
    # Floor to the day in numpy (DatetimeIndex.normalize would also infer a frequency: slow).
    days = np.asarray(parsed.to_numpy(dtype="datetime64[ns]")).astype("datetime64[D]").astype("datetime64[ns]")
    return pd.Series(days, index=raw.index)


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


def parse_timestamp_column(
    raw: "pd.Series",
    source: str,
    tickers: "np.ndarray | str | None" = None,
    fmt: str | None = None,
    timezone: str | None = None,
    rows: "np.ndarray | None" = None,
) -> "pd.Series":
    """Intraday bar timestamps as tz-naive datetime64[ns] **in UTC** (the caller tags them UTC).

    tz-aware values (or text with an offset, ``2024-07-02T09:30:00-04:00``) are converted to UTC;
    naive ones are read as wall-clock times in ``timezone`` (an IANA name such as
    ``America/New_York``, or ``UTC``); naive values without ``timezone`` are an error naming the row,
    since guessing a zone would shift every bar. An unparsable value names its ticker and row.
    """
    import numpy as np
    import pandas as pd

    if tickers is None or isinstance(tickers, str):
        tickers = np.full(len(raw), tickers, dtype=object)
    rows = np.arange(len(raw)) if rows is None else rows
    if isinstance(raw.dtype, pd.DatetimeTZDtype):
        parsed = raw
    elif pd.api.types.is_datetime64_any_dtype(raw):
        parsed = raw
    else:
        text = raw.astype("str") if raw.dtype == object else raw
        try:
            parsed = (
                pd.to_datetime(text, format=fmt, errors="coerce", utc=False)
                if fmt
                else pd.to_datetime(text, format="ISO8601", errors="coerce", utc=False)
            )
        except (ValueError, TypeError):  # mixed offsets: parse each to UTC
            parsed = pd.to_datetime(text, format=fmt or "ISO8601", errors="coerce", utc=True)
        if parsed.dtype == object:
            parsed = pd.to_datetime(text, format=fmt or "ISO8601", errors="coerce", utc=True)
    bad = pd.isna(parsed).to_numpy()
    if bad.any():
        rawv = raw.to_numpy(dtype=object)
        hint = f" (expected format {fmt})" if fmt else " (expected ISO 8601, e.g. 2024-07-02T13:30:00Z)"
        _fail(
            source,
            bad,
            tickers,
            None,
            "date",
            lambda i: "missing timestamp" if pd.isna(rawv[i]) else f"unparsable timestamp {rawv[i]!r}{hint}",
            rows,
        )
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    elif timezone:
        try:
            parsed = parsed.dt.tz_localize(timezone, ambiguous="raise", nonexistent="raise")
        except Exception as exc:  # unknown zone, or a wall-clock time a DST change skips or repeats
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise DataError(
                f"{source}: column date: cannot read naive timestamps in time zone {timezone!r} ({first})"
            ) from None
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    else:
        rawv = raw.to_numpy(dtype=object)
        _fail(
            source,
            np.ones(len(raw), dtype=bool),
            tickers,
            None,
            "date",
            lambda i: (
                f"timestamp {str(rawv[i])!r} has no time zone; give one in the data or set "
                'data_source_params.timezone (e.g. "UTC" or "America/New_York")'
            ),
            rows,
        )
    return pd.Series(np.asarray(parsed.to_numpy(dtype="datetime64[ns]")), index=raw.index)
