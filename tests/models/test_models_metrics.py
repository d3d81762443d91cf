"""ML metrics against scikit-learn and SciPy as independent references."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr
from sklearn import metrics as skm

from qlop.ml_metrics import classification_metrics, regression_metrics, roc_auc, spearman_ic


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_classification_metrics_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    y = (rng.uniform(size=2000) < 0.3).astype(float)
    # rounded to 2 decimals: many ties, which AUC must count half
    p = np.clip(np.round(0.3 + 0.2 * (y - 0.3) + rng.normal(0, 0.15, y.size), 2), 0.01, 0.99)
    m = classification_metrics(y, p, threshold=0.4)
    assert m["auc"] == pytest.approx(skm.roc_auc_score(y, p), abs=1e-12)
    assert m["log_loss"] == pytest.approx(skm.log_loss(y, p), rel=1e-10)
    assert m["brier"] == pytest.approx(skm.brier_score_loss(y, p), rel=1e-12)
    hit = p >= 0.4
    assert m["precision"] == pytest.approx(skm.precision_score(y, hit), rel=1e-12)
    assert m["recall"] == pytest.approx(skm.recall_score(y, hit), rel=1e-12)
    assert m["base_rate"] == pytest.approx(y.mean())
    assert m["n"] == 2000


def test_undefined_values_are_none_not_made_up():
    assert roc_auc(np.ones(5), np.linspace(0, 1, 5)) is None
    m = classification_metrics(np.zeros(4), np.full(4, 0.1), threshold=0.5)
    assert m["auc"] is None and m["precision"] is None and m["recall"] is None
    assert spearman_ic(np.arange(5.0), np.ones(5)) is None


def test_regression_metrics_match_scipy():
    rng = np.random.default_rng(3)
    y = rng.normal(size=500)
    pred = np.round(0.5 * y + rng.normal(size=500), 1)
    m = regression_metrics(y, pred)
    assert m["ic"] == pytest.approx(spearmanr(y, pred).statistic, abs=1e-12)
    assert m["pearson"] == pytest.approx(pearsonr(y, pred).statistic, abs=1e-12)
    assert m["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(y, pred)))
    assert m["mae"] == pytest.approx(skm.mean_absolute_error(y, pred))
