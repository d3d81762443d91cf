"""Params models of the bundled data sources (pydantic only, so the GUI can build forms cheaply)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from qlop.api import number, seed_field


class SampleParams(BaseModel):
    """The embedded real dataset (``qlop_contrib/data/ohlcv``)."""

    model_config = ConfigDict(extra="forbid")

    collection: Literal["primary", "wiki_unadjusted"] = Field(
        "primary",
        description="Where plain ticker names are looked up first: 'primary' (29 back-adjusted US "
        "tickers 2000-2017, plus GSPC and IXIC) or 'wiki_unadjusted' (Quandl WIKI AAPL, "
        "MSFT, IBM, GOOG with unadjusted OHLC to 2013). 'wiki_unadjusted/AAPL' always "
        "addresses the extra file directly.",
    )


class FileParams(BaseModel):
    """Local files: a folder of ``<TICKER>.<ext>`` files or one long file with a ticker column."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(..., min_length=1, description="Folder of <TICKER> files, or one file with a ticker column")
    columns: dict[str, str] = Field(
        default_factory=dict,
        description="Map your column names to QLOP's (date, open, high, low, close, adj_close, volume, "
        "ticker), e.g. {'Px Last': 'close'}; other names are matched case-insensitively",
    )
    date_format: str | None = Field(
        None, description="strftime format of the dates, e.g. '%d/%m/%Y' (default ISO 8601, YYYY-MM-DD)"
    )
    ticker_column: str = Field("ticker", min_length=1, description="Name of the ticker column in a single long file")
    timezone: str | None = Field(
        None,
        description="Intraday data: the time zone of timestamps written without one, e.g. 'America/New_York' "
        "or 'UTC' (timestamps with an offset need nothing)",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str | None) -> str | None:
        if v is None:
            return v
        import zoneinfo

        try:
            zoneinfo.ZoneInfo(v)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r} (an IANA name such as 'America/New_York' or 'UTC')") from None
        return v


class CsvParams(FileParams):
    """CSV files."""

    delimiter: str = Field(",", min_length=1, max_length=1, description="Field separator")


class ParquetParams(FileParams):
    """Parquet files (a DatetimeIndex or a date column both work)."""


class YFinanceParams(BaseModel):
    """Yahoo Finance through the ``yfinance`` package (needs network)."""

    model_config = ConfigDict(extra="forbid")

    auto_adjust: bool = Field(
        True,
        description="Adjust OHLC for splits and dividends (yfinance's default); "
        "False keeps raw OHLC and a separate Adj Close",
    )
    repair: bool = Field(False, description="Let yfinance repair obvious price errors (100x, missing splits)")
    threads: bool = Field(True, description="Download tickers in parallel threads")
    timeout: float = number(10.0, gt=0, le=600, unit="seconds", description="Per-request timeout, seconds")
    cache_dir: str | None = Field(
        None, description="yfinance's own sqlite caches (default: QLOP cache folder/yfinance)"
    )


