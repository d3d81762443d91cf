"""The ``sample`` source: the embedded real dataset, any subset, offline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qlop.config import DataConfig
from qlop.errors import DataError
from qlop.stages.data import load_panel
from qlop.testing import DataSourceContract
from qlop_contrib.datasources.sample import PRIMARY_TICKERS, SampleSource, data_dir

SAMPLE = Path(__file__).resolve().parents[2] / "qlop_contrib" / "data" / "ohlcv"


class TestSampleContract(DataSourceContract):
    component_name = "sample"


def load(tickers: list[str], start: str | None = None, end: str | None = None, **params: str) -> pd.DataFrame:
    return load_panel(
        DataConfig(
            data_source_type="sample", data_source_params=params, tickers=tickers, start_date=start, end_date=end
        )
    )


def test_data_dir_is_the_package_data() -> None:
    assert data_dir().resolve() == SAMPLE.resolve()
    assert (data_dir() / "PROVENANCE.md").is_file()


def test_default_is_the_29_primary_tickers() -> None:
    panel = SampleSource("sample").load_data([], None, None, "1d")
    counts = panel.groupby(level="ticker").size()
    assert sorted(counts.index) == sorted(PRIMARY_TICKERS) and len(counts) == 29
    # per-file row counts from PROVENANCE.md section 6
    assert counts["MSFT"] == 4495 and counts["AAPL"] == 4493 and counts["GOOGL"] == 3333
    assert counts["SPY"] == 3201 and len(panel) == 127_875
    assert "GSPC" not in counts.index  # the benchmark index is loaded on request


def test_values_are_the_csv_values() -> None:
    panel = load(["KO"], "2012-03-01", "2012-03-31")
    raw = pd.read_csv(SAMPLE / "KO.csv")
    raw = raw[(raw.Date >= "2012-03-01") & (raw.Date <= "2012-03-31")]
    np.testing.assert_array_equal(panel["close"].to_numpy(), raw["Close"].to_numpy())
    np.testing.assert_array_equal(panel["volume"].to_numpy(), raw["Volume"].to_numpy(dtype=float))
    assert panel.index.get_level_values("date")[0] == pd.Timestamp("2012-03-01")


def test_known_quirks_go_through_the_general_rules() -> None:
    panel = load(["C", "SPY"], "2009-01-01", "2011-12-31")
    c_missing_volume = panel.loc["C"].index[panel.loc["C", "volume"].isna()]
    assert [d.strftime("%Y-%m-%d") for d in c_missing_volume] == [
        "2009-08-05",
        "2009-12-17",
        "2009-12-18",
        "2010-04-26",
    ]
    # SPY lacks 2011-02-17: no fake bar is made up for it
    assert pd.Timestamp("2011-02-17") not in panel.loc["SPY"].index
    assert pd.Timestamp("2011-02-17") in panel.loc["C"].index


def test_benchmark_and_extras() -> None:
    panel = load(["GSPC", "IXIC", "wiki_unadjusted/AAPL", "AAPL"], "2005-02-22", "2005-03-04")
    assert sorted(panel.index.unique("ticker")) == ["AAPL", "GSPC", "IXIC", "wiki_unadjusted/AAPL"]
    # the WIKI extra is unadjusted: AAPL's 2:1 split on 2005-02-28 shows in it, not in the primary file
    wiki = panel.loc["wiki_unadjusted/AAPL", "close"]
    adjusted = panel.loc["AAPL", "close"]
    assert wiki.loc["2005-02-25"] / wiki.loc["2005-02-28"] > 1.8
    assert 0.8 < adjusted.loc["2005-02-25"] / adjusted.loc["2005-02-28"] < 1.2
    assert load(["^GSPC"], "2024-06-26", None).index[-1] == ("GSPC", pd.Timestamp("2024-06-26"))


def test_collection_param() -> None:
    panel = load(["MSFT"], "2003-02-14", "2003-02-19", collection="wiki_unadjusted")
    assert list(panel.index.unique("ticker")) == ["MSFT"]
    assert panel["adj_close"].iloc[0] < panel["close"].iloc[0] / 2  # unadjusted close, adjusted adj_close
    default = load([], "2010-01-04", "2010-01-04", collection="wiki_unadjusted")
    assert sorted(default.index.unique("ticker")) == ["AAPL", "GOOG", "IBM", "MSFT"]


def test_unknown_ticker_did_you_mean() -> None:
    with pytest.raises(DataError, match=r"sample: ticker APPL: not in the embedded dataset; did you mean AAPL"):
        load(["APPL"])


def test_no_rows_in_window_is_an_error_naming_the_ticker() -> None:
    with pytest.raises(DataError, match="ticker GOOGL: no rows between 2001-01-01 and 2002-01-01"):
        load(["AAPL", "GOOGL"], "2001-01-01", "2002-01-01")


def test_same_ticker_twice() -> None:
    with pytest.raises(DataError, match="listed twice"):
        SampleSource("sample").load_data(["AAPL", "aapl"], None, None, "1d")


def test_interval_other_than_daily_is_refused() -> None:
    with pytest.raises(DataError, match="interval '1h' is not supported"):
        SampleSource("sample").load_data(["AAPL"], None, None, "1h")
