"""The yfinance adapter, offline: ``download`` is a fake returning frames shaped exactly like yfinance's.

yfinance 1.x returns two-level columns (Price, Ticker) even for one ticker, a tz-naive index named
``Date``, all-NaN rows for a ticker on dates only other tickers traded, all-NaN columns for a ticker it
failed to fetch, and an empty frame when everything failed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from qlop.config import DataConfig
from qlop.errors import DataError
from qlop.stages.data import load_panel
from qlop.testing import DataSourceContract
from qlop_contrib.datasources.yfinance_source import YFinanceSource, yfinance_download

SAMPLE = Path(__file__).resolve().parents[2] / "qlop_contrib" / "data" / "ohlcv"


def make_fake(files: dict[str, Path] | None = None, omit: tuple[str, ...] = ()) -> Callable[..., pd.DataFrame]:
    """A stand-in for ``yfinance.download`` built from the sample CSVs; records its calls."""
    calls: list[dict[str, Any]] = []

    def download(
        tickers: Any,
        start: str | None = None,
        end: str | None = None,
        interval: str = "1d",
        auto_adjust: bool = True,
        group_by: str = "column",
        multi_level_index: bool = True,
        **kwargs: Any,
    ) -> pd.DataFrame:
        calls.append(dict(tickers=tickers, start=start, end=end, interval=interval, auto_adjust=auto_adjust, **kwargs))
        names = tickers.split() if isinstance(tickers, str) else list(tickers)
        fields = (
            ["Close", "High", "Low", "Open", "Volume"]
            if auto_adjust
            else ["Adj Close", "Close", "High", "Low", "Open", "Volume"]
        )
        frames = {}
        for t in names:
            if t in omit:
                continue
            path = (files or {}).get(t, SAMPLE / f"{t.lstrip('^')}.csv")
            if path.is_file():
                df = pd.read_csv(path, index_col="Date")
                df.index = pd.to_datetime(df.index).astype("datetime64[s]")
                if start:
                    df = df[df.index >= pd.Timestamp(start)]
                if end:
                    df = df[df.index < pd.Timestamp(end)]  # yfinance's end is exclusive
                if auto_adjust:
                    ratio = df["Adj Close"] / df["Close"]
                    df = df[["Open", "High", "Low", "Close"]].mul(ratio, axis=0).assign(Volume=df["Volume"])
            else:
                df = pd.DataFrame(columns=fields, dtype="float64", index=pd.DatetimeIndex([], dtype="datetime64[s]"))
            frames[t] = df[fields]
        if not frames or all(len(f) == 0 for f in frames.values()):
            cols = pd.MultiIndex.from_product([fields, names], names=["Price", "Ticker"])
            return pd.DataFrame(columns=cols, index=pd.DatetimeIndex([], name="Date", dtype="datetime64[s]"))
        out = pd.concat(frames, axis=1, names=["Ticker", "Price"]).swaplevel(0, 1, axis=1).sort_index(axis=1, level=0)
        out.index.name = "Date"
        return out

    download.calls = calls  # type: ignore[attr-defined]
    return download


class TestYFinanceContract(DataSourceContract):
    component_name = "yfinance"

    def make_component(self) -> Any:
        return YFinanceSource("yfinance", {}, download=make_fake())


def source(fake: Callable[..., pd.DataFrame] | None = None, **params: Any) -> YFinanceSource:
    return YFinanceSource("yfinance", params, download=fake or make_fake())


def sample(tickers: list[str], start: str, end: str) -> pd.DataFrame:
    return load_panel(DataConfig(data_source_type="sample", tickers=tickers, start_date=start, end_date=end))


def test_fake_has_yfinance_shape_even_for_one_ticker() -> None:
    frame = make_fake()(["AAPL"], start="2015-01-02", end="2015-01-10")
    assert isinstance(frame.columns, pd.MultiIndex) and list(frame.columns.names) == ["Price", "Ticker"]
    assert frame.columns.get_level_values(1).unique().tolist() == ["AAPL"]


def test_one_call_for_all_tickers_with_inclusive_end() -> None:
    fake = make_fake()
    panel = source(fake).load_data(["AAPL", "SPY", "GE"], "2011-02-01", "2011-02-28", "1d")
    assert len(fake.calls) == 1
    call = fake.calls[0]
    assert call["tickers"] == ["AAPL", "SPY", "GE"] and call["interval"] == "1d"
    assert call["start"] == "2011-02-01" and call["end"] == "2011-03-01" and call["auto_adjust"] is True
    assert call["progress"] is False
    pd.testing.assert_frame_equal(panel, sample(["AAPL", "SPY", "GE"], "2011-02-01", "2011-02-28"))


def test_union_calendar_nan_rows_are_not_bars() -> None:
    """SPY lacks 2011-02-17; the multi-ticker download has a NaN row for it, which must vanish."""
    panel = source().load_data(["AAPL", "SPY"], "2011-02-14", "2011-02-18", "1d")
    assert pd.Timestamp("2011-02-17") not in panel.loc["SPY"].index
    assert pd.Timestamp("2011-02-17") in panel.loc["AAPL"].index
    assert not panel[["open", "high", "low", "close"]].isna().any().any()


def test_missing_ticker_is_an_error_naming_it() -> None:
    with pytest.raises(DataError, match="yfinance: ticker MSFT: missing from the download"):
        source(make_fake(omit=("MSFT",))).load_data(["AAPL", "MSFT"], "2015-01-01", "2015-02-01", "1d")


def test_failed_ticker_with_nan_columns_is_an_error_naming_it() -> None:
    with pytest.raises(DataError, match="yfinance: ticker NOSUCH: no data"):
        source().load_data(["AAPL", "NOSUCH"], "2015-01-01", "2015-02-01", "1d")


def test_empty_download_is_an_error_naming_the_tickers() -> None:
    with pytest.raises(DataError, match="yfinance: no data for AAPL, MSFT"):
        source().load_data(["AAPL", "MSFT"], "2030-01-01", "2030-02-01", "1d")
    with pytest.raises(DataError, match="yfinance: no data for AAPL"):
        source(lambda **kw: None).load_data(["AAPL"], None, None, "1d")


def test_no_tickers_and_unknown_intervals_are_refused() -> None:
    with pytest.raises(DataError, match="no tickers given"):
        source().load_data([], None, None, "1d")
    with pytest.raises(DataError, match="interval '2h' is not supported"):
        source().load_data(["AAPL"], None, None, "2h")
    with pytest.raises(DataError, match="Yahoo has no 4h bars"):
        source().load_data(["AAPL"], None, None, "4h")


def test_open_ended_dates_ask_for_the_whole_history() -> None:
    fake = make_fake()
    panel = source(fake).load_data(["QQQ"], None, None, "1d")
    assert fake.calls[0]["period"] == "max" and fake.calls[0]["start"] is None
    assert len(panel) == 4495


def test_auto_adjust_false_keeps_adj_close() -> None:
    fake = make_fake(files={"AAPL": SAMPLE / "extra" / "wiki_unadjusted" / "AAPL.csv"})
    raw = source(fake, auto_adjust=False).load_data(["AAPL"], "2005-02-24", "2005-03-02", "1d")
    assert fake.calls[0]["auto_adjust"] is False
    assert (raw["adj_close"] < raw["close"] / 5).all()  # unadjusted OHLC, adjusted adj_close
    adjusted = source(fake, auto_adjust=True).load_data(["AAPL"], "2005-02-24", "2005-03-02", "1d")
    np.testing.assert_allclose(adjusted["close"], raw["adj_close"])


def test_weekly_interval_is_passed_through() -> None:
    fake = make_fake()
    source(fake).load_data(["AAPL"], "2015-01-01", "2015-03-01", "1wk")
    assert fake.calls[0]["interval"] == "1wk"


@pytest.fixture
def restore_yfinance_cache() -> Any:
    from yfinance import cache

    before = cache._TzDBManager.get_location()
    yield
    cache.set_cache_location(before)


def test_real_download_function_keeps_yfinance_caches_in_the_given_folder(
    tmp_path: Path, restore_yfinance_cache: Any
) -> None:
    import yfinance
    from yfinance import cache

    fn = yfinance_download(tmp_path / "yf")
    assert fn is yfinance.download
    assert cache._TzDBManager.get_location() == str(tmp_path / "yf")


def test_default_cache_folder_is_under_the_qlop_cache(restore_yfinance_cache: Any) -> None:
    from yfinance import cache

    from qlop.paths import cache_dir

    src = YFinanceSource("yfinance", {})
    src.download_fn()
    assert cache._TzDBManager.get_location() == str(cache_dir() / "yfinance")


def test_through_load_panel_and_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = make_fake()
    from qlop_contrib.datasources import yfinance_source

    monkeypatch.setattr(yfinance_source, "yfinance_download", lambda cache_dir: fake)
    cfg = DataConfig(data_source_type="yfinance", tickers=["MSFT"], start_date="2016-01-01", end_date="2016-12-31")
    first = load_panel(cfg)
    second = load_panel(cfg)
    assert len(fake.calls) == 1  # second load came from the cache
    pd.testing.assert_frame_equal(first, second)
    load_panel(cfg, refresh=True)
    assert len(fake.calls) == 2


# -- intraday --------------------------------------------------------------------------------------------------------


def intraday_fake(session: str = "XNYS", interval: str = "1h") -> Callable[..., pd.DataFrame]:
    """A ``yfinance.download`` stand-in for intraday bars: Yahoo's shape (index ``Datetime`` in the
    exchange's zone, (Price, Ticker) columns), bars from a seeded panel on the session's grid."""
    from qlop.testing import make_intraday_panel

    calls: list[dict[str, Any]] = []

    def download(tickers: Any, start: str | None = None, end: str | None = None, **kwargs: Any) -> pd.DataFrame:
        calls.append(dict(tickers=tickers, start=start, end=end, **kwargs))
        panel = make_intraday_panel(
            tuple(tickers), n_bars=60, interval=kwargs["interval"], session=session, start=start
        )
        frames = {}
        for t in tickers:
            one = panel.loc[t]
            one.index = one.index.tz_convert("America/New_York").rename("Datetime")
            frames[t] = one.rename(columns=str.title).drop(columns="Adj_Close")
        out = pd.concat(frames, axis=1, names=["Ticker", "Price"]).swaplevel(0, 1, axis=1).sort_index(axis=1)
        return out[out.index < pd.Timestamp(end, tz="America/New_York")] if end else out

    download.calls = calls  # type: ignore[attr-defined]
    return download


class _FixedToday(YFinanceSource):
    @staticmethod
    def today() -> Any:
        import datetime as dt

        return dt.date(2024, 7, 20)


def test_intraday_bars_load_as_utc_with_the_session() -> None:
    cfg = DataConfig(
        data_source_type="yfinance",
        tickers=["AAPL", "MSFT"],
        start_date="2024-07-01",
        end_date="2024-07-05",
        interval="1h",
        session="XNYS",
    )
    fake = intraday_fake()
    from qlop.stages import data as data_stage

    with data_stage.bars_context(data_stage.bars_of(cfg)):
        panel = _FixedToday("yfinance", {}, download=fake).load_data(
            ["AAPL", "MSFT"], cfg.start_date, cfg.end_date, "1h"
        )
    call = fake.calls[0]
    assert call["interval"] == "1h" and call["ignore_tz"] is False and call["end"] == "2024-07-06"
    level = panel.index.get_level_values("date")
    assert str(level.dtype) == "datetime64[ns, UTC]"
    assert level.min() == pd.Timestamp("2024-07-01 13:30", tz="UTC")  # 09:30 New York
    local = level.tz_convert("America/New_York")
    assert local.max().strftime("%Y-%m-%d") == "2024-07-05" and set(local.minute) == {30}


@pytest.mark.parametrize(
    ("interval", "start", "end", "message"),
    [
        (
            "1m",
            "2024-06-01",
            "2024-06-03",
            r"start_date 2024-06-01 is too old for 1m bars: Yahoo keeps them for the last 30 days only \(2024-06-20 or later\)",
        ),
        (
            "1m",
            "2024-07-01",
            "2024-07-10",
            r"2024-07-01 \.\. 2024-07-10 is 10 days: Yahoo serves 1m bars 7 days per request at most",
        ),
        (
            "5m",
            "2024-05-01",
            None,
            r"too old for 5m bars: Yahoo keeps them for the last 60 days only \(2024-05-21 or later\)",
        ),
        (
            "1h",
            "2022-07-01",
            None,
            r"too old for 1h bars: Yahoo keeps them for the last 730 days only \(2022-07-21 or later\)",
        ),
        ("15m", None, None, r"interval '15m' needs data.start_date"),
        ("4h", "2024-07-01", None, r"Yahoo has no 4h bars; load interval = \"1h\" and set resample = \"4h\""),
    ],
)
def test_yahoo_history_limits_are_one_line_errors(interval: str, start: Any, end: Any, message: str) -> None:
    fake = intraday_fake()
    with pytest.raises(DataError, match=message) as err:
        _FixedToday("yfinance", {}, download=fake).load_data(["AAPL"], start, end, interval)
    assert "\n" not in str(err.value) and fake.calls == []  # refused before any request


def test_intraday_yfinance_inside_limits_downloads() -> None:
    fake = intraday_fake()
    panel = _FixedToday("yfinance", {}, download=fake).load_data(["AAPL"], "2024-07-15", "2024-07-19", "5m")
    assert len(fake.calls) == 1 and len(panel)
