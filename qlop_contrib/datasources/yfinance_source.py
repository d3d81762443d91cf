"""``yfinance``: a thin adapter over ``yfinance.download``.

The adapter calls the ``download`` function it is handed (default ``yfinance.download``, imported on
first use), so it can be tested offline with a fake returning yfinance-shaped frames. yfinance does
not raise when a download fails: it returns an empty frame or leaves a ticker out, so both are
turned into errors naming the ticker here, never a silently empty panel.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from qlop.api import BaseDataSourcePlugin, DataError
from qlop_contrib.datasources._tabular import canonical_columns, concat_panels, require_rows, to_panel
from qlop_contrib.datasources.params import YFinanceParams

#: Intervals Yahoo serves that QLOP reads: intraday bars (UTC timestamps) and bars by date.
YF_INTERVALS = ("1m", "5m", "15m", "30m", "1h", "1d", "5d", "1wk", "1mo", "3mo")
PRICE_FIELDS = ("Open", "High", "Low", "Close", "Adj Close", "Volume")
#: Yahoo's intraday history limits: (oldest day back from today, longest window) per interval.
YAHOO_LIMITS: dict[str, tuple[int, int | None]] = {
    "1m": (30, 7),
    "5m": (60, None),
    "15m": (60, None),
    "30m": (60, None),
    "1h": (730, None),
}


def check_yahoo_window(interval: str, start: Any, end: Any, today: dt.date) -> None:
    """Refuse, in one line and before any request, a window Yahoo does not serve at ``interval``:
    1-minute bars only for the last 30 days and 7 days per request, other minute bars for the last
    60 days, hourly bars for the last 730 days (Yahoo answers such requests with nothing)."""
    if interval == "4h":
        raise DataError('yfinance: Yahoo has no 4h bars; load interval = "1h" and set resample = "4h"')
    limit = YAHOO_LIMITS.get(interval)
    if limit is None:
        return
    back, longest = limit
    oldest = today - dt.timedelta(days=back)
    if start is None:
        raise DataError(
            f"yfinance: interval {interval!r} needs data.start_date (Yahoo keeps {interval} bars for the last "
            f"{back} days only: {oldest} or later)"
        )
    first = pd.Timestamp(start).date()
    last = pd.Timestamp(end).date() if end is not None else today
    if first < oldest:
        raise DataError(
            f"yfinance: start_date {first} is too old for {interval} bars: Yahoo keeps them for the last {back} "
            f"days only ({oldest} or later)"
        )
    if longest is not None and (last - first).days + 1 > longest:
        raise DataError(
            f"yfinance: {first} .. {last} is {(last - first).days + 1} days: Yahoo serves {interval} bars "
            f"{longest} days per request at most (narrow start_date .. end_date)"
        )


def yfinance_download(cache_dir: str | Path) -> Callable[..., Any]:
    """``yfinance.download`` with yfinance's sqlite caches moved under ``cache_dir``."""
    import yfinance as yf

    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    yf.set_tz_cache_location(str(cache))
    return yf.download


