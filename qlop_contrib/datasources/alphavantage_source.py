"""``alphavantage``: daily bars from Alpha Vantage's TIME_SERIES_DAILY_ADJUSTED (full history), over requests.

One GET per ticker through the ``requests.Session`` the source is handed (default: a new one), so tests
run offline against recorded answers. The API key is read from the environment variable named by
``api_key_env`` and is never written anywhere; error messages never contain it.

Adjustment, to the sample's convention (``qlop_contrib/data/ohlcv/PROVENANCE.md``): the service gives
raw OHLC and volume plus an adjusted close that accounts for splits and dividends. With the factor
``f = adjusted close / close`` of each day, QLOP returns ``open, high, low, close = raw x f``,
``adj_close = close`` and ``volume = raw volume / f``: back-adjusted prices whose returns include the
dividends, and a volume in adjusted shares so price x volume (dollar volume) stays what it was.

What the service answers besides data:
- a ``Note`` or ``Information`` (rate limits: calls per minute or per day) -> retried with backoff
  (``backoff_seconds``, doubling), as are HTTP 429 / 5xx, network errors and a body that is not JSON;
  after ``max_retries`` one error line naming the ticker and quoting the service;
- an ``Information`` about a premium endpoint -> that error at once (waiting does not help);
- an ``Error Message`` (an unknown symbol, an invalid key) -> that error at once;
- an empty or malformed time series -> an error naming the ticker (and the day and field).
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable
from typing import Any

import pandas as pd

from qlop.api import BaseDataSourcePlugin, ConfigError, DataError, require_daily, ticker_progress
from qlop_contrib.datasources._tabular import concat_panels, require_rows, to_panel
from qlop_contrib.datasources.params import AlphaVantageParams

FUNCTION = "TIME_SERIES_DAILY_ADJUSTED"
SERIES_KEY = "Time Series (Daily)"
FIELDS = {
    "open": "1. open",
    "high": "2. high",
    "low": "3. low",
    "close": "4. close",
    "adjusted": "5. adjusted close",
    "volume": "6. volume",
}
#: HTTP statuses worth retrying (throttling and server trouble); other non-200 answers fail at once.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class _Retry(Exception):
    """A transient failure of one request; the message says what happened."""


class AlphaVantageSource(BaseDataSourcePlugin):
    """Split- and dividend-adjusted daily bars from Alpha Vantage; needs network and an API key."""

    params_model = AlphaVantageParams

    def __init__(
        self, name: str, params: Any = None, session: Any = None, sleep: Callable[[float], None] | None = None
    ) -> None:
        super().__init__(name, params)
        self._session = session
        self._sleep = sleep or time.sleep

    def session(self) -> Any:
        if self._session is None:
            import requests

            self._session = requests.Session()
        return self._session

    def api_key(self) -> str:
        env = self.params.api_key_env
        key = os.environ.get(env, "").strip()
        if not key:
            raise ConfigError(
                f"data.data_source_params.api_key_env: environment variable {env} is not set; "
                f"put your Alpha Vantage API key in it (export {env}=...)"
            )
        return key

    def load_data(
        self, tickers: list[str] | None, start_date: Any = None, end_date: Any = None, interval: str = "1d"
    ) -> pd.DataFrame:
        require_daily(interval, "alphavantage")
        if not tickers:
            raise DataError('alphavantage: no tickers given (set data.tickers, e.g. ["IBM", "MSFT"])')
        tickers = list(tickers)
        key = self.api_key()
        parts = []
        with ticker_progress(len(tickers)) as progress:
            for ticker in tickers:
                payload = self.fetch(ticker, key)
                parts.append(
                    to_panel(
                        series_frame(payload, ticker),
                        f"alphavantage {ticker}",
                        ticker=ticker,
                        start=start_date,
                        end=end_date,
                    )
                )
                progress.advance(message=ticker)
        panel = concat_panels(parts)
        require_rows(panel, tickers, "alphavantage", start_date, end_date)
        return panel

    def fetch(self, ticker: str, key: str) -> dict[str, Any]:
        """The service's JSON answer for ``ticker``, after retrying throttled or failed requests."""
        p = self.params
        query = {"function": FUNCTION, "symbol": ticker, "outputsize": "full", "datatype": "json", "apikey": key}
        attempts = p.max_retries + 1
        for attempt in range(attempts):
            try:
                return self._answer(ticker, query)
            except _Retry as problem:
                last = _hide(str(problem), key)
            if attempt + 1 < attempts:
                self._sleep(p.backoff_seconds * 2**attempt)
        raise DataError(
            f"alphavantage: ticker {ticker}: {last} (gave up after {attempts} attempt{'s' if attempts > 1 else ''})"
        )

    def _answer(self, ticker: str, query: dict[str, str]) -> dict[str, Any]:
        import requests

        key = query["apikey"]
        try:
            response = self.session().get(self.params.base_url, params=query, timeout=self.params.timeout)
        except requests.RequestException as exc:  # its text holds the URL, hence the key: never shown
            raise _Retry(f"request failed ({type(exc).__name__})") from None
        if response.status_code in RETRY_STATUSES:
            raise _Retry(f"HTTP {response.status_code}")
        if response.status_code != 200:
            raise DataError(f"alphavantage: ticker {ticker}: HTTP {response.status_code} from {self.params.base_url}")
        try:
            payload = response.json()
        except ValueError:
            raise _Retry("the answer is not JSON (cut off or an error page)") from None
        if not isinstance(payload, dict):
            raise DataError(f"alphavantage: ticker {ticker}: unexpected answer (a JSON {type(payload).__name__})")
        if SERIES_KEY in payload:
            return payload
        if "Error Message" in payload:
            raise DataError(
                f"alphavantage: ticker {ticker}: unknown symbol or invalid request "
                f"({_hide(str(payload['Error Message']), key)})"
            )
        for field in ("Note", "Information"):
            if field in payload:
                text = _hide(" ".join(str(payload[field]).split()), key)
                if "premium endpoint" in text.lower():
                    raise DataError(f"alphavantage: ticker {ticker}: {FUNCTION} needs a premium key ({text})")
                raise _Retry(f"the service is throttling requests ({text})")
        raise DataError(
            f"alphavantage: ticker {ticker}: unexpected answer without {SERIES_KEY!r} "
            f"(keys: {', '.join(map(str, payload)) or 'none'})"
        )

    def back_adjusted(self, tickers: list[str]) -> bool:
        """Always: prices are scaled by the adjusted-close factor (see the module docstring)."""
        return True

    def cache_token(self) -> str:
        """Today's date: the service revises adjusted history with every dividend, so a download is
        reused for the rest of the day only (``--refresh`` forces a new one)."""
        return dt.date.today().isoformat()


