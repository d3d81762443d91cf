"""Intraday bars: sessions, periods per year, validation, resampling and synthetic session structure.

Every expected figure is computed independently here (plain loops over bars, hand-counted XNYS hours
from the published calendar), never read back from the code under test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from qlop.config import DataConfig
from qlop.errors import ConfigError, DataError
from qlop.resample import resample_panel
from qlop.schema import validate_panel
from qlop.sessions import (
    BarSpec,
    bars_per_session,
    last_bar_of_session,
    minutes_to_close,
    panel_bars,
    periods_per_year,
    session_bars,
    session_ids,
    session_open_close,
    time_of_day,
)
from qlop.stages.data import load_panel, read_panel

NY = "America/New_York"
XNYS_1H = BarSpec("1h", "XNYS", NY)


def ny(*stamps: str) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(list(stamps)).tz_localize(NY).tz_convert("UTC")


def frame(stamps: pd.DatetimeIndex, ticker: str = "AAA", price: float = 100.0) -> pd.DataFrame:
    n = len(stamps)
    close = price + np.arange(n, dtype=float)
    return pd.DataFrame(
        {
            "ticker": ticker,
            "date": stamps,
            "open": close - 0.5,
            "high": close + 1.0,
            "low": close - 1.0,
            "close": close,
            "adj_close": close,
            "volume": 1000.0 + np.arange(n),
        }
    )


# -- sessions and periods per year -------------------------------------------------------------------------------------


def test_periods_per_year_are_bars_per_session_times_sessions_per_year() -> None:
    assert periods_per_year("1h", "24/7") == 8760.0  # 24 x 365
    assert periods_per_year("1m", "24/7") == 525_600.0
    assert periods_per_year("4h", "24/7") == 6 * 365
    # XNYS: 09:30-16:00 = 390 minutes -> ceil(390 / 60) = 7 hourly bars (the last 15:30-16:00)
    assert bars_per_session("1h", "XNYS") == 7
    assert periods_per_year("1h", "XNYS") == 7 * 252 == 1764
    assert periods_per_year("5m", "XNYS") == 78 * 252
    assert periods_per_year("4h", "XNYS") == 2 * 252
    assert periods_per_year("1d", "XNYS") == 252 and periods_per_year("1d", "24/7") == 365


def test_xnys_sessions_follow_the_exchange_calendar() -> None:
    bars = session_bars("XNYS", "1h", "2024-07-02", "2024-07-08")
    local = bars.tz_convert(NY)
    days = sorted({t.strftime("%Y-%m-%d") for t in local})
    # 4 July is a holiday, 3 July closes early at 13:00, the weekend has no session
    assert days == ["2024-07-02", "2024-07-03", "2024-07-05", "2024-07-08"]
    per_day = pd.Series(1, index=local.strftime("%Y-%m-%d")).groupby(level=0).sum()
    assert per_day.to_dict() == {"2024-07-02": 7, "2024-07-03": 4, "2024-07-05": 7, "2024-07-08": 7}
    assert local[0].strftime("%H:%M") == "09:30" and local[6].strftime("%H:%M") == "15:30"
    # winter: the same 09:30 New York open is 14:30 UTC instead of 13:30
    jan = session_bars("XNYS", "1h", "2024-01-02", "2024-01-02")
    assert [t.strftime("%H:%M") for t in jan[:1]] == ["14:30"]


def test_session_ids_open_close_and_minutes_to_close() -> None:
    stamps = ny("2024-07-03 09:30", "2024-07-03 12:30", "2024-07-05 15:30", "2024-07-05 20:00")
    sid = session_ids(stamps, "XNYS")
    day = lambda s: (pd.Timestamp(s) - pd.Timestamp(0)).days  # noqa: E731
    assert sid.tolist() == [day("2024-07-03"), day("2024-07-03"), day("2024-07-05"), -1]
    opens, closes = session_open_close(stamps, "XNYS")
    assert opens[0] == pd.Timestamp("2024-07-03 09:30", tz=NY) and closes[0] == pd.Timestamp("2024-07-03 13:00", tz=NY)
    assert pd.isna(opens[3])
    m = minutes_to_close(stamps, "XNYS", "1h")
    # 09:30 bar ends 10:30, early close 13:00 -> 150; the 12:30 bar is the day's last -> 0
    assert m[:3].tolist() == [150.0, 0.0, 0.0] and np.isnan(m[3])
    assert time_of_day(stamps, "XNYS")[:3].tolist() == [570.0, 750.0, 930.0]
    utc = pd.DatetimeIndex(["2024-01-01 00:00", "2024-01-01 23:00"], tz="UTC")
    assert minutes_to_close(utc, "24/7", "1h").tolist() == [1380.0, 0.0]
    assert time_of_day(utc, "24/7").tolist() == [0.0, 1380.0]


def test_last_bar_of_session_per_ticker() -> None:
    stamps = ny("2024-07-02 14:30", "2024-07-02 15:30", "2024-07-03 09:30", "2024-07-02 15:30")
    groups = np.array([0, 0, 0, 1])
    assert last_bar_of_session(stamps, "XNYS", groups).tolist() == [False, True, True, True]


def test_config_needs_a_session_for_intraday_and_checks_names() -> None:
    with pytest.raises(ValueError, match="needs a session"):
        DataConfig(interval="1h")
    with pytest.raises(ValueError, match="session 'NOPE' is not known"):
        DataConfig(interval="1h", session="NOPE")
    with pytest.raises(ValueError, match="unknown interval '2h'"):
        DataConfig(interval="2h", session="24/7")
    with pytest.raises(ValueError, match="not a coarser multiple"):
        DataConfig(interval="15m", session="24/7", resample="5m")
    assert DataConfig(interval="1m", session="XNYS", resample="1h").bar_interval == "1h"
    assert DataConfig().bar_interval == "1d"


def test_unknown_interval_name_is_a_config_error() -> None:
    from qlop.sessions import interval_minutes

    with pytest.raises(ConfigError, match="interval '7m' is not supported"):
        interval_minutes("7m")


# -- validation --------------------------------------------------------------------------------------------------------


def test_intraday_panel_is_utc_with_bars_in_attrs() -> None:
    stamps = ny("2024-07-02 09:30", "2024-07-02 10:30", "2024-07-02 11:30")
    panel = validate_panel(frame(stamps), "t", bars=XNYS_1H)
    level = panel.index.get_level_values("date")
    assert str(level.dtype) == "datetime64[ns, UTC]"
    assert level[0] == pd.Timestamp("2024-07-02 13:30", tz="UTC")
    assert panel_bars(panel) == XNYS_1H


def test_bar_outside_the_session_names_ticker_and_time() -> None:
    stamps = ny("2024-07-02 09:30", "2024-07-02 10:30", "2024-07-04 10:30")  # 4 July: holiday
    with pytest.raises(
        DataError,
        match=r"^t: ticker AAA, date 2024-07-04T14:30:00\+00:00, column date, row 3: bar at 2024-07-04 10:30 "
        r"America/New_York is outside the XNYS session",
    ):
        validate_panel(frame(stamps), "t", bars=XNYS_1H)
    night = ny("2024-07-02 09:30", "2024-07-02 17:30")
    with pytest.raises(DataError, match="row 2: bar at 2024-07-02 17:30 America/New_York is outside the XNYS"):
        validate_panel(frame(night), "t", bars=XNYS_1H)


def test_bar_off_the_interval_grid() -> None:
    stamps = ny("2024-07-02 09:30", "2024-07-02 10:00")
    with pytest.raises(DataError, match="row 2: bar is not on the 1h grid of the XNYS session"):
        validate_panel(frame(stamps), "t", bars=XNYS_1H)
    utc = pd.DatetimeIndex(["2024-01-01 00:00", "2024-01-01 00:07"], tz="UTC")
    with pytest.raises(DataError, match="row 2: bar is not on the 5m grid of the 24/7 session"):
        validate_panel(frame(utc), "t", bars=BarSpec("5m", "24/7"))


def test_duplicate_and_unsorted_bars() -> None:
    stamps = ny("2024-07-02 09:30", "2024-07-02 10:30", "2024-07-02 10:30")
    with pytest.raises(DataError, match=r"date 2024-07-02T14:30:00\+00:00, column date, row 3: duplicated date"):
        validate_panel(frame(stamps), "t", bars=XNYS_1H)
    back = ny("2024-07-02 10:30", "2024-07-02 09:30")
    with pytest.raises(DataError, match=r"row 2: dates out of order \(comes after 2024-07-02T14:30:00\+00:00\)"):
        validate_panel(frame(back), "t", bars=XNYS_1H)


def test_naive_timestamps_need_a_time_zone() -> None:
    naive = frame(pd.DatetimeIndex(["2024-07-02 09:30", "2024-07-02 10:30"]))
    naive["date"] = naive["date"].dt.strftime("%Y-%m-%d %H:%M")
    with pytest.raises(DataError, match="row 1: timestamp '2024-07-02 09:30' has no time zone"):
        validate_panel(naive, "t", bars=XNYS_1H)
    panel = validate_panel(naive, "t", bars=XNYS_1H, timezone=NY)
    assert panel.index.get_level_values("date")[0] == pd.Timestamp("2024-07-02 13:30", tz="UTC")
    offsets = naive.assign(date=["2024-07-02T09:30:00-04:00", "2024-07-02T14:30:00Z"])
    assert len(validate_panel(offsets, "t", bars=XNYS_1H)) == 2


def test_daily_panels_are_unchanged() -> None:
    days = frame(pd.DatetimeIndex(["2024-07-01", "2024-07-02"]))
    panel = validate_panel(days, "t")
    assert str(panel.index.get_level_values("date").dtype) == "datetime64[ns]" and panel.attrs == {}


# -- resampling --------------------------------------------------------------------------------------------------------


def loop_resample(panel: pd.DataFrame, minutes: int, tz: str, open_hm: tuple[int, int]) -> pd.DataFrame:
    """A plain per-bar loop: bucket = session open + k x target in local time, per ticker and day."""
    rows: dict[tuple[str, pd.Timestamp], dict[str, Any]] = {}
    for (ticker, ts), r in panel.iterrows():
        local = ts.tz_convert(tz)
        opened = local.normalize() + pd.Timedelta(hours=open_hm[0], minutes=open_hm[1])
        k = int((local - opened) / pd.Timedelta(minutes=minutes))
        key = (ticker, (opened + pd.Timedelta(minutes=minutes * k)).tz_convert("UTC"))
        if key not in rows:
            rows[key] = dict(open=r.open, high=r.high, low=r.low, close=r.close, adj_close=r.adj_close, volume=0.0)
        b = rows[key]
        b["high"], b["low"] = max(b["high"], r.high), min(b["low"], r.low)
        b["close"], b["adj_close"] = r.close, r.adj_close
        b["volume"] += r.volume
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index = pd.MultiIndex.from_tuples(list(rows), names=["ticker", "date"])
    return out.sort_index()


def synthetic(session: str, interval: str, n_bars: int, start: str, n_tickers: int = 2, **params: Any) -> pd.DataFrame:
    cfg = DataConfig(
        data_source_type="synthetic",
        data_source_params={"n_tickers": n_tickers, "n_bars": n_bars, "start": start, **params},
        interval=interval,
        session=session,
    )
    return load_panel(cfg, refresh=True)


def test_resample_matches_a_plain_loop_per_session() -> None:
    fine = synthetic("XNYS", "5m", 600, "2024-07-01")  # spans the 3 July early close and 4 July holiday
    coarse = resample_panel(fine, "1h")
    expected = loop_resample(fine, 60, NY, (9, 30))
    assert panel_bars(coarse) == BarSpec("1h", "XNYS", NY)
    pd.testing.assert_frame_equal(
        coarse.reset_index().astype({"date": "datetime64[ns, UTC]"}).set_index(["ticker", "date"]),
        expected.astype(float),
        check_names=False,
        check_index_type=False,
    )
    # no bar spans a session: each coarse bar's fine bars share one session
    local = coarse.index.get_level_values("date").tz_convert(NY)
    assert set(local.strftime("%H:%M")) <= {f"{h:02d}:30" for h in range(9, 16)}


def test_resample_24_7_to_4h_and_to_daily() -> None:
    fine = synthetic("24/7", "1h", 24 * 5, "2024-03-01", n_tickers=1)
    four = resample_panel(fine, "4h")
    assert len(four) == 30
    expected = loop_resample(fine, 240, "UTC", (0, 0))
    np.testing.assert_allclose(four.to_numpy(), expected.to_numpy())
    daily = resample_panel(fine, "1d")
    assert str(daily.index.get_level_values("date").dtype) == "datetime64[ns]" and len(daily) == 5
    first = fine.iloc[:24]
    assert daily.iloc[0].open == first.open.iloc[0] and daily.iloc[0].high == first.high.max()
    assert daily.iloc[0].volume == pytest.approx(first.volume.sum())


def test_resample_option_runs_through_load_panel(tmp_path: Path) -> None:
    cfg = DataConfig(
        data_source_type="synthetic",
        data_source_params={"n_tickers": 1, "n_bars": 390 * 3, "start": "2024-07-08"},
        interval="1m",
        session="XNYS",
        resample="1h",
    )
    panel = load_panel(cfg, refresh=True)
    assert panel_bars(panel).interval == "1h" and len(panel) == 21
    again = load_panel(cfg)  # the cache entry keeps the bars in its attrs
    assert panel_bars(again) == panel_bars(panel)
    pd.testing.assert_frame_equal(again, panel)


# -- synthetic session structure --------------------------------------------------------------------------------------


def test_synthetic_exchange_hours_have_overnight_gaps_and_u_shaped_volume() -> None:
    panel = synthetic("XNYS", "5m", 78 * 60, "2024-01-02", n_tickers=3)
    assert panel_bars(panel) == BarSpec("5m", "XNYS", NY)
    validate_panel(panel, "again")  # every bar inside a session, on the grid
    stamps = panel.index.get_level_values("date")
    local = stamps.tz_convert(NY)
    assert local.strftime("%H:%M").min() == "09:30" and local.strftime("%H:%M").max() == "15:55"
    a = panel.loc["SYN00000"]
    sid = session_ids(a.index, "XNYS")
    first = np.r_[True, sid[1:] != sid[:-1]]
    gap = np.log(a.open.to_numpy()[1:] / a.close.to_numpy()[:-1])
    # the open gap moves the price only at a session's first bar; within a session open = last close
    assert np.allclose(gap[~first[1:]], 0.0, atol=1e-12) and np.abs(gap[first[1:]]).mean() > 1e-4
    minute = local.hour * 60 + local.minute
    vol = panel.volume.groupby(np.asarray(minute)).median()
    assert vol.iloc[0] > 2 * vol.loc[12 * 60] and vol.iloc[-1] > 2 * vol.loc[12 * 60]


def test_synthetic_24_7_has_every_hour_and_no_gaps() -> None:
    panel = synthetic("24/7", "1h", 24 * 10, "2024-02-27", n_tickers=2)
    a = panel.loc["SYN00000"]
    assert len(a) == 240 and (np.diff(a.index.asi8) == 3_600_000_000_000).all()
    # no overnight gap: each bar opens at the last close (only a rare jump moves it)
    moved = ~np.isclose(a.open.to_numpy()[1:], a.close.to_numpy()[:-1], rtol=1e-12)
    assert moved.mean() < 0.02
    again = synthetic("24/7", "1h", 24 * 10, "2024-02-27", n_tickers=2)
    pd.testing.assert_frame_equal(panel, again)


def test_intraday_panel_round_trips_through_parquet(tmp_path: Path) -> None:
    from qlop.atomic import write_parquet

    panel = synthetic("XNYS", "15m", 200, "2024-07-01", n_tickers=2)
    path = write_parquet(panel, tmp_path / "data.parquet")
    back = read_panel(path)
    pd.testing.assert_frame_equal(back, panel)
    assert panel_bars(back) == panel_bars(panel)


# -- file sources ------------------------------------------------------------------------------------------------------


def files_config(path: Path, source: str = "csv", **params: Any) -> DataConfig:
    return DataConfig(
        data_source_type=source,
        data_source_params={"path": str(path), **params},
        interval="1h",
        session="XNYS",
        start_date="2024-07-02",
        end_date="2024-07-03",
    )


def bars_frame() -> pd.DataFrame:
    stamps = session_bars("XNYS", "1h", "2024-07-01", "2024-07-05")
    return frame(stamps).drop(columns="ticker")


def test_csv_with_offsets_and_naive_times_in_a_declared_zone(tmp_path: Path) -> None:
    df = bars_frame()
    offsets = df.assign(date=df["date"].dt.tz_convert(NY).map(lambda t: t.isoformat()))
    (tmp_path / "AAA.csv").write_text(offsets.to_csv(index=False))
    panel = load_panel(files_config(tmp_path), refresh=True)
    # the window selects whole sessions by their date: 2 July (7 bars) and 3 July (early close: 4)
    assert len(panel) == 11 and panel_bars(panel) == XNYS_1H
    assert panel.index.get_level_values("date")[0] == pd.Timestamp("2024-07-02 13:30", tz="UTC")
    naive_dir = tmp_path / "naive"
    naive_dir.mkdir()
    naive = df.assign(date=df["date"].dt.tz_convert(NY).dt.strftime("%Y-%m-%d %H:%M"))
    (naive_dir / "AAA.csv").write_text(naive.to_csv(index=False))
    same = load_panel(files_config(naive_dir, timezone=NY), refresh=True)
    pd.testing.assert_frame_equal(same, panel)
    with pytest.raises(
        DataError, match=r"AAA.csv: ticker AAA, column date, row 1: timestamp '2024-07-01 09:30' has no time"
    ):
        load_panel(files_config(naive_dir), refresh=True)


def test_parquet_with_a_tz_aware_index_and_a_qlop_panel_file(tmp_path: Path) -> None:
    df = bars_frame()
    yahoo_like = df.set_index(df["date"].dt.tz_convert(NY).rename("Datetime")).drop(columns="date")
    yahoo_like.columns = [c.title().replace("_", " ") for c in yahoo_like.columns]
    yahoo_like.to_parquet(tmp_path / "AAA.parquet")
    panel = load_panel(files_config(tmp_path, "parquet"), refresh=True)
    assert len(panel) == 11 and str(panel.index.get_level_values("date").dtype) == "datetime64[ns, UTC]"
    # a QLOP intraday data.parquet (index ticker, date in UTC) is itself a valid input
    single = tmp_path / "long"
    single.mkdir()
    panel.to_parquet(single / "panel.parquet")
    again = load_panel(files_config(single / "panel.parquet", "parquet"), refresh=True)
    pd.testing.assert_frame_equal(again, panel)


def test_a_bar_outside_the_session_stops_the_cli_in_one_line(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from qlop.cli.main import cli

    df = bars_frame()
    df.loc[3, "date"] = pd.Timestamp("2024-07-04 14:30", tz="UTC")  # Independence Day, 10:30 New York
    df = df.sort_values("date")
    (tmp_path / "AAA.csv").write_text(df.assign(date=df["date"].map(lambda t: t.isoformat())).to_csv(index=False))
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        f'[data]\ndata_source_type = "csv"\ndata_source_params = {{ path = "{tmp_path}" }}\n'
        'interval = "1h"\nsession = "XNYS"\n'
    )
    result = CliRunner().invoke(cli, ["data", "load", "-c", str(cfg), "--run-dir", str(tmp_path / "run")])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines[-1].startswith("Error: ") and "Traceback" not in result.output
    assert "ticker AAA, date 2024-07-04T14:30:00+00:00, column date" in lines[-1]
    assert "bar at 2024-07-04 10:30 America/New_York is outside the XNYS session" in lines[-1]
    assert not (tmp_path / "run" / "data.parquet").exists()


def test_data_info_counts_missing_bars_in_local_time() -> None:
    from qlop.stages.data import summarize_panel

    stamps = session_bars("XNYS", "1h", "2024-07-02", "2024-07-05")
    both = pd.concat([frame(stamps, "AAA"), frame(stamps.delete(2), "BBB")])
    panel = validate_panel(both, "t", bars=XNYS_1H)
    s = summarize_panel(panel)
    assert s["interval"] == "1h" and s["session"] == "XNYS" and s["timezone"] == NY
    assert s["sessions"] == 3 and s["bar_starts"] == 18  # 2 July (7), 3 July (4, early close), 5 July (7)
    bbb = next(r for r in s["per_ticker"] if r["ticker"] == "BBB")
    assert bbb["missing_sessions"] == 1 and bbb["missing_dates"] == ["2024-07-02 11:30"]
    assert s["first"] == "2024-07-02 09:30" and s["last"] == "2024-07-05 15:30"
    assert [(g["after"], g["before"]) for g in s["gaps"]] == [("2024-07-03", "2024-07-05")]
