"""XGBoost gradient-boosted trees: classifier or regressor chosen from the label's task.

Early stopping watches an inner validation slice (the end of the training window, purged by the train
stage); the kept model is cut to its best round, so the saved file, its predictions and its ONNX export
all hold exactly the same trees. Saved in XGBoost's own JSON format.

With ``distributed = true`` the model trains with ``xgboost.dask`` across the run's Dask workers, on
the rows partitioned by ticker (``qlop.api.dask_frame_by_ticker``), for panels whose training
matrices outgrow one worker. The result is an ordinary booster: predicting, saving and the ONNX and
PMML exports are the same as for a model trained in one process.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from qlop.api import ArtifactError, number, seed_field
from qlop_contrib.models._base import ONNX_INPUT, TabularModel, as_matrix

if TYPE_CHECKING:
    import onnx

MODEL_FILE = "model.json"


class XGBoostParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    n_estimators: int = number(
        200, ge=1, le=20_000, unit="trees", description="Boosting rounds (upper bound with early stopping)"
    )
    max_depth: int = number(4, ge=1, le=20, unit="levels", description="Maximum tree depth")
    learning_rate: float = number(0.05, gt=0, le=1, description="Shrinkage per round")
    subsample: float = number(0.8, gt=0, le=1, unit="(fraction of rows)", description="Row fraction sampled per tree")
    colsample_bytree: float = number(
        0.8, gt=0, le=1, unit="(fraction of features)", description="Feature fraction sampled per tree"
    )
    min_child_weight: float = number(
        1.0, ge=0, le=1e6, unit="(hessian sum)", description="Minimum hessian sum in a leaf"
    )
    reg_lambda: float = number(1.0, ge=0, le=1e6, description="L2 penalty on leaf weights")
    reg_alpha: float = number(0.0, ge=0, le=1e6, description="L1 penalty on leaf weights")
    gamma: float = number(0.0, ge=0, le=1e6, unit="(loss reduction)", description="Minimum loss reduction to split")
    max_bin: int = number(256, ge=2, le=4096, unit="bins", description="Histogram bins per feature (hist/approx)")
    tree_method: Literal["hist", "approx", "exact"] = Field("hist", description="Tree construction algorithm")
    scale_pos_weight: float = number(
        1.0, gt=0, le=1e4, unit="(weight)", description="Weight of positive rows (classification)"
    )
    early_stopping_rounds: int = number(
        20,
        ge=0,
        le=10_000,
        unit="rounds",
        description="Stop after this many rounds without improvement on the validation slice (0: off)",
    )
    nthread: int = number(2, ge=1, le=256, unit="threads", description="Threads; fixed so results are reproducible")
    distributed: bool = Field(
        False,
        description="Train each fold and the final model with xgboost.dask across "
        "the run's Dask workers (--workers/--scheduler, else a local "
        "cluster of the cores) on a frame partitioned by ticker",
    )
    random_state: int | None = seed_field(None, description="Seed (default: the config's seed)")


def _progress_callback(progress: Any) -> Any:
    import xgboost as xgb

    class ProgressCallback(xgb.callback.TrainingCallback):
        """Reports each boosting round through QLOP's progress API."""

        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            progress.advance(message=f"round {epoch + 1}")
            return False

    return ProgressCallback()


