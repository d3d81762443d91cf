"""L2-regularised logistic regression (scikit-learn) on standardised features.

Saved as JSON of its numbers (scaler means and scales, coefficients, intercept): readable, diffable and
never unpickled. Loading rebuilds the same scikit-learn pipeline from those numbers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from qlop.api import number, seed_field
from qlop_contrib.models._base import ONNX_INPUT, TabularModel, as_matrix, read_model_doc

if TYPE_CHECKING:
    import onnx

MODEL_FILE = "logistic_regression.json"
FORMAT = "qlop.logistic_regression.v1"


class LogisticRegressionParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    C: float = number(
        1.0, gt=0, le=1e6, unit="(inverse regularisation)", description="Inverse L2 regularisation strength"
    )
    max_iter: int = number(1000, ge=10, le=100_000, unit="iterations", description="Solver iterations (lbfgs)")
    tol: float = number(1e-6, gt=0, le=1, description="Solver tolerance")
    class_weight: Literal["balanced"] | None = Field(None, description="'balanced' reweights rare labels")
    standardize: bool = Field(True, description="Standardise features (mean 0, std 1) before fitting")
    random_state: int | None = seed_field(None, description="Seed (default: the config's seed)")


def _pipeline(params: LogisticRegressionParams, seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    lr = LogisticRegression(
        C=params.C, max_iter=params.max_iter, tol=params.tol, class_weight=params.class_weight, random_state=seed
    )
    steps = ([("scale", StandardScaler())] if params.standardize else []) + [("lr", lr)]
    return Pipeline(steps)


class LogisticRegressionModel(TabularModel):
    """Probability of label 1 from a linear score: the simple, interpretable benchmark."""

    params_model = LogisticRegressionParams
    tasks = ("classification",)

    def train(self, X_train: Any, y_train: Any, X_val: Any = None, y_val: Any = None) -> Any:
        X, y = self.prepare(X_train, y_train)
        if np.isnan(X).any():
            raise ValueError("logistic regression cannot use rows with missing features (set features.dropna)")
        if np.unique(y).size < 2:
            raise ValueError("the training rows hold a single class; logistic regression needs both")
        model = _pipeline(self.params, self.effective_seed)
        model.fit(X.astype(np.float64), y)
        self.artifact = model
        return model

    def predict(self, X: Any) -> np.ndarray:
        return self.require_artifact().predict_proba(as_matrix(X).astype(np.float64))[:, 1]

    def feature_importance(self) -> dict[str, float]:
        """Absolute standardised coefficients."""
        if self.artifact is None:
            return {}
        coef = np.abs(self.artifact.named_steps["lr"].coef_[0])
        names = self.feature_names or [f"f{i}" for i in range(coef.size)]
        return {n: float(c) for n, c in zip(names, coef)}

    def save_model(self, artifact: Any, path: str) -> list[str]:
        from qlop.api import write_text

        lr = artifact.named_steps["lr"]
        scaler = artifact.named_steps.get("scale")
        doc = {
            "format": FORMAT,
            "feature_names": self.feature_names,
            "n_features": int(lr.coef_.shape[1]),
            "classes": [int(c) for c in lr.classes_],
            "coef": lr.coef_[0].tolist(),
            "intercept": float(lr.intercept_[0]),
            "scaler": None
            if scaler is None
            else {
                "mean": scaler.mean_.tolist(),
                "scale": scaler.scale_.tolist(),
                "var": scaler.var_.tolist(),
                "n_samples_seen": int(np.asarray(scaler.n_samples_seen_).max()),
            },
        }
        write_text(Path(path) / MODEL_FILE, json.dumps(doc, indent=1) + "\n")
        return [MODEL_FILE]

    def load_model(self, path: str) -> Any:
        file = Path(path) / MODEL_FILE
        doc = read_model_doc(file, FORMAT, "logistic-regression")
        n = int(doc["n_features"])
        params = self.params.model_copy(update={"standardize": doc["scaler"] is not None})
        model = _pipeline(params, self.effective_seed)
        lr = model.named_steps["lr"]
        lr.coef_ = np.asarray(doc["coef"], dtype=np.float64).reshape(1, n)
        lr.intercept_ = np.asarray([doc["intercept"]], dtype=np.float64)
        lr.classes_ = np.asarray(doc["classes"], dtype=np.int64)
        lr.n_features_in_ = n
        lr.n_iter_ = np.asarray([0], dtype=np.int32)
        if doc["scaler"] is not None:
            sc = model.named_steps["scale"]
            sc.mean_ = np.asarray(doc["scaler"]["mean"], dtype=np.float64)
            sc.scale_ = np.asarray(doc["scaler"]["scale"], dtype=np.float64)
            sc.var_ = np.asarray(doc["scaler"]["var"], dtype=np.float64)
            sc.n_samples_seen_ = int(doc["scaler"]["n_samples_seen"])
            sc.n_features_in_ = n
        self.feature_names = list(doc.get("feature_names") or [])
        self.task = "classification"
        self.artifact = model
        return model

    def sklearn_estimator(self) -> Any:
        """The fitted (scaler +) LogisticRegression pipeline ``predict`` scores."""
        return self.require_artifact()

    def to_onnx(self, n_features: int, target_opset: int = 15) -> "onnx.ModelProto":
        from skl2onnx import convert_sklearn
        from skl2onnx.common.data_types import FloatTensorType

        model = self.require_artifact()
        return convert_sklearn(
            model,
            initial_types=[(ONNX_INPUT, FloatTensorType([None, n_features]))],
            target_opset=target_opset,
            options={id(model.named_steps["lr"]): {"zipmap": False}},
        )
