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


# -- the plain-numpy formulas ml_metrics used before it called scikit-learn: the outputs must not move --


def _rank(x):
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    starts = np.flatnonzero(np.concatenate([[True], xs[1:] != xs[:-1], [True]]))
    ranks = np.empty(x.size)
    ranks[order] = np.repeat((starts[:-1] + starts[1:] + 1) / 2.0, np.diff(starts))
    return ranks


def _corr(a, b):
    if a.size < 2 or a.std() == 0 or b.std() == 0:
        return None
    return float(np.mean((a - a.mean()) * (b - b.mean())) / (a.std() * b.std()))


def _reference_classification(y, p, threshold):
    yb = y.astype(bool)
    n_pos, n_hit = int(yb.sum()), int((p >= threshold).sum())
    tp = int(((p >= threshold) & yb).sum())
    auc = (
        None
        if n_pos in (0, y.size)
        else float((_rank(p)[yb].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * (y.size - n_pos)))
    )
    q = np.clip(p, 1e-15, 1 - 1e-15)
    return {
        "auc": auc,
        "log_loss": float(-np.mean(y * np.log(q) + (1 - y) * np.log1p(-q))),
        "brier": float(np.mean((p - y) ** 2)),
        "precision": tp / n_hit if n_hit else None,
        "recall": tp / n_pos if n_pos else None,
    }


@pytest.mark.parametrize("seed", range(6))
def test_outputs_equal_the_previous_numpy_formulas(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 400))
    y = (rng.uniform(size=n) < rng.uniform(0.05, 0.95)).astype(float)
    p = np.round(rng.uniform(size=n), int(rng.integers(1, 4)))  # ties
    p[: n // 10] = rng.choice([0.0, 1.0], size=n // 10)  # a model sure of itself: clipped log loss
    m = classification_metrics(y, p, threshold=0.5)
    for key, expected in _reference_classification(y, p, 0.5).items():
        assert (m[key] is None) == (expected is None), key
        if expected is not None:
            assert m[key] == pytest.approx(expected, rel=1e-12, abs=1e-14), key
    target = rng.normal(size=n)
    pred = np.round(target + rng.normal(size=n), 1)
    r = regression_metrics(target, pred)
    assert r["ic"] == pytest.approx(_corr(_rank(target), _rank(pred)), abs=1e-12)
    assert r["pearson"] == pytest.approx(_corr(target, pred), abs=1e-12)
    assert r["rmse"] == pytest.approx(float(np.sqrt(np.mean((pred - target) ** 2))), rel=1e-12)
    assert r["mae"] == pytest.approx(float(np.mean(np.abs(pred - target))), rel=1e-12)


def test_edge_cases_keep_their_previous_answers():
    one_class = classification_metrics(np.ones(3), np.array([0.2, 0.5, 0.9]), threshold=0.95)
    assert one_class["auc"] is None and one_class["precision"] is None and one_class["recall"] == 0.0
    empty = classification_metrics(np.zeros(0), np.zeros(0))
    assert empty["log_loss"] is None and empty["brier"] is None and empty["auc"] is None
    wrong, sure = np.array([1.0, 0.0]), np.array([0.0, 1.0])  # certain and wrong: large but finite
    loss = classification_metrics(wrong, sure)["log_loss"]
    assert loss == pytest.approx(_reference_classification(wrong, sure, 0.5)["log_loss"], rel=1e-12) and loss > 34
    constant = regression_metrics(np.arange(4.0), np.ones(4))
    assert constant["ic"] is None and constant["pearson"] is None
    assert regression_metrics(np.array([1.0]), np.array([2.0]))["ic"] is None
