"""QLOP's own contract suite (``qlop.testing.FeatureStepContract``) run on every bundled feature step."""

from __future__ import annotations

from qlop.testing import FeatureStepContract, make_ohlcv_panel


class _WithFeatureColumn:
    """A panel that also holds an earlier step's scale-free column (a 5-bar return), for steps that
    read features rather than prices."""

    def make_panel(self, seed=0, n_days=None):
        panel = make_ohlcv_panel(self.panel_tickers, n_days=n_days or self.panel_days, seed=seed)
        close = panel["close"]
        panel["mom_5"] = close / close.groupby(level="ticker").shift(5) - 1.0
        return panel


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


class TestMacdNormalized(FeatureStepContract):
    component_name, params = "macd", {"normalize": True}  # scale-free: checked on a rescaled panel


class TestSma(FeatureStepContract):
    component_name, params = "sma", {"timeperiod": 20, "raw": True}


class TestSmaRatio(FeatureStepContract):
    component_name, params = "sma", {"timeperiod": 20}


class TestEma(FeatureStepContract):
    component_name, params = "ema", {"timeperiod": 20, "raw": True}


class TestEmaRatio(FeatureStepContract):
    component_name, params = "ema", {"timeperiod": 20}


class TestBollinger(FeatureStepContract):
    component_name, params = "bollinger", {"raw": True}


class TestBollingerRatios(FeatureStepContract):
    component_name, params = "bollinger", {}


class TestReturns(FeatureStepContract):
    component_name, params = "returns", {"windows": [1, 5, 20], "kinds": ["simple", "log"]}


class TestLag(FeatureStepContract):
    component_name, params = "lag", {"columns": ["close", "volume"], "periods": [1, 5]}


class TestLagOfFeature(_WithFeatureColumn, FeatureStepContract):
    component_name, params = "lag", {"columns": ["mom_5"], "periods": [1, 5]}


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


class TestXrankOfFeature(_WithFeatureColumn, FeatureStepContract):
    component_name, params = "xrank", {"columns": ["mom_5"]}
    per_ticker = False


def test_scale_free_declarations():
    """Raw price levels do not claim scale_free; their scale-free forms do (the contract checks those)."""
    from qlop.plugins.manager import get_plugin_manager

    pm = get_plugin_manager()

    def claims(name, **params):
        return pm.create("feature_step", name, params, "step_params").scale_free

    assert not claims("macd") and claims("macd", normalize=True)
    assert not claims("atr") and claims("natr")
    assert not claims("sma", raw=True) and claims("sma")
    assert not claims("bollinger", raw=True) and claims("bollinger")
    assert not claims("lag", columns=["close"]) and claims("lag", columns=["rsi_14"])
    assert not claims("xrank", columns=["close"]) and claims("xrank", columns=["ret_20"])
    assert not claims("talib", function="ADX")


def test_every_bundled_step_has_a_contract_class():
    from qlop.plugins.manager import get_plugin_manager

    registry = get_plugin_manager().registry("feature_step")
    bundled = {e.spec.name for e in registry.entries() if e.plugin == "qlop_contrib.features"}
    covered = {
        cls.component_name
        for cls in globals().values()
        if isinstance(cls, type) and issubclass(cls, FeatureStepContract) and cls.component_name
    }
    assert covered == bundled
