"""Bundled models plugin: XGBoost, logistic regression, random forest and the base-rate baseline.

Registration imports nothing heavy: factories are ``"module:Class"`` strings resolved on first use.
"""

from __future__ import annotations

import os

from qlop.api import ComponentSpec, hookimpl

_PKG = "qlop_contrib.models"

# XGBoost and scikit-learn parallelise with OpenMP, whose threads spin while they wait by default. On a
# machine whose cores are busy with other work, spinning made a 2-thread XGBoost fit 10-20x slower
# than a 1-thread one; passive waiting removes that cliff at a negligible cost on an idle machine.
# OpenMP reads this once, when it is first loaded, so it is set here, before any model is imported
# (an explicit setting in the environment wins).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@hookimpl
def qlop_register_model() -> list[ComponentSpec]:
    return [
        ComponentSpec(
            "xgboost",
            f"{_PKG}.xgboost_model:XGBoostModel",
            "Gradient-boosted trees (XGBoost) with early stopping; classifier or regressor",
            params_model=f"{_PKG}.xgboost_model:XGBoostParams",
        ),
        ComponentSpec(
            "logistic_regression",
            f"{_PKG}.logistic_regression_model:LogisticRegressionModel",
            "L2 logistic regression on standardised features (scikit-learn)",
            params_model=f"{_PKG}.logistic_regression_model:LogisticRegressionParams",
        ),
        ComponentSpec(
            "random_forest",
            f"{_PKG}.random_forest_model:RandomForestModel",
            "Random forest (scikit-learn); classifier or regressor",
            params_model=f"{_PKG}.random_forest_model:RandomForestParams",
        ),
        ComponentSpec(
            "baseline",
            f"{_PKG}.baseline_model:BaselineModel",
            "Training base rate (or mean): the bar every model must beat",
            params_model=f"{_PKG}.baseline_model:BaselineParams",
        ),
    ]
