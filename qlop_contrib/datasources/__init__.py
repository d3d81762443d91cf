"""Bundled data sources: ``sample`` (embedded real data), ``csv``, ``parquet``, ``sql``, ``yfinance``,
``alphavantage``, ``synthetic``.

This module is the registered plugin. Factories are strings so registration imports nothing heavy.
"""

from __future__ import annotations

from qlop.api import ComponentSpec, hookimpl

_P = "qlop_contrib.datasources"


@hookimpl
def qlop_register_data_source() -> list[ComponentSpec]:
    return [
        ComponentSpec(
            "sample",
            f"{_P}.sample:SampleSource",
            "Embedded real daily OHLCV: 29 US tickers 2000-2017, S&P 500 (GSPC) to 2024, extras",
            f"{_P}.params:SampleParams",
        ),
        ComponentSpec(
            "csv",
            f"{_P}.csv_source:CsvSource",
            "Local CSV files: a folder of <TICKER>.csv or one long file with a ticker column",
            f"{_P}.params:CsvParams",
        ),
        ComponentSpec(
            "parquet",
            f"{_P}.parquet_source:ParquetSource",
            "Local Parquet files: a folder of <TICKER>.parquet or one long file",
            f"{_P}.params:ParquetParams",
        ),
        ComponentSpec(
            "sql",
            f"{_P}.sql_source:SqlSource",
            "A database table or query through SQLAlchemy (SQLite, PostgreSQL, ...)",
            f"{_P}.params:SqlParams",
        ),
        ComponentSpec(
            "yfinance",
            f"{_P}.yfinance_source:YFinanceSource",
            "Yahoo Finance via yfinance.download (needs network)",
            f"{_P}.params:YFinanceParams",
        ),
        ComponentSpec(
            "alphavantage",
            f"{_P}.alphavantage_source:AlphaVantageSource",
            "Alpha Vantage daily adjusted bars, full history (needs network and an API key)",
            f"{_P}.params:AlphaVantageParams",
        ),
        ComponentSpec(
            "synthetic",
            f"{_P}.synthetic:SyntheticSource",
            "Seeded GBM paths with stochastic volatility and jumps, any size",
            f"{_P}.params:SyntheticParams",
        ),
    ]
