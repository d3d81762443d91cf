"""Prediction-quality metrics in plain numpy: what ``train_metrics.json`` reports per fold and overall.

Classification: ROC AUC (Mann-Whitney, ties counted half), log loss, Brier score, precision and recall
at a probability threshold, the base rate and the mean predicted probability. Regression: the
information coefficient (Spearman rank correlation), Pearson correlation, RMSE and MAE. Undefined values
(AUC with one class present, a correlation of a constant) are ``None`` in the JSON, never a made-up 0.5.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

_EPS = 1e-15


def _rank(x: np.ndarray) -> np.ndarray:
    """Average ranks (1-based); ties share the mean of their positions."""
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    boundaries = np.concatenate([[True], xs[1:] != xs[:-1], [True]])
    starts = np.flatnonzero(boundaries)
    avg = (starts[:-1] + starts[1:] + 1) / 2.0  # mean of 1-based positions in each run of ties
    ranks = np.empty(x.size, dtype=np.float64)
    ranks[order] = np.repeat(avg, np.diff(starts))
    return ranks


def roc_auc(y: np.ndarray, p: np.ndarray) -> float | None:
    """Probability that a random positive scores above a random negative (None with one class)."""
    y = np.asarray(y, dtype=bool)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = _rank(np.asarray(p, dtype=np.float64))
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def log_loss(y: np.ndarray, p: np.ndarray) -> float | None:
    y = np.asarray(y, dtype=np.float64)
    if y.size == 0:
        return None
    p = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1 - _EPS)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))


def brier(y: np.ndarray, p: np.ndarray) -> float | None:
    y = np.asarray(y, dtype=np.float64)
    return float(np.mean((np.asarray(p, dtype=np.float64) - y) ** 2)) if y.size else None


def precision_recall(y: np.ndarray, p: np.ndarray, threshold: float) -> tuple[float | None, float | None]:
    """Precision and recall of the rule ``p >= threshold`` (None when nothing is predicted / positive)."""
    y = np.asarray(y, dtype=bool)
    hit = np.asarray(p, dtype=np.float64) >= threshold
    tp = int((hit & y).sum())
    n_hit, n_pos = int(hit.sum()), int(y.sum())
    return (tp / n_hit if n_hit else None), (tp / n_pos if n_pos else None)


def _corr(a: np.ndarray, b: np.ndarray) -> float | None:
    if a.size < 2:
        return None
    sa, sb = a.std(), b.std()
    if sa == 0 or sb == 0 or not math.isfinite(sa * sb):
        return None
    return float(np.mean((a - a.mean()) * (b - b.mean())) / (sa * sb))


def spearman_ic(y: np.ndarray, pred: np.ndarray) -> float | None:
    """Information coefficient: Spearman rank correlation of prediction and outcome."""
    y, pred = np.asarray(y, dtype=np.float64), np.asarray(pred, dtype=np.float64)
    return _corr(_rank(y), _rank(pred)) if y.size >= 2 else None


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
    y, pred = np.asarray(y, dtype=np.float64), np.asarray(pred, dtype=np.float64)
    err = pred - y
    return {
        "n": int(y.size),
        "ic": spearman_ic(y, pred),
        "pearson": _corr(y, pred),
        "rmse": float(np.sqrt(np.mean(err ** 2))) if y.size else None,
        "mae": float(np.mean(np.abs(err))) if y.size else None,
        "mean_target": float(y.mean()) if y.size else None,
        "mean_pred": float(pred.mean()) if y.size else None,
    }


def task_metrics(task: str, y: np.ndarray, pred: np.ndarray, threshold: float = 0.5) -> dict[str, Any]:
    """The metric set for ``task`` (``classification`` or ``regression``)."""
    if task == "classification":
        return classification_metrics(y, pred, threshold)
    return regression_metrics(y, pred)
