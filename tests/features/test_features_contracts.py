"""QLOP's own contract suite (``qlop.testing.FeatureStepContract``) run on every bundled feature step."""

from __future__ import annotations

from qlop.testing import FeatureStepContract


class TestTalibAdx(FeatureStepContract):
    component_name, params = "talib", {"function": "ADX", "timeperiod": 14}


class TestTalibStoch(FeatureStepContract):
    component_name, params = "talib", {"function": "STOCH"}


class TestTalibObv(FeatureStepContract):
    component_name, params = "talib", {"function": "OBV"}


class TestRsi(FeatureStepContract):
    component_name, params = "rsi", {"timeperiod": 14}


class TestAtr(FeatureStepContract):
    component_name, params = "atr", {"timeperiod": 14}


class TestNatr(FeatureStepContract):
    component_name, params = "natr", {"timeperiod": 14}


class TestMacd(FeatureStepContract):
    component_name, params = "macd", {}


class TestSma(FeatureStepContract):
    component_name, params = "sma", {"timeperiod": 20, "raw": True}


class TestEma(FeatureStepContract):
    component_name, params = "ema", {"timeperiod": 20, "raw": True}


class TestBollinger(FeatureStepContract):
    component_name, params = "bollinger", {"raw": True}


class TestReturns(FeatureStepContract):
    component_name, params = "returns", {"windows": [1, 5, 20], "kinds": ["simple", "log"]}


class TestLag(FeatureStepContract):
    component_name, params = "lag", {"columns": ["close", "volume"], "periods": [1, 5]}


class TestRvol(FeatureStepContract):
    component_name, params = "rvol", {"window": 20}


class TestZscore(FeatureStepContract):
    component_name, params = "zscore", {"columns": ["close", "volume"], "window": 20}


class TestDrawdown(FeatureStepContract):
    component_name, params = "drawdown", {"windows": [20, 252]}


class TestRelvol(FeatureStepContract):
    component_name, params = "relvol", {"window": 20}


class TestCalendar(FeatureStepContract):
    component_name, params = "calendar", {"fields": ["weekday", "month", "day_of_month", "day_of_year", "quarter"]}


class TestXrank(FeatureStepContract):
    component_name, params = "xrank", {"columns": ["close", "volume"]}
    per_ticker = False  # a rank across tickers on each date: same-date values only (checked in causality tests)


def test_every_bundled_step_has_a_contract_class():
    from qlop.plugins.manager import get_plugin_manager

    registry = get_plugin_manager().registry("feature_step")
    bundled = {e.spec.name for e in registry.entries() if e.plugin == "qlop_contrib.features"}
    covered = {cls.component_name for cls in globals().values()
               if isinstance(cls, type) and issubclass(cls, FeatureStepContract) and cls.component_name}
    assert covered == bundled
