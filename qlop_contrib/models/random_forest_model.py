"""Random forest (scikit-learn), classifier or regressor, saved without pickle.

Format: ``forest.npz`` holds every tree's own arrays (scikit-learn's node table - children, feature,
threshold, impurity, sample counts, missing-value direction - and leaf values), loaded with
``allow_pickle=False``; ``forest.json`` holds the forest's parameters and shapes. Loading rebuilds the
estimators from those arrays, so the loaded forest predicts exactly what the trained one did. The
node-table layout is checked against the installed scikit-learn's; a mismatch is an ArtifactError.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from qlop.api import ArtifactError, number, seed_field
from qlop_contrib.models._base import ONNX_INPUT, TabularModel, as_matrix, read_model_doc

if TYPE_CHECKING:
    import onnx

ARRAYS_FILE = "forest.npz"
META_FILE = "forest.json"
FORMAT = "qlop.random_forest.v1"


class RandomForestParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    n_estimators: int = number(100, ge=1, le=5000, unit="trees", description="Number of trees")
    max_depth: int | None = number(8, ge=1, le=64, unit="levels", description="Maximum tree depth (None: unlimited)")
    min_samples_leaf: int = number(50, ge=1, le=1_000_000, unit="rows", description="Minimum rows in a leaf")
    max_features: Literal["sqrt", "log2"] | float = number(
        "sqrt",
        gt=0,
        le=1,
        unit="(fraction of features)",
        description="Features tried per split: 'sqrt', 'log2' or a fraction in (0, 1]",
    )
    bootstrap: bool = Field(True, description="Sample rows with replacement for each tree")
    max_samples: float | None = number(
        None, gt=0, le=1, unit="(fraction of rows)", description="Fraction of rows drawn per tree"
    )
    class_weight: Literal["balanced", "balanced_subsample"] | None = Field(None, description="Label reweighting")
    n_jobs: int = number(
        2, ge=1, le=256, unit="threads", description="Parallel jobs for fitting (results do not depend on it)"
    )
    random_state: int | None = seed_field(None, description="Seed (default: the config's seed)")


def _node_dtype() -> np.dtype:
    """The node-table dtype of the installed scikit-learn."""
    from sklearn.tree._tree import Tree

    return Tree(1, np.array([1], dtype=np.intp), 1).__getstate__()["nodes"].dtype


class RandomForestModel(TabularModel):
    """Bagged decision trees: a robust non-linear benchmark for the boosted model."""

    params_model = RandomForestParams
    tasks = ("classification", "regression")

    def _estimator(self) -> Any:
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

        p = self.params
        kw: dict[str, Any] = dict(
            n_estimators=p.n_estimators,
            max_depth=p.max_depth,
            min_samples_leaf=p.min_samples_leaf,
            max_features=p.max_features,
            bootstrap=p.bootstrap,
            max_samples=p.max_samples if p.bootstrap else None,
            n_jobs=p.n_jobs,
            random_state=self.effective_seed,
        )
        if self.task == "classification":
            return RandomForestClassifier(class_weight=p.class_weight, **kw)
        return RandomForestRegressor(**kw)

    def train(self, X_train: Any, y_train: Any, X_val: Any = None, y_val: Any = None) -> Any:
        X, y = self.prepare(X_train, y_train)
        model = self._estimator()
        model.fit(X, y)
        self.artifact = model
        return model

    def predict(self, X: Any) -> np.ndarray:
        model = self.require_artifact()
        # Parallel prediction sums the trees in thread-completion order, which changes the last bits
        # from run to run; one job keeps the same config's predictions identical.
        if model.n_jobs != 1:
            model.set_params(n_jobs=1)
        Xm = as_matrix(X)
        if self.task == "classification":
            proba = model.predict_proba(Xm)
            pos = np.flatnonzero(model.classes_ == 1)
            return proba[:, pos[0]] if pos.size else np.zeros(Xm.shape[0])
        return model.predict(Xm).astype(np.float64)

    def feature_importance(self) -> dict[str, float]:
        """Mean decrease in impurity."""
        if self.artifact is None:
            return {}
        imp = self.artifact.feature_importances_
        names = self.feature_names or [f"f{i}" for i in range(imp.size)]
        return {n: float(v) for n, v in zip(names, imp)}

    # -- persistence ----------------------------------------------------------------------------

    def save_model(self, artifact: Any, path: str) -> list[str]:
        import sklearn

        from qlop.api import write_bytes, write_text

        arrays: dict[str, np.ndarray] = {}
        depths = []
        for k, est in enumerate(artifact.estimators_):
            state = est.tree_.__getstate__()
            arrays[f"nodes_{k}"] = state["nodes"]
            arrays[f"values_{k}"] = state["values"]
            depths.append(int(state["max_depth"]))
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        write_bytes(Path(path) / ARRAYS_FILE, buf.getvalue())
        classification = self.task == "classification"
        meta = {
            "format": FORMAT,
            "task": self.task,
            "sklearn_version": sklearn.__version__,
            "params": self.params.model_dump(mode="json"),
            "seed": self.effective_seed,
            "feature_names": self.feature_names,
            "n_features": int(artifact.n_features_in_),
            "n_outputs": int(artifact.n_outputs_),
            "n_trees": len(artifact.estimators_),
            "max_depths": depths,
            "classes": [int(c) for c in artifact.classes_] if classification else None,
            "max_features": [int(e.max_features_) for e in artifact.estimators_],
        }
        write_text(Path(path) / META_FILE, json.dumps(meta, indent=1) + "\n")
        return [ARRAYS_FILE, META_FILE]

    def load_model(self, path: str) -> Any:
        from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
        from sklearn.tree._tree import Tree

        meta_file, arrays_file = Path(path) / META_FILE, Path(path) / ARRAYS_FILE
        meta = read_model_doc(meta_file, FORMAT, "random-forest")
        try:
            data = np.load(arrays_file, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise ArtifactError(f"{arrays_file}: cannot read forest arrays ({exc})") from None
        expected = _node_dtype()
        self.task = meta["task"]
        classification = self.task == "classification"
        n_features, n_outputs = int(meta["n_features"]), int(meta["n_outputs"])
        classes = np.asarray(meta["classes"], dtype=np.int64) if classification else None
        n_classes = np.array([classes.size if classification else 1], dtype=np.intp)
        model = self._estimator()
        tree_cls = DecisionTreeClassifier if classification else DecisionTreeRegressor
        estimators = []
        with data:
            for k in range(int(meta["n_trees"])):
                nodes = data[f"nodes_{k}"]
                if nodes.dtype != expected:
                    raise ArtifactError(
                        f"{arrays_file}: tree node layout from scikit-learn {meta.get('sklearn_version')} does "
                        "not match the installed scikit-learn; retrain the model"
                    )
                tree = Tree(n_features, n_classes, n_outputs)
                tree.__setstate__(
                    {
                        "max_depth": int(meta["max_depths"][k]),
                        "node_count": nodes.shape[0],
                        "nodes": nodes,
                        "values": data[f"values_{k}"],
                    }
                )
                est = tree_cls(
                    max_depth=model.max_depth, min_samples_leaf=model.min_samples_leaf, max_features=model.max_features
                )
                est.tree_ = tree
                est.n_features_in_, est.n_outputs_ = n_features, n_outputs
                est.max_features_ = int(meta["max_features"][k])
                if classification:
                    est.classes_, est.n_classes_ = classes.astype(np.float64), int(classes.size)
                estimators.append(est)
        model.estimators_ = estimators
        model.estimator_ = tree_cls()
        model.n_features_in_, model.n_outputs_ = n_features, n_outputs
        if classification:
            model.classes_, model.n_classes_ = classes, int(classes.size)
        self.feature_names = list(meta.get("feature_names") or [])
        self.artifact = model
        return model

    def sklearn_estimator(self) -> Any:
        """The fitted RandomForestClassifier / RandomForestRegressor ``predict`` scores."""
        return self.require_artifact()

    def to_onnx(self, n_features: int, target_opset: int = 15) -> "onnx.ModelProto":
        from skl2onnx import convert_sklearn
        from skl2onnx.common.data_types import FloatTensorType

        model = self.require_artifact()
        options = {id(model): {"zipmap": False}} if self.task == "classification" else None
        return convert_sklearn(
            model,
            initial_types=[(ONNX_INPUT, FloatTensorType([None, n_features]))],
            target_opset=target_opset,
            options=options,
        )
