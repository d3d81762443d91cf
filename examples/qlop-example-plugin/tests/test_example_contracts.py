"""The example plugin's components pass QLOP's contract tests.

Components are looked up by name through the installed ``qlop`` entry point, exactly as a config
names them, so these tests also prove the packaging.
"""

from qlop.testing import FeatureStepContract, LabelContract, ModelContract, StrategyContract


class TestRangePosition(FeatureStepContract):
    component_name = "range_position"
    params = {"window": 10}


class TestForwardReturnSign(LabelContract):
    component_name = "forward_return_sign"
    params = {"horizon": 3, "threshold": 0.001}


class TestNumpyLogistic(ModelContract):
    component_name = "numpy_logistic"
    params = {"l2": 0.5}


class TestProbabilityBand(StrategyContract):
    component_name = "probability_band"
    params = {"upper": 0.6, "lower": 0.4, "allow_short": True}