def series_frame(payload: dict[str, Any], ticker: str) -> pd.DataFrame:
    """The daily series of one answer as raw rows (date, adjusted OHLC, adj_close, volume), oldest first."""
    series = payload.get(SERIES_KEY)
    if not isinstance(series, dict):
        raise DataError(f"alphavantage: ticker {ticker}: {SERIES_KEY!r} is not a table of days")
    if not series:
        raise DataError(f"alphavantage: ticker {ticker}: the service returned an empty time series")
    dates = sorted(series)
    raw: dict[str, list[float]] = {name: [] for name in FIELDS}
    for day in dates:
        row = series[day]
        for name, field in FIELDS.items():
            value = row.get(field) if isinstance(row, dict) else None
            try:
                raw[name].append(float(value))  # type: ignore[arg-type]
            except (TypeError, ValueError):
                what = "missing" if value is None else f"not a number: {value!r}"
                raise DataError(f"alphavantage: ticker {ticker}, date {day}, field {field!r}: {what}") from None
    frame = pd.DataFrame(raw)
    factor = frame["adjusted"] / frame["close"]
    close = frame["close"] * factor
    return pd.DataFrame(
        {
            "date": dates,
            "open": frame["open"] * factor,
            "high": frame["high"] * factor,
            "low": frame["low"] * factor,
            "close": close,
            "adj_close": close,
            "volume": frame["volume"] / factor,
        }
    )


def _hide(text: str, key: str) -> str:
    return text.replace(key, "***") if key else text
