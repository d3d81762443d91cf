"""``csv`` and ``parquet`` sources: folder or long file, column matching, mapping, date format, cache."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qlop.config import DataConfig
from qlop.errors import DataError
from qlop.stages.data import load_panel
from qlop.testing import DataSourceContract

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SAMPLE = Path(__file__).resolve().parents[2] / "qlop_contrib" / "data" / "ohlcv"


class TestCsvFolderContract(DataSourceContract):
    component_name = "csv"
    params = {"path": str(FIXTURES / "csv_folder")}


class TestParquetFolderContract(DataSourceContract):
    component_name = "parquet"
    params = {"path": str(FIXTURES / "parquet_folder")}


class TestParquetLongFileContract(DataSourceContract):
    component_name = "parquet"
    params = {"path": str(FIXTURES / "long.parquet"), "ticker_column": "Symbol"}


def load(
    source: str, tickers: list[str] | None = None, start: str | None = None, end: str | None = None, **params: object
) -> pd.DataFrame:
    return load_panel(
        DataConfig(
            data_source_type=source, data_source_params=params, tickers=tickers or [], start_date=start, end_date=end
        )
    )


def sample_panel(tickers: list[str], start: str, end: str) -> pd.DataFrame:
    return load("sample", tickers, start, end)


def test_csv_folder_matches_sample_values_and_adj_close_defaults_to_close() -> None:
    got = load("csv", ["aapl", "MSFT"], "2015-01-01", "2015-06-30", path=str(FIXTURES / "csv_folder"))
    pd.testing.assert_frame_equal(got, sample_panel(["AAPL", "MSFT"], "2015-01-01", "2015-06-30"))


def test_all_files_of_a_folder_when_no_tickers() -> None:
    got = load("parquet", path=str(FIXTURES / "parquet_folder"))
    assert sorted(got.index.unique("ticker")) == ["AAPL", "MSFT"]


def test_missing_ticker_file_lists_what_is_there() -> None:
    with pytest.raises(DataError, match=r"ticker IBM: no file IBM.csv \(found: AAPL, MSFT\)"):
        load("csv", ["IBM"], path=str(FIXTURES / "csv_folder"))


def test_long_csv_with_mapping_and_date_format(tmp_path: Path) -> None:
    src = sample_panel(["IBM", "KO"], "2016-01-01", "2016-03-31").reset_index()
    out = pd.DataFrame(
        {
            "sym": src["ticker"],
            "Trade Date": src["date"].dt.strftime("%d/%m/%Y"),
            "PX_OPEN": src["open"],
            "px_high": src["high"],
            "PX_LOW": src["low"],
            "px_last": src["close"],
            "Adj. Close": src["adj_close"],
            "Volume": src["volume"].fillna(0),
            "Comment": "x",
        }
    )
    path = tmp_path / "long.csv"
    out.to_csv(path, index=False, sep=";")
    got = load(
        "csv",
        ["ko"],
        path=str(path),
        delimiter=";",
        date_format="%d/%m/%Y",
        ticker_column="sym",
        columns={"trade date": "date", "PX_OPEN": "open", "PX_HIGH": "high", "px_low": "low", "PX_LAST": "close"},
    )
    pd.testing.assert_frame_equal(got, sample_panel(["KO"], "2016-01-01", "2016-03-31"))


def test_text_tickers_stay_text(tmp_path: Path) -> None:
    src = sample_panel(["KO"], "2016-01-04", "2016-01-08").reset_index()
    src["ticker"] = "0700"
    src.rename(columns={"ticker": "Ticker", "date": "Date"}).to_csv(tmp_path / "l.csv", index=False)
    got = load("csv", path=str(tmp_path / "l.csv"))
    assert list(got.index.unique("ticker")) == ["0700"]


def test_long_file_unknown_ticker() -> None:
    with pytest.raises(DataError, match="ticker IBM: not in column 'Symbol'"):
        load("parquet", ["IBM"], path=str(FIXTURES / "long.parquet"), ticker_column="Symbol")


def test_long_file_ticker_column_default_names(tmp_path: Path) -> None:
    # "Symbol" is understood without configuration; without any ticker column it is an error
    assert len(load("parquet", path=str(FIXTURES / "long.parquet")).index.unique("ticker")) == 2
    pd.read_parquet(FIXTURES / "long.parquet").drop(columns="Symbol").to_parquet(tmp_path / "l.parquet")
    with pytest.raises(DataError, match=r"l.parquet: missing required column 'ticker'"):
        load("parquet", path=str(tmp_path / "l.parquet"))


def test_mapping_to_an_unknown_name_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="column mapping target 'price'"):
        load("csv", path=str(FIXTURES / "csv_folder"), columns={"Close": "price"})


def test_two_columns_for_one_field(tmp_path: Path) -> None:
    (tmp_path / "X.csv").write_text("Date,Close,close,Open,High,Low,Volume\n2020-01-02,1,1,1,1,1,1\n")
    with pytest.raises(DataError, match="columns 'Close' and 'close' both map to 'close'"):
        load("csv", path=str(tmp_path))


def test_empty_and_garbage_files(tmp_path: Path) -> None:
    (tmp_path / "E.csv").write_text("")
    with pytest.raises(DataError, match=r"E.csv: empty file"):
        load("csv", path=str(tmp_path))
    (tmp_path / "E.csv").write_text("Date,Open,High,Low,Close,Volume\n")
    with pytest.raises(DataError, match="ticker E: no rows"):
        load("csv", path=str(tmp_path))
    (tmp_path / "E.parquet").write_text("garbage")
    with pytest.raises(DataError, match=r"E.parquet: cannot read"):
        load("parquet", path=str(tmp_path))


def test_parquet_reads_a_qlop_panel_file(tmp_path: Path) -> None:
    panel = sample_panel(["AAPL", "GE"], "2010-01-01", "2010-12-31")
    panel.to_parquet(tmp_path / "data.parquet")
    pd.testing.assert_frame_equal(load("parquet", path=str(tmp_path / "data.parquet")), panel)


def test_editing_a_file_invalidates_the_cache(tmp_path: Path) -> None:
    lines = ["Date,Open,High,Low,Close,Volume", "2020-01-02,10,11,9,10.5,100", "2020-01-03,10,11,9,10.6,100"]
    (tmp_path / "X.csv").write_text("\n".join(lines) + "\n")
    first = load("csv", path=str(tmp_path))
    assert first["close"].tolist() == [10.5, 10.6]
    lines[2] = "2020-01-03,10,11,9,10.7,100"
    (tmp_path / "X.csv").write_text("\n".join(lines) + "\n")
    os.utime(tmp_path / "X.csv", ns=(1, 10**18))  # a different mtime even on coarse clocks
    assert load("csv", path=str(tmp_path))["close"].tolist() == [10.5, 10.7]


def test_date_window_filters_after_validating_whole_file(tmp_path: Path) -> None:
    """Row numbers in errors are file rows, also when a window is asked for."""
    lines = ["Date,Open,High,Low,Close,Volume"] + [f"2020-01-{d:02d},10,11,9,10,1" for d in (2, 3, 6, 7)]
    lines[2] = "2020-01-03,10,9.5,9,10,1"
    (tmp_path / "X.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="date 2020-01-03, column high, row 2"):
        load("csv", None, "2020-01-06", None, path=str(tmp_path))


def test_weekly_files_are_allowed_and_intraday_needs_a_time_zone() -> None:
    from qlop_contrib.datasources.csv_source import CsvSource

    src = CsvSource("csv", {"path": str(FIXTURES / "csv_folder")})
    assert len(src.load_data(["AAPL"], None, None, "1wk"))
    with pytest.raises(DataError, match="interval '2h' is not supported"):
        src.load_data(["AAPL"], None, None, "2h")
    with pytest.raises(
        DataError, match=r"AAPL.csv: ticker AAPL, column date, row 1: timestamp '2014-12-01' has no time zone"
    ):
        src.load_data(["AAPL"], None, None, "5m")
    assert np.isfinite(src.load_data(["AAPL"], None, None, "1d")["close"]).all()