class XGBoostModel(TabularModel):
    """XGBoost classifier (probability of label 1) or regressor, with early stopping."""

    params_model = XGBoostParams
    tasks = ("classification", "regression")

    def __init__(self, name: str, params: Any = None) -> None:
        super().__init__(name, params)
        self.fit_info: dict[str, Any] = {}
        #: seconds spent inside XGBoost's own fit/predict calls (benchmarks separate QLOP's overhead)
        self.library_seconds = 0.0

    # -- fitting --------------------------------------------------------------------------------

    def _estimator_class(self) -> Any:
        import xgboost as xgb

        return xgb.XGBClassifier if self.task == "classification" else xgb.XGBRegressor

    def _kwargs(self) -> dict[str, Any]:
        p = self.params
        return {
            "n_estimators": p.n_estimators,
            "max_depth": p.max_depth,
            "learning_rate": p.learning_rate,
            "subsample": p.subsample,
            "colsample_bytree": p.colsample_bytree,
            "min_child_weight": p.min_child_weight,
            "reg_lambda": p.reg_lambda,
            "reg_alpha": p.reg_alpha,
            "gamma": p.gamma,
            "max_bin": p.max_bin,
            "tree_method": p.tree_method,
            "n_jobs": p.nthread,
            "random_state": self.effective_seed,
            "eval_metric": "logloss" if self.task == "classification" else "rmse",
            **({"scale_pos_weight": p.scale_pos_weight} if self.task == "classification" else {}),
        }

    @property
    def uses_cluster(self) -> bool:  # type: ignore[override]
        """``distributed = true``: training goes to the run's Dask workers."""
        return bool(self.params.distributed)

    def train(self, X_train: Any, y_train: Any, X_val: Any = None, y_val: Any = None) -> Any:
        from qlop.api import stage_progress

        if self.params.distributed:
            return self._train_distributed(X_train, y_train, X_val, y_val)
        X, y = self.prepare(X_train, y_train)
        kwargs = self._kwargs()
        use_val = X_val is not None and len(X_val) > 0 and self.params.early_stopping_rounds > 0
        fit_kw: dict[str, Any] = {"verbose": False}
        if use_val:
            kwargs["early_stopping_rounds"] = self.params.early_stopping_rounds
            yv = np.asarray(y_val, dtype=np.float64)
            fit_kw["eval_set"] = [(as_matrix(X_val), yv.astype(np.int64) if self.task == "classification" else yv)]
        with stage_progress("train.rounds", total=self.params.n_estimators, unit="round") as progress:
            model = self._estimator_class()(callbacks=[_progress_callback(progress)], **kwargs)
            t0 = time.perf_counter()
            model.fit(X, y, **fit_kw)
            self.library_seconds += time.perf_counter() - t0
        return self._keep(model, use_val)

    def _keep(self, model: Any, use_val: bool, **info: Any) -> Any:
        """Cut the fitted model to its best rounds and make it the artefact."""
        booster = model.get_booster()
        rounds = booster.num_boosted_rounds()
        if use_val:
            rounds = int(model.best_iteration) + 1
            booster = booster[:rounds]  # keep exactly the best rounds: saved model == scored model == ONNX
        self.fit_info = {
            "n_rounds": rounds,
            "early_stopped": bool(use_val and rounds < self.params.n_estimators),
            **info,
        }
        self.artifact = self._wrap(booster)
        return self.artifact

    def _train_distributed(self, X_train: Any, y_train: Any, X_val: Any, y_val: Any) -> Any:
        """``xgboost.dask`` on the run's cluster, the rows partitioned by ticker across its workers.

        Boosting rounds run on the workers (no per-round progress reaches this process); the fitted
        booster comes back here, so scoring, saving and exporting are those of a single-process model.
        """
        from xgboost import dask as dxgb

        from qlop.api import cluster_client, dask_frame_by_ticker

        X, y = self.prepare(X_train, y_train)
        kwargs = self._kwargs()
        kwargs["verbosity"] = 0  # the workers' "got rank" lines would land in the run's terminal
        use_val = X_val is not None and len(X_val) > 0 and self.params.early_stopping_rounds > 0
        with cluster_client() as client:
            X_d, y_d = dask_frame_by_ticker(client, self._frame(X_train, X), self._target(y))
            fit_kw: dict[str, Any] = {"verbose": False}
            if use_val:
                kwargs["early_stopping_rounds"] = self.params.early_stopping_rounds
                fit_kw["eval_set"] = [
                    dask_frame_by_ticker(client, self._frame(X_val, as_matrix(X_val)), self._target(y_val))
                ]
            cls = dxgb.DaskXGBClassifier if self.task == "classification" else dxgb.DaskXGBRegressor
            model = cls(**kwargs)
            model.client = client
            t0 = time.perf_counter()
            with client.as_current():  # xgboost.dask looks the client up as the current one
                model.fit(X_d, y_d, **fit_kw)
            self.library_seconds += time.perf_counter() - t0
            workers = len(client.scheduler_info(n_workers=-1).get("workers") or {})
            return self._keep(model, use_val, dask_partitions=int(X_d.npartitions), dask_workers=workers)

    @staticmethod
    def _frame(X: Any, matrix: np.ndarray) -> Any:
        """The float32 matrix on ``X``'s (ticker, date) index, its columns named as XGBoost names the
        columns of a plain matrix (``f0``, ``f1``, ...), so the booster equals a single-process one."""
        import pandas as pd

        return pd.DataFrame(matrix, index=X.index, columns=[f"f{i}" for i in range(matrix.shape[1])])

    def _target(self, y: Any) -> np.ndarray:
        values = np.asarray(y, dtype=np.float64)
        return values.astype(np.int64) if self.task == "classification" else values

    def _wrap(self, booster: Any) -> Any:
        """A fresh sklearn-API estimator holding ``booster`` (what onnxmltools converts)."""
        booster.set_attr(qlop_feature_names=json.dumps(self.feature_names))
        model = self._estimator_class()(n_jobs=self.params.nthread)
        model.load_model(bytearray(booster.save_raw(raw_format="ubj")))
        return model

    def final_params(self, fold_infos: list[dict[str, Any]]) -> XGBoostParams:
        """Params of the final fit on all rows: the median best round count of the folds."""
        rounds = [int(i["n_rounds"]) for i in fold_infos if i.get("n_rounds")]
        if not rounds or self.params.early_stopping_rounds == 0:
            return self.params
        return self.params.model_copy(update={"n_estimators": max(1, int(statistics.median(rounds)))})

    # -- scoring --------------------------------------------------------------------------------

    def predict(self, X: Any) -> np.ndarray:
        model = self.require_artifact()
        Xm = as_matrix(X)
        t0 = time.perf_counter()
        out = model.predict_proba(Xm)[:, 1] if self.task == "classification" else model.predict(Xm)
        self.library_seconds += time.perf_counter() - t0
        return out.astype(np.float64)

    def feature_importance(self) -> dict[str, float]:
        """Total gain per feature (features never used in a split get 0)."""
        if self.artifact is None:
            return {}
        scores = self.artifact.get_booster().get_score(importance_type="total_gain")
        names = self.feature_names
        out = {name: 0.0 for name in names}
        for key, value in scores.items():
            idx = int(key[1:]) if key.startswith("f") and key[1:].isdigit() else None
            out[names[idx] if idx is not None and idx < len(names) else key] = float(value)
        return out

    # -- persistence ----------------------------------------------------------------------------

    def save_model(self, artifact: Any, path: str) -> list[str]:
        target = Path(path) / MODEL_FILE
        artifact.get_booster().save_model(str(target))
        return [MODEL_FILE]

    def load_model(self, path: str) -> Any:
        import xgboost as xgb

        file = Path(path) / MODEL_FILE
        if not file.exists():
            raise ArtifactError(f"{file}: XGBoost model file not found")
        booster = xgb.Booster()
        try:
            booster.load_model(str(file))
        except xgb.core.XGBoostError as exc:
            raise ArtifactError(f"{file}: not a readable XGBoost model ({str(exc).splitlines()[0]})") from None
        objective = json.loads(booster.save_config())["learner"]["objective"]["name"]
        self.task = "classification" if objective.startswith("binary:") else "regression"
        names = booster.attr("qlop_feature_names")
        self.feature_names = json.loads(names) if names else []
        self.artifact = self._wrap(booster)
        return self.artifact

    # -- export ---------------------------------------------------------------------------------

    def sklearn_estimator(self) -> Any:
        """The XGBClassifier / XGBRegressor holding the kept rounds (what ``predict`` scores)."""
        return self.require_artifact()

    def to_onnx(self, n_features: int, target_opset: int = 15) -> "onnx.ModelProto":
        import onnxmltools
        from onnxmltools.convert.common.data_types import FloatTensorType

        return onnxmltools.convert_xgboost(
            self.require_artifact(),
            initial_types=[(ONNX_INPUT, FloatTensorType([None, n_features]))],
            target_opset=target_opset,
        )
