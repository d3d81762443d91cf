"""validate_panel: every rule of the canonical OHLCV panel, with the one-line message users see."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qlop.errors import DataError
from qlop.schema import OHLCV_COLUMNS, validate_panel


def long_frame(n: int = 6, tickers: tuple[str, ...] = ("AAA",), start: str = "2020-01-01") -> pd.DataFrame:
    """A raw long frame (ticker, date columns) with consistent bars, in file order."""
    dates = pd.bdate_range(start, periods=n)
    parts = []
    for k, t in enumerate(tickers):
        close = 10.0 * (k + 1) + np.arange(n, dtype=float)
        parts.append(
            pd.DataFrame(
                {
                    "ticker": t,
                    "date": dates.strftime("%Y-%m-%d"),
                    "open": close - 0.5,
                    "high": close + 1.0,
                    "low": close - 1.0,
                    "close": close,
                    "adj_close": close,
                    "volume": 1000.0 + np.arange(n),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def error_of(df: pd.DataFrame, source: str = "f.csv") -> str:
    with pytest.raises(DataError) as info:
        validate_panel(df, source)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_canonical_output_shape() -> None:
    raw = long_frame(5, ("BBB", "AAA"))
    panel = validate_panel(raw, "f.csv")
    assert list(panel.index.names) == ["ticker", "date"]
    assert list(panel.columns) == list(OHLCV_COLUMNS)
    assert all(panel[c].dtype == np.float64 for c in OHLCV_COLUMNS)
    assert panel.index.get_level_values("date").dtype == np.dtype("datetime64[ns]")
    assert panel.index.is_monotonic_increasing and panel.index.is_unique
    # the values of each row travel with it through the sort
    assert panel.loc[("BBB", pd.Timestamp("2020-01-01")), "close"] == 10.0
    assert panel.loc[("AAA", pd.Timestamp("2020-01-07")), "close"] == 24.0


def test_accepts_index_form_and_is_idempotent() -> None:
    panel = validate_panel(long_frame(5, ("AAA", "BBB")))
    again = validate_panel(panel)
    pd.testing.assert_frame_equal(panel, again)


def test_zero_volume_becomes_missing_and_nan_volume_is_allowed() -> None:
    raw = long_frame(4)
    raw.loc[1, "volume"] = 0
    raw.loc[2, "volume"] = np.nan
    panel = validate_panel(raw)
    assert panel["volume"].isna().tolist() == [False, True, True, False]


def test_tz_aware_and_intraday_midnight_dates_are_normalised() -> None:
    raw = long_frame(3)
    raw["date"] = pd.to_datetime(raw["date"]).dt.tz_localize("America/New_York")
    panel = validate_panel(raw)
    dates = panel.index.get_level_values("date")
    assert dates.tz is None and (dates == dates.normalize()).all()
    assert dates[0] == pd.Timestamp("2020-01-01")


def test_interleaved_tickers_in_order_are_fine() -> None:
    raw = long_frame(4, ("AAA", "BBB"))
    interleaved = raw.iloc[[0, 4, 1, 5, 2, 6, 3, 7]]
    pd.testing.assert_frame_equal(validate_panel(interleaved), validate_panel(raw))


def test_duplicated_date() -> None:
    raw = long_frame(6)
    raw.loc[3, "date"] = raw.loc[2, "date"]
    msg = error_of(raw)
    assert msg == "f.csv: ticker AAA, date 2020-01-03, column date, row 4: duplicated date"


def test_dates_out_of_order_checked_on_raw_order() -> None:
    raw = long_frame(6).iloc[[0, 1, 3, 2, 4, 5]]
    msg = error_of(raw)
    assert msg == (
        "f.csv: ticker AAA, date 2020-01-03, column date, row 4: dates out of order (comes after 2020-01-06)"
    )


def test_out_of_order_in_a_long_file_names_the_ticker() -> None:
    raw = long_frame(4, ("AAA", "BBB"))
    raw = raw.iloc[[0, 1, 2, 3, 4, 6, 5, 7]]
    assert "ticker BBB, date 2020-01-02" in error_of(raw)


def test_high_below_max_open_close() -> None:
    raw = long_frame()
    raw.loc[2, "high"] = raw.loc[2, "close"] - 0.1
    msg = error_of(raw)
    assert msg.startswith("f.csv: ticker AAA, date 2020-01-03, column high, row 3: high 11.9 is below")


def test_low_above_min_open_close() -> None:
    raw = long_frame()
    raw.loc[4, "low"] = raw.loc[4, "open"] + 0.01
    raw.loc[5, "low"] = raw.loc[5, "open"] + 0.01
    msg = error_of(raw)
    assert "ticker AAA, date 2020-01-07, column low, row 5: low" in msg and msg.endswith("(and 1 more row)")


@pytest.mark.parametrize("column", ["open", "high", "low", "close", "adj_close"])
@pytest.mark.parametrize("value", [0.0, -3.0])
def test_non_positive_price(column: str, value: float) -> None:
    raw = long_frame()
    raw.loc[1, column] = value  # also breaks OHLC consistency: the price check must be reported first
    msg = error_of(raw)
    assert f"column {column}, row 2: non-positive price {value:g}" in msg


def test_missing_price_and_non_numeric_text() -> None:
    raw = long_frame()
    raw["close"] = raw["close"].astype(object)
    raw.loc[2, "close"] = "n/a"
    assert "column close, row 3: not a number: 'n/a'" in error_of(raw)
    raw = long_frame()
    raw.loc[2, "open"] = np.nan
    assert "column open, row 3: missing price" in error_of(raw)


@pytest.mark.parametrize("column", list(OHLCV_COLUMNS))
def test_missing_required_column(column: str) -> None:
    assert error_of(long_frame().drop(columns=column)) == f"f.csv: missing required column {column!r}"


def test_missing_ticker_or_date_column() -> None:
    assert "missing required column 'date'" in error_of(long_frame().drop(columns="date"))
    assert "missing required column 'ticker'" in error_of(long_frame().drop(columns="ticker"))


def test_unparsable_and_missing_date() -> None:
    raw = long_frame()
    raw.loc[2, "date"] = "2020-13-45"
    assert "f.csv: ticker AAA, column date, row 3: unparsable date '2020-13-45'" in error_of(raw)
    raw = long_frame()
    raw.loc[1, "date"] = None
    assert "row 2: missing date" in error_of(raw)


def test_negative_volume() -> None:
    raw = long_frame()
    raw.loc[0, "volume"] = -5
    assert "column volume, row 1: negative volume -5" in error_of(raw)


def test_empty_ticker_name() -> None:
    raw = long_frame()
    raw.loc[0, "ticker"] = "  "
    assert "column ticker, row 1: missing ticker" in error_of(raw)


def test_float_noise_on_ohlc_is_tolerated_but_real_violations_are_not() -> None:
    raw = long_frame()
    raw.loc[1, "high"] = raw.loc[1, "close"] * (1 - 1e-12)
    validate_panel(raw)
    raw.loc[1, "high"] = raw.loc[1, "close"] * (1 - 1e-6)
    error_of(raw)


def test_large_panel_checks_are_vectorised() -> None:
    """Correct on a larger shuffled-by-ticker input (sort is by ticker then date, rows travel intact)."""
    raw = long_frame(300, tuple(f"T{i:03d}" for i in range(40)))
    order = np.random.default_rng(0).permutation(40)
    blocks = [raw.iloc[k * 300 : (k + 1) * 300] for k in order]
    panel = validate_panel(pd.concat(blocks))
    pd.testing.assert_frame_equal(panel, validate_panel(raw))
    assert len(panel) == 12_000
