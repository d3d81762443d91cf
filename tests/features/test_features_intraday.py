"""Feature steps on intraday panels: the contract suite (causality across session breaks, no ticker
bleed, scale freedom) on exchange-hours and 24/7 bars, and the intraday calendar fields and
annualisation checked against plain per-bar computations."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest

from qlop.adapters import run_feature_step
from qlop.errors import DataError
from qlop.plugins.manager import get_plugin_manager
from qlop.testing import FeatureStepContract, make_intraday_panel, make_ohlcv_panel


class _Xnys5m:
    """5-minute XNYS bars over several sessions (nights, a weekend, the 4 July holiday)."""

    interval: ClassVar[str] = "5m"
    session: ClassVar[str] = "XNYS"

    def make_panel(self, seed: int = 0, n_days: int | None = None) -> pd.DataFrame:
        return make_intraday_panel(
            self.panel_tickers, n_bars=n_days or 400, interval=self.interval, session=self.session, seed=seed
        )


class _Crypto1h(_Xnys5m):
    interval, session = "1h", "24/7"


class TestCalendarIntradayXnys(_Xnys5m, FeatureStepContract):
    component_name = "calendar"
    params = {"fields": ["weekday", "month", "time_of_day", "minutes_to_close"]}


class TestCalendarIntraday247(_Crypto1h, FeatureStepContract):
    component_name = "calendar"
    params = {"fields": ["weekday", "time_of_day", "minutes_to_close"]}


class TestRvolIntraday(_Xnys5m, FeatureStepContract):
    component_name, params = "rvol", {"window": 12}


class TestReturnsIntraday(_Crypto1h, FeatureStepContract):
    component_name, params = "returns", {"windows": [1, 6]}


class TestRsiIntraday(_Xnys5m, FeatureStepContract):
    component_name, params = "rsi", {"timeperiod": 14}


class TestZscoreIntraday(_Xnys5m, FeatureStepContract):
    component_name, params = "zscore", {"columns": ["close"], "window": 10}


def step(name: str, params: dict[str, Any]) -> Any:
    return get_plugin_manager().create("feature_step", name, params, "test")


def test_calendar_fields_on_xnys_bars_match_local_clock() -> None:
    panel = make_intraday_panel(("AAA",), n_bars=30, interval="1h", session="XNYS", start="2024-07-02", ragged=False)
    out = run_feature_step(step("calendar", {"fields": ["weekday", "time_of_day", "minutes_to_close"]}), panel)
    local = panel.index.get_level_values("date").tz_convert("America/New_York")
    # a plain loop: minutes since local midnight, and the day's close (13:00 on 3 July, else 16:00)
    for k, t in enumerate(local):
        close = 13 * 60 if t.strftime("%m-%d") == "07-03" else 16 * 60
        minute = t.hour * 60 + t.minute
        assert out["time_of_day"].iloc[k] == minute
        assert out["minutes_to_close"].iloc[k] == max(close - (minute + 60), 0)
        assert out["weekday"].iloc[k] == t.weekday()


def test_intraday_fields_on_daily_bars_are_refused() -> None:
    with pytest.raises(DataError, match="calendar: field 'time_of_day' needs intraday bars"):
        run_feature_step(step("calendar", {"fields": ["time_of_day"]}), make_ohlcv_panel(n_days=30))


@pytest.mark.parametrize(("interval", "session", "per_year"), [("1h", "24/7", 8760.0), ("5m", "XNYS", 19656.0)])
def test_rvol_annualises_with_the_sessions_periods_per_year(interval: str, session: str, per_year: float) -> None:
    panel = make_intraday_panel(("AAA",), n_bars=200, interval=interval, session=session, ragged=False)
    annual = run_feature_step(step("rvol", {"window": 10}), panel).iloc[:, 0].to_numpy()
    raw = run_feature_step(step("rvol", {"window": 10, "annualize": False}), panel).iloc[:, 0].to_numpy()
    close = panel["close"].to_numpy()
    r = np.log(close[1:] / close[:-1])
    k = 50  # a plain sample std of the 10 returns ending at row k
    assert raw[k] == pytest.approx(np.std(r[k - 10 : k], ddof=1), rel=1e-9)
    assert annual[k] == pytest.approx(raw[k] * np.sqrt(per_year), rel=1e-12)
