"""What the bundled models share: float32 feature matrices, seeds, targets, and small ONNX helpers.

Every bundled model sees its features as float32, the type XGBoost uses internally and the type of the
exported ONNX graph's input, so the native model and its ONNX export score exactly the same numbers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from qlop.api import ArtifactError, BaseModelPlugin, ConfigError

if TYPE_CHECKING:
    import onnx
    import pandas as pd

#: Name of the ONNX graph's input, shared by every bundled converter and by bundle scoring.
ONNX_INPUT = "input"


def as_matrix(X: "pd.DataFrame | np.ndarray") -> np.ndarray:
    """Features as a C-contiguous float32 matrix (NaN kept: missing stays missing)."""
    values = X.to_numpy(dtype=np.float64, na_value=np.nan) if hasattr(X, "to_numpy") else np.asarray(X, np.float64)
    if values.ndim != 2:
        raise ValueError(f"expected a 2-D feature matrix, got shape {values.shape}")
    return np.ascontiguousarray(values, dtype=np.float32)


class TabularModel(BaseModelPlugin):
    """Base of the bundled models: seed handling, target checks and the feature names seen in training.

    ``seed`` (:attr:`qlop.interfaces.BaseModelPlugin.seed`) is set by the train stage from
    ``config.seed``; a ``random_state`` in the model's params overrides it.
    """

    def __init__(self, name: str, params: Any = None) -> None:
        super().__init__(name, params)
        self.feature_names: list[str] = []

    @property
    def effective_seed(self) -> int:
        explicit = getattr(self.params, "random_state", None)
        return int(explicit if explicit is not None else self.seed)

    def check_task(self) -> None:
        if self.task not in self.tasks:
            raise ConfigError(
                f"model.model_type: {self.name!r} supports {', '.join(self.tasks)} labels, not {self.task}"
            )

    def prepare(self, X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        """Feature matrix and target for fitting; remembers the feature names."""
        self.check_task()
        self.feature_names = [str(c) for c in getattr(X, "columns", range(np.shape(X)[1]))]
        Xm = as_matrix(X)
        yv = np.asarray(y, dtype=np.float64)
        if yv.shape[0] != Xm.shape[0]:
            raise ValueError(f"X has {Xm.shape[0]} rows but y has {yv.shape[0]}")
        if np.isnan(yv).any():
            raise ValueError("y contains NaN: drop unlabelled rows before training")
        if self.task == "classification":
            if not np.isin(yv, (0.0, 1.0)).all():
                raise ValueError("classification labels must be 0 or 1")
            return Xm, yv.astype(np.int64)
        return Xm, yv

    def require_artifact(self) -> Any:
        if self.artifact is None:
            raise ValueError(f"model {self.name!r} is not trained or loaded")
        return self.artifact


def read_json(path: Any) -> dict[str, Any]:
    import json

    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"{path}: cannot read model file ({exc})") from None


def read_model_doc(path: Any, fmt: str, what: str) -> dict[str, Any]:
    """A model's JSON document, refused unless it carries this model's ``format`` tag."""
    doc = read_json(path)
    if doc.get("format") != fmt:
        raise ArtifactError(f"{path}: not a QLOP {what} model (format {doc.get('format')!r})")
    return doc


def constant_onnx(values: list[float], output_name: str, n_features: int, target_opset: int = 15) -> "onnx.ModelProto":
    """An ONNX graph that returns the row ``values`` for every input row: shape [N, len(values)]."""
    import onnx
    from onnx import TensorProto, helper

    width = len(values)
    nodes = [
        helper.make_node("Shape", [ONNX_INPUT], ["shape"]),
        helper.make_node("Slice", ["shape", "zero", "one"], ["n_rows"]),
        helper.make_node("Concat", ["n_rows", "width"], ["out_shape"], axis=0),
        helper.make_node("Expand", ["row", "out_shape"], [output_name]),
    ]
    inits = [
        helper.make_tensor("zero", TensorProto.INT64, [1], [0]),
        helper.make_tensor("one", TensorProto.INT64, [1], [1]),
        helper.make_tensor("width", TensorProto.INT64, [1], [width]),
        helper.make_tensor("row", TensorProto.FLOAT, [1, width], [float(v) for v in values]),
    ]
    graph = helper.make_graph(
        nodes,
        "qlop_constant",
        [helper.make_tensor_value_info(ONNX_INPUT, TensorProto.FLOAT, [None, n_features])],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, [None, width])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", target_opset)], producer_name="qlop")
    model.ir_version = min(model.ir_version, 8)
    onnx.checker.check_model(model)
    return model