class YFinanceSource(BaseDataSourcePlugin):
    """Daily, weekly, monthly or intraday (1m .. 1h) bars from Yahoo Finance; needs network."""

    params_model = YFinanceParams
    _bars: Any = None  # the intraday bars of the load in progress (None: by date)

    def __init__(self, name: str, params: Any = None, download: Callable[..., Any] | None = None) -> None:
        super().__init__(name, params)
        self._download = download

    def download_fn(self) -> Callable[..., Any]:
        if self._download is None:
            from qlop.api import cache_dir

            self._download = yfinance_download(self.params.cache_dir or cache_dir() / "yfinance")
        return self._download

    def load_data(
        self, tickers: list[str] | None, start_date: Any = None, end_date: Any = None, interval: str = "1d"
    ) -> pd.DataFrame:
        from qlop.api import is_intraday, requested_bars, require_daily, ticker_progress

        if interval == "4h":
            check_yahoo_window(interval, start_date, end_date, self.today())
        require_daily(interval, "yfinance", YF_INTERVALS)
        if not tickers:
            raise DataError('yfinance: no tickers given (set data.tickers, e.g. ["AAPL", "^GSPC"])')
        self._bars = requested_bars(interval) if is_intraday(interval) else None
        if self._bars is not None:
            check_yahoo_window(interval, start_date, end_date, self.today())
        tickers = list(tickers)
        p = self.params
        # yfinance's end is exclusive; QLOP's end_date is inclusive.
        end = pd.Timestamp(end_date).normalize() + pd.Timedelta(days=1) if end_date is not None else None
        start = pd.Timestamp(start_date).normalize() if start_date is not None else None
        kwargs: dict[str, Any] = dict(
            tickers=tickers,
            start=_day(start),
            end=_day(end),
            interval=interval,
            auto_adjust=p.auto_adjust,
            repair=p.repair,
            threads=p.threads,
            timeout=p.timeout,
            group_by="column",
            actions=False,
            progress=False,
            multi_level_index=True,
        )
        if start is None and end is None:
            kwargs["period"] = "max"
        if self._bars is not None:
            kwargs["ignore_tz"] = False  # keep each bar's time zone: QLOP stores intraday bars in UTC
        with ticker_progress(len(tickers)) as progress:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", module=r"yfinance.*")
                frame = self.download_fn()(**kwargs)
            if frame is None or len(frame) == 0:
                raise DataError(
                    f"yfinance: no data for {', '.join(tickers)} (offline, a wrong symbol, or "
                    f"nothing between the dates)"
                )
            parts = []
            for t in tickers:
                parts.append(self._one(frame, t, tickers, start_date, end_date))
                progress.advance(message=t)
        panel = concat_panels(parts)
        require_rows(panel, tickers, "yfinance", start_date, end_date)
        return panel

    def _one(self, frame: pd.DataFrame, ticker: str, tickers: list[str], start: Any, end: Any) -> pd.DataFrame:
        source = f"yfinance {ticker}"
        sub = ticker_frame(frame, ticker, single=len(tickers) == 1)
        prices = [c for c in sub.columns if str(c) in PRICE_FIELDS and str(c) != "Volume"]
        sub = sub.loc[sub[prices].notna().any(axis=1)] if prices else sub
        if not len(sub):
            raise DataError(
                f"yfinance: ticker {ticker}: no data (delisted, a wrong symbol, or nothing between the dates)"
            )
        sub = sub.rename_axis("Date").reset_index()
        cols = canonical_columns(sub, source)
        if not self.params.auto_adjust and "Adj Close" not in sub.columns:
            raise DataError(f"{source}: missing column 'Adj Close' (auto_adjust = false)")
        return to_panel(cols, source, ticker=ticker, start=start, end=end, bars=self._bars)

    @staticmethod
    def today() -> dt.date:
        """Today, for Yahoo's intraday history limits (tests replace it)."""
        return dt.date.today()

    def back_adjusted(self, tickers: list[str]) -> bool:
        """Always: OHLC are adjusted with ``auto_adjust`` (the default), ``adj_close`` is either way."""
        return True

    def cache_token(self) -> str:
        """Today's date: Yahoo revises adjusted history with every dividend, so a cached download
        is reused for the rest of the day only (``--refresh`` forces a new one)."""
        return dt.date.today().isoformat()


def ticker_frame(frame: pd.DataFrame, ticker: str, single: bool = False) -> pd.DataFrame:
    """One ticker's single-level frame out of yfinance's (Price, Ticker) columns."""
    if isinstance(frame.columns, pd.MultiIndex):
        names = list(frame.columns.names)
        level = names.index("Ticker") if "Ticker" in names else _ticker_level(frame)
        if ticker not in frame.columns.get_level_values(level):
            raise DataError(f"yfinance: ticker {ticker}: missing from the download")
        return frame.xs(ticker, axis=1, level=level)
    if single:
        return frame
    raise DataError(f"yfinance: ticker {ticker}: the download has no per-ticker columns")


def _ticker_level(frame: pd.DataFrame) -> int:
    """The column level that is not the price field (yfinance's group_by='ticker' swaps them)."""
    first = set(map(str, frame.columns.get_level_values(0)))
    return 1 if first & set(PRICE_FIELDS) else 0


def _day(value: pd.Timestamp | None) -> str | None:
    return value.strftime("%Y-%m-%d") if value is not None else None
