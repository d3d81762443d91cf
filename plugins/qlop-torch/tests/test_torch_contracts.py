"""QLOP's model contract for both networks and both tasks, found by name through the entry point as a
run finds them (tiny networks, few epochs)."""

from __future__ import annotations

from qlop.testing import ModelContract

TINY = {"hidden_size": 8, "epochs": 6, "batch_size": 64, "learning_rate": 0.02, "early_stopping_patience": 3}


class TestLSTMClassifier(ModelContract):
    component_name = "lstm"
    params = {**TINY, "lookback": 5}
    task = "classification"


class TestLSTMRegressor(ModelContract):
    component_name = "lstm"
    params = {**TINY, "lookback": 3, "num_layers": 2, "dropout": 0.1}
    task = "regression"


class TestMLPClassifier(ModelContract):
    component_name = "mlp"
    params = {**TINY, "num_layers": 2, "dropout": 0.1}
    task = "classification"


class TestMLPRegressor(ModelContract):
    component_name = "mlp"
    params = TINY
    task = "regression"