class SyntheticParams(BaseModel):
    """Seeded price paths: GBM with stochastic (log-AR(1)) volatility and Poisson jumps."""

    model_config = ConfigDict(extra="forbid")

    n_tickers: int = number(
        10,
        ge=1,
        le=100_000,
        unit="tickers",
        description="Tickers to generate when none are listed (named SYN00000, SYN00001, ...)",
    )
    n_bars: int = number(
        2520,
        ge=2,
        le=10_000_000,
        unit="bars",
        description="Bars per ticker: business days for 1d, the session's bars for an intraday interval",
    )
    seed: int = seed_field(0, description="Random seed: same seed and ticker name, same path")
    start: str = Field("2000-01-03", description="First bar's date when start_date is not set")
    start_price: float = number(100.0, gt=0, le=1e9, unit="(price)", description="Price of the first bar's open")
    drift: float = number(0.07, ge=-2, le=2, unit="(annual log return)", description="Annual drift of log price")
    vol: float = number(0.25, gt=0, le=5, unit="(annual volatility)", description="Long-run annual volatility")
    vol_of_vol: float = number(
        0.15, ge=0, le=2, unit="(annual volatility of log volatility)", description="Daily std of log-variance shocks"
    )
    vol_persistence: float = number(
        0.98, ge=0, lt=1, unit="(AR(1) coefficient)", description="AR(1) coefficient of log variance"
    )
    jump_intensity: float = number(3.0, ge=0, le=252, unit="jumps a year", description="Expected jumps per year")
    jump_mean: float = number(-0.02, ge=-1, le=1, unit="(log return)", description="Mean log jump size")
    jump_std: float = number(0.05, ge=0, le=1, unit="(log return)", description="Std of log jump size")
    overnight_share: float = number(
        0.3,
        ge=0,
        le=1,
        unit="(fraction of the day's return)",
        description="Share of each day's return that happens overnight (open gap)",
    )
    volume: float = number(1_000_000.0, gt=0, le=1e15, unit="shares a day", description="Median daily volume (shares)")
    volume_u_shape: float = number(
        3.0,
        ge=1,
        le=100,
        unit="(ratio)",
        description="Intraday bars: a session's first and last bars trade this many times the volume of "
        "its middle bar (U-shaped profile); 1 is flat",
    )


class SqlParams(BaseModel):
    """A database table or query through SQLAlchemy (SQLite built in; PostgreSQL via psycopg 3)."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        "sqlite:///qlop.sqlite",
        min_length=1,
        description="SQLAlchemy URL without a password, e.g. sqlite:///prices.sqlite (relative to "
        "the working directory) or postgresql://user@host:5432/db (psycopg 3)",
    )
    password_env: str = Field(
        "QLOP_SQL_PASSWORD",
        min_length=1,
        description="Environment variable holding the database password; the password "
        "is never written to the config, the manifest or the cache key",
    )
    table: str = Field(
        "ohlcv", min_length=1, description="Table or view with one row per ticker and date (ignored when query is set)"
    )
    db_schema: str | None = Field(None, description="Database schema of the table (default: the connection's)")
    columns: dict[str, str] = Field(
        default_factory=dict,
        description="Map your column names to QLOP's (date, open, high, low, close, adj_close, volume, ticker), "
        "e.g. {'px_last': 'close'}; other names are matched case-insensitively",
    )
    ticker_column: str = Field("ticker", min_length=1, description="Name of the ticker column")
    query: str | None = Field(
        None,
        description="A SELECT instead of a table, with bound parameters :tickers (the list, written "
        "'ticker IN :tickers'), :start and :end (dates, inclusive); values are always bound, "
        "never formatted into the SQL",
    )
    date_format: str | None = Field(None, description="strftime format of text dates (default ISO 8601)")


class AlphaVantageParams(BaseModel):
    """Alpha Vantage daily adjusted bars (TIME_SERIES_DAILY_ADJUSTED, full history; needs network)."""

    model_config = ConfigDict(extra="forbid")

    api_key_env: str = Field(
        "ALPHAVANTAGE_API_KEY",
        min_length=1,
        description="Environment variable holding the API key (the key itself never "
        "goes in a config file, the manifest or the cache key)",
    )
    base_url: str = Field("https://www.alphavantage.co/query", min_length=1, description="API endpoint")
    timeout: float = number(30.0, gt=0, le=600, unit="seconds", description="Per-request timeout, seconds")
    max_retries: int = number(
        4,
        ge=0,
        le=20,
        unit="retries",
        description="Retries of a throttled or failed request (rate-limit notes, HTTP 429/5xx, "
        "network errors, a cut-off body) before giving up on the ticker",
    )
    backoff_seconds: float = number(
        15.0,
        ge=0,
        le=600,
        unit="seconds",
        description="Wait before the first retry; doubled for each further retry "
        "(the free tier allows a few calls per minute)",
    )
