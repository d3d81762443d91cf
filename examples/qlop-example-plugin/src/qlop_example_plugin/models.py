"""``numpy_logistic``: a dependency-light model that trains through a QLOP config like any other.

Newton's method on the L2-penalised log-loss over standardised features: deterministic (no random
state), a few milliseconds on a few thousand rows. Saved as plain JSON, never pickle, so a saved
model is safe to load and readable by anything.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from qlop.api import BaseModelPlugin, number

MODEL_FILE = "numpy_logistic.json"
FORMAT = "qlop-example/numpy-logistic/1"


class NumpyLogisticParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    l2: float = number(1.0, ge=0.0, le=1e6, description="L2 penalty on the (standardised) coefficients")
    max_iter: int = number(50, ge=1, le=1000, unit="iterations", description="Newton iterations at most")
    tol: float = number(1e-8, gt=0.0, le=1e-2, description="Stop when the largest step is below this")


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # overflow-free logistic


class NumpyLogistic(BaseModelPlugin):
    """Binary classifier; ``predict`` returns P(label = 1)."""

    params_model = NumpyLogisticParams
    tasks = ("classification",)

    def train(
        self,
        X_train: pd.DataFrame,
        y_train: np.ndarray,
        X_val: pd.DataFrame | None = None,
        y_val: np.ndarray | None = None,
    ) -> dict[str, Any]:
        p = self.model_params
        X = X_train.to_numpy(dtype="float64")
        y = np.asarray(y_train, dtype="float64")
        mean = np.nanmean(X, axis=0)
        scale = np.nanstd(X, axis=0)
        scale[~(scale > 0)] = 1.0
        Z = np.nan_to_num((X - mean) / scale)  # missing values sit at the mean
        A = np.column_stack([np.ones(len(Z)), Z])
        w = np.zeros(A.shape[1])
        penalty = np.full(A.shape[1], p.l2)
        penalty[0] = 0.0  # the intercept is not shrunk
        for _ in range(p.max_iter):
            prob = _sigmoid(A @ w)
            grad = A.T @ (prob - y) + penalty * w
            hess = (A * (prob * (1 - prob))[:, None]).T @ A + np.diag(penalty) + 1e-10 * np.eye(len(w))
            step = np.linalg.solve(hess, grad)
            w -= step
            if np.max(np.abs(step)) < p.tol:
                break
        self.artifact = {
            "format": FORMAT,
            "features": list(map(str, X_train.columns)),
            "mean": mean.tolist(),
            "scale": scale.tolist(),
            "intercept": float(w[0]),
            "coef": w[1:].tolist(),
        }
        return self.artifact

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        art = self._require()
        missing = [c for c in art["features"] if c not in X.columns]
        if missing:
            raise ValueError(f"features missing from X: {missing}")
        Z = np.nan_to_num(
            (X[art["features"]].to_numpy(dtype="float64") - np.asarray(art["mean"])) / np.asarray(art["scale"])
        )
        return _sigmoid(art["intercept"] + Z @ np.asarray(art["coef"]))

    def save_model(self, artifact: Any, path: str) -> list[str]:
        target = Path(path)
        target.mkdir(parents=True, exist_ok=True)
        tmp = target / f".{MODEL_FILE}.tmp"
        tmp.write_text(json.dumps(artifact, indent=1), encoding="utf-8")  # floats as repr: exact round trip
        tmp.replace(target / MODEL_FILE)
        return [MODEL_FILE]

    def load_model(self, path: str) -> dict[str, Any]:
        art = json.loads((Path(path) / MODEL_FILE).read_text(encoding="utf-8"))
        if art.get("format") != FORMAT:
            raise ValueError(f"{path}: not a numpy_logistic model (format {art.get('format')!r})")
        self.artifact = art
        return art

    def feature_importance(self) -> dict[str, float]:
        art = self._require()
        return {name: abs(float(c)) for name, c in zip(art["features"], art["coef"])}

    def _require(self) -> dict[str, Any]:
        if self.artifact is None:
            raise RuntimeError("numpy_logistic is not trained: call train or load_model first")
        return self.artifact
