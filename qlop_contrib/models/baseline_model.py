"""The base-rate baseline: predicts the training label mean for every row.

It is the bar every model must beat: a model whose AUC or log loss is no better than this one's has
learned nothing usable. Saved as JSON; exported as a constant ONNX graph.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from qlop_contrib.models._base import TabularModel, as_matrix, constant_onnx, read_model_doc

if TYPE_CHECKING:
    import onnx

MODEL_FILE = "baseline.json"
FORMAT = "qlop.baseline.v1"


class BaselineParams(BaseModel):
    """The baseline has no parameters."""

    model_config = ConfigDict(extra="forbid")


class BaselineModel(TabularModel):
    """Training base rate (classification) or training mean (regression), for every row."""

    params_model = BaselineParams
    tasks = ("classification", "regression")

    def train(self, X_train: Any, y_train: Any, X_val: Any = None, y_val: Any = None) -> Any:
        _, y = self.prepare(X_train, y_train)
        if y.size == 0:
            raise ValueError("no training rows")
        self.artifact = float(np.mean(y))
        return self.artifact

    def predict(self, X: Any) -> np.ndarray:
        value = self.require_artifact()
        return np.full(as_matrix(X).shape[0], value, dtype=np.float64)

    def save_model(self, artifact: Any, path: str) -> list[str]:
        from qlop.api import write_text

        doc = {"format": FORMAT, "task": self.task, "value": float(artifact), "feature_names": self.feature_names}
        write_text(Path(path) / MODEL_FILE, json.dumps(doc, indent=1) + "\n")
        return [MODEL_FILE]

    def load_model(self, path: str) -> Any:
        file = Path(path) / MODEL_FILE
        doc = read_model_doc(file, FORMAT, "baseline")
        self.task = doc["task"]
        self.feature_names = list(doc.get("feature_names") or [])
        self.artifact = float(doc["value"])
        return self.artifact

    def to_onnx(self, n_features: int, target_opset: int = 15) -> "onnx.ModelProto":
        value = float(self.require_artifact())
        if self.task == "classification":
            return constant_onnx([1.0 - value, value], "probabilities", n_features, target_opset)
        return constant_onnx([value], "variable", n_features, target_opset)
