"""Bundled models plugin: XGBoost, logistic regression, random forest and the base-rate baseline.

Registration imports nothing heavy: factories are ``"module:Class"`` strings resolved on first use.
"""

from __future__ import annotations

from qlop.plugins.markers import hookimpl
from qlop.plugins.specs import ComponentSpec

_PKG = "qlop_contrib.models"


@hookimpl
def qlop_register_model() -> list[ComponentSpec]:
    return [
        ComponentSpec("xgboost", f"{_PKG}.xgboost_model:XGBoostModel",
                      "Gradient-boosted trees (XGBoost) with early stopping; classifier or regressor",
                      params_model=f"{_PKG}.xgboost_model:XGBoostParams"),
        ComponentSpec("logistic_regression", f"{_PKG}.logistic_regression_model:LogisticRegressionModel",
                      "L2 logistic regression on standardised features (scikit-learn)",
                      params_model=f"{_PKG}.logistic_regression_model:LogisticRegressionParams"),
        ComponentSpec("random_forest", f"{_PKG}.random_forest_model:RandomForestModel",
                      "Random forest (scikit-learn); classifier or regressor",
                      params_model=f"{_PKG}.random_forest_model:RandomForestParams"),
        ComponentSpec("baseline", f"{_PKG}.baseline_model:BaselineModel",
                      "Training base rate (or mean): the bar every model must beat",
                      params_model=f"{_PKG}.baseline_model:BaselineParams"),
    ]
