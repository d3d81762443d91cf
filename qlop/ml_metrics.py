"""Prediction-quality metrics: what ``train_metrics.json`` reports per fold and overall.

Classification: ROC AUC (ties counted half), log loss, Brier score, precision and recall at a
probability threshold, the base rate and the mean predicted probability. Regression: the information
coefficient (Spearman rank correlation), Pearson correlation, RMSE and MAE. The formulas are
scikit-learn's (``sklearn.metrics``) and SciPy's (``scipy.stats``); this module only decides what is
undefined: AUC with one class present, a correlation of a constant, precision with nothing predicted
are ``None`` in the JSON, never a made-up 0.5 or 0. Probabilities are clipped to [1e-15, 1 - 1e-15]
before the log loss, so a model that answers exactly 0 or 1 gets a large, finite loss.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

_EPS = 1e-15


def _finite(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def roc_auc(y: np.ndarray, p: np.ndarray) -> float | None:
    """Probability that a random positive scores above a random negative (None with one class)."""
    from sklearn.metrics import roc_auc_score

    y = np.asarray(y, dtype=bool)
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == y.size:
        return None
    return float(roc_auc_score(y, np.asarray(p, dtype=np.float64)))


def log_loss(y: np.ndarray, p: np.ndarray) -> float | None:
    from sklearn.metrics import log_loss as sk_log_loss

    y = np.asarray(y, dtype=np.float64)
    if y.size == 0:
        return None
    p = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1 - _EPS)
    return float(sk_log_loss(y, p, labels=[0.0, 1.0]))


def brier(y: np.ndarray, p: np.ndarray) -> float | None:
    from sklearn.metrics import brier_score_loss

    y = np.asarray(y, dtype=np.float64)
    if y.size == 0:
        return None
    return float(brier_score_loss(y, np.asarray(p, dtype=np.float64), pos_label=1.0))


def precision_recall(y: np.ndarray, p: np.ndarray, threshold: float) -> tuple[float | None, float | None]:
    """Precision and recall of the rule ``p >= threshold`` (None when nothing is predicted / positive)."""
    from sklearn.metrics import precision_score, recall_score

    y = np.asarray(y, dtype=bool)
    hit = np.asarray(p, dtype=np.float64) >= threshold
    precision = float(precision_score(y, hit, zero_division=0)) if hit.any() else None
    recall = float(recall_score(y, hit, zero_division=0)) if y.any() else None
    return precision, recall


def _correlation(kind: str, a: np.ndarray, b: np.ndarray) -> float | None:
    """Pearson or Spearman correlation (None for fewer than two rows or a constant input)."""
    from scipy import stats

    if a.size < 2 or not (np.isfinite(a).all() and np.isfinite(b).all()):
        return None
    if np.all(a == a[0]) or np.all(b == b[0]):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns on near-constant input; the value is still defined
        result = stats.pearsonr(a, b) if kind == "pearson" else stats.spearmanr(a, b)
    return _finite(result.statistic)


def spearman_ic(y: np.ndarray, pred: np.ndarray) -> float | None:
    """Information coefficient: Spearman rank correlation of prediction and outcome."""
    return _correlation("spearman", np.asarray(y, dtype=np.float64), np.asarray(pred, dtype=np.float64))


def pearson(y: np.ndarray, pred: np.ndarray) -> float | None:
    return _correlation("pearson", np.asarray(y, dtype=np.float64), np.asarray(pred, dtype=np.float64))


def classification_metrics(y: np.ndarray, p: np.ndarray, threshold: float = 0.5) -> dict[str, Any]:
    precision, recall = precision_recall(y, p, threshold)
    y = np.asarray(y, dtype=np.float64)
    return {
        "n": int(y.size),
        "auc": roc_auc(y, p),
        "log_loss": log_loss(y, p),
        "brier": brier(y, p),
        "threshold": threshold,
        "precision": precision,
        "recall": recall,
        "base_rate": float(y.mean()) if y.size else None,
        "mean_prob": float(np.mean(p)) if y.size else None,
        "positive_rate": float(np.mean(np.asarray(p) >= threshold)) if y.size else None,
    }


def regression_metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, Any]:
    from sklearn.metrics import mean_absolute_error, mean_squared_error

    y, pred = np.asarray(y, dtype=np.float64), np.asarray(pred, dtype=np.float64)
    return {
        "n": int(y.size),
        "ic": spearman_ic(y, pred),
        "pearson": pearson(y, pred),
        "rmse": float(np.sqrt(mean_squared_error(y, pred))) if y.size else None,
        "mae": float(mean_absolute_error(y, pred)) if y.size else None,
        "mean_target": float(y.mean()) if y.size else None,
        "mean_pred": float(pred.mean()) if y.size else None,
    }


def task_metrics(task: str, y: np.ndarray, pred: np.ndarray, threshold: float = 0.5) -> dict[str, Any]:
    """The metric set for ``task`` (``classification`` or ``regression``)."""
    if task == "classification":
        return classification_metrics(y, pred, threshold)
    return regression_metrics(y, pred)
