"""The ``lstm`` and ``mlp`` model components.

``lstm`` scores row (ticker, t) from that ticker's ``lookback`` feature rows t-lookback+1 .. t (its
``lookback`` tells QLOP's stages to hand it that history; a row without a complete window gets NaN, i.e.
no prediction). ``mlp`` scores each row alone. Both: classification (probability of label 1) or
regression (the label's value), features standardised with statistics of the training rows only,
reproducible under the seed, saved without pickle, exportable to ONNX.
"""

from __future__ import annotations

import io
import os
import statistics
import warnings
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle OpenMP threads must not spin on shared cores

import torch  # noqa: E402

from qlop.api import BaseModelPlugin, ConfigError, DataError, gather_windows, group_codes, window_index, window_rows  # noqa: E402,F401
from qlop_torch import persistence  # noqa: E402
from qlop_torch.nets import OnnxOutput, build_net  # noqa: E402
from qlop_torch.params import LSTMParams, MLPParams  # noqa: E402
from qlop_torch.runtime import Stopwatch, score, torch_runtime  # noqa: E402
from qlop_torch.training import Batches, as_tensor, fit  # noqa: E402

if TYPE_CHECKING:
    import onnx
    import pandas as pd


class TorchModel(BaseModelPlugin):
    """What the LSTM and the MLP share; subclasses name their network ``kind``."""

    kind: ClassVar[str] = ""
    tasks = ("classification", "regression")

    def __init__(self, name: str, params: Any = None) -> None:
        super().__init__(name, params)
        self.feature_names: list[str] = []
        #: the architecture document of the trained or loaded network (None before)
        self.arch: dict[str, Any] | None = None
        self.fit_info: dict[str, Any] = {}
        self.library_seconds = 0.0
        #: CPU seconds inside torch (``library_seconds`` is wall time); the benchmark reports both
        self.library_cpu_seconds = 0.0

    @property
    def lookback(self) -> int:
        if self.arch is not None:
            return int(self.arch["lookback"])
        return int(getattr(self.params, "lookback", 1))

    @property
    def effective_seed(self) -> int:
        return int(self.params.seed if self.params.seed is not None else self.seed)

    # -- inputs ---------------------------------------------------------------------------------

    def _matrix(self, X: "pd.DataFrame") -> np.ndarray:
        """Features in training order as float64 (NaN kept)."""
        if self.feature_names and list(X.columns) != self.feature_names:
            missing = [c for c in self.feature_names if c not in X.columns]
            if missing:
                raise DataError(f"model {self.name!r}: feature column {missing[0]!r} it was trained on is missing")
            X = X[self.feature_names]
        return X.to_numpy(dtype=np.float64, na_value=np.nan)

    def _examples(self, X: "pd.DataFrame", values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows that can be scored and, per row, the row (MLP) or window (LSTM) positions it reads."""
        if self.lookback <= 1:
            rows = np.arange(values.shape[0])
            return rows, rows
        rows = window_rows(values, group_codes(X.index), self.lookback)
        return rows, window_index(rows, self.lookback)

    def _targets(self, y: Any, n: int) -> np.ndarray:
        yv = np.asarray(y, dtype=np.float64).reshape(-1)
        if yv.shape[0] != n:
            raise ValueError(f"X has {n} rows but y has {yv.shape[0]}")
        if np.isnan(yv).any():
            raise ValueError("y contains NaN: drop unlabelled rows before training")
        if self.task == "classification" and not np.isin(yv, (0.0, 1.0)).all():
            raise ValueError("classification labels must be 0 or 1")
        return yv

    # -- fitting --------------------------------------------------------------------------------

    def train(self, X_train: Any, y_train: Any, X_val: Any = None, y_val: Any = None) -> Any:
        if self.task not in self.tasks:
            raise ConfigError(
                f"model.model_type: {self.name!r} supports {', '.join(self.tasks)} labels, not {self.task}"
            )
        self.arch = None
        self.feature_names = [str(c) for c in X_train.columns]
        values = self._matrix(X_train)
        y = self._targets(y_train, values.shape[0])
        rows, index = self._examples(X_train, values)
        if rows.size == 0:
            raise DataError(
                f"model {self.name!r}: no training row has a complete {self.lookback}-row window "
                "of its ticker; lower lookback or give it more history"
            )
        arch = self._architecture(values, y[rows])
        y_std = (y - arch["scaler"]["target_mean"]) / arch["scaler"]["target_scale"]
        train = Batches(as_tensor(values), torch.from_numpy(index), as_tensor(y_std[rows]))
        val = None
        if X_val is not None and len(X_val):
            v_values = self._matrix(X_val)
            yv = self._targets(y_val, v_values.shape[0])
            v_rows, v_index = self._examples(X_val, v_values)
            if v_rows.size:
                yv_std = (yv - arch["scaler"]["target_mean"]) / arch["scaler"]["target_scale"]
                val = Batches(as_tensor(v_values), torch.from_numpy(v_index), as_tensor(yv_std[v_rows]))
        watch = Stopwatch()
        seed = self.effective_seed
        with torch_runtime(self.params.threads, seed):
            net = build_net(arch)
            result = fit(net, self.task, self.params, train, val, seed, watch)
        self.library_seconds += watch.seconds
        self.library_cpu_seconds += watch.cpu_seconds
        self.fit_info = {
            "epochs": result.best_epoch,
            "epochs_run": result.epochs_run,
            "early_stopped": result.early_stopped,
            "train_loss": result.train_loss,
            "val_loss": result.val_loss,
            "n_windows": len(train),
            "n_val_windows": len(val) if val is not None else 0,
            "torch_seconds": watch.seconds,
            "torch_cpu_seconds": watch.cpu_seconds,
        }
        arch["fit_info"] = dict(self.fit_info)
        self.arch = arch
        self.artifact = net
        return net

    def _architecture(self, values: np.ndarray, y: np.ndarray) -> dict[str, Any]:
        """Sizes and the scaler: feature means/scales over the complete training rows (target's too
        for regression), rounded to float32 so the JSON file reproduces them bit for bit."""
        complete = values[np.isfinite(values).all(axis=1)]
        base = complete if complete.shape[0] else values
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column: mean 0, scale 1
            mean = np.nan_to_num(np.nanmean(base, axis=0), nan=0.0)
            scale = np.nan_to_num(np.nanstd(base, axis=0), nan=1.0)
        scale = np.where(scale > 1e-12, scale, 1.0)
        t_mean, t_scale = 0.0, 1.0
        if self.task == "regression":
            t_mean = float(np.mean(y))
            t_scale = float(np.std(y)) if float(np.std(y)) > 1e-12 else 1.0
        f32 = lambda a: [float(v) for v in np.asarray(a, dtype=np.float32)]  # noqa: E731
        p = self.params
        return {
            "kind": self.kind,
            "task": self.task,
            "n_features": int(values.shape[1]),
            "feature_names": list(self.feature_names),
            "lookback": self.lookback,
            "hidden_size": p.hidden_size,
            "num_layers": p.num_layers,
            "dropout": p.dropout,
            "scaler": {
                "mean": f32(mean),
                "scale": f32(scale),
                "target_mean": f32([t_mean])[0],
                "target_scale": f32([t_scale])[0],
            },
        }

    def final_params(self, fold_infos: list[dict[str, Any]]) -> Any:
        """The final model (every row, no validation slice) trains for the folds' median best epoch."""
        best = [int(i["epochs"]) for i in fold_infos if i.get("epochs") and i.get("n_val_windows")]
        if not best or self.params.early_stopping_patience == 0:
            return self.params
        return self.params.model_copy(update={"epochs": max(1, int(statistics.median(best)))})

    # -- scoring --------------------------------------------------------------------------------

    def _net(self) -> Any:
        if self.artifact is None or self.arch is None:
            raise ValueError(f"model {self.name!r} is not trained or loaded")
        return self.artifact

    def predict(self, X: Any) -> np.ndarray:
        net = self._net()
        values = self._matrix(X)
        if values.shape[1] != self.arch["n_features"]:
            raise DataError(
                f"model {self.name!r}: got {values.shape[1]} feature columns, trained on {self.arch['n_features']}"
            )
        out = np.full(values.shape[0], np.nan)
        rows, index = self._examples(X, values)
        if rows.size:
            watch = Stopwatch()
            with torch_runtime(self.params.threads), watch:
                kind = "probability" if self.arch["task"] == "classification" else "value"
                out[rows] = score(net, as_tensor(values), torch.from_numpy(index), kind).astype(np.float64)
            self.library_seconds += watch.seconds
            self.library_cpu_seconds += watch.cpu_seconds
        return out

    # -- persistence ----------------------------------------------------------------------------

    def save_model(self, artifact: Any, path: str) -> list[str]:
        if self.arch is None:
            raise ValueError(f"model {self.name!r} is not trained or loaded")
        return persistence.save(artifact, self.arch, path)

    def load_model(self, path: str) -> Any:
        net, doc = persistence.load(path)
        if doc["kind"] != self.kind:
            raise DataError(f"{path}: holds a {doc['kind']} network, not {self.kind}")
        self.arch = {
            k: v for k, v in doc.items() if k not in ("format", "weights_file", "weights_sha256", "torch_version")
        }
        self.task = str(doc["task"])
        self.feature_names = list(doc.get("feature_names") or [])
        self.fit_info = dict(doc.get("fit_info") or {})
        self.artifact = net
        return net

    # -- export ---------------------------------------------------------------------------------

    def to_onnx(self, n_features: int, target_opset: int = 15) -> "onnx.ModelProto":
        """The network as ONNX (exported by ``torch.onnx``), scaler included: input ``input`` float32
        ``[N, n_features]`` (MLP) or ``[N, lookback, n_features]`` (LSTM); output ``probabilities``
        ``[N, 2]`` or ``prediction`` ``[N, 1]``."""
        import onnx

        net = self._net()
        if n_features != self.arch["n_features"]:
            raise ValueError(f"model {self.name!r} was trained on {self.arch['n_features']} features, not {n_features}")
        output = "probabilities" if self.arch["task"] == "classification" else "prediction"
        shape = (2, self.lookback, n_features) if self.lookback > 1 else (2, n_features)
        buffer = io.BytesIO()
        with torch_runtime(self.params.threads), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and LSTM batch notes
            torch.onnx.export(
                OnnxOutput(net, self.arch["task"]).eval(),
                (torch.zeros(shape),),
                buffer,
                input_names=["input"],
                output_names=[output],
                dynamic_axes={"input": {0: "n"}, output: {0: "n"}},
                opset_version=target_opset,
                dynamo=False,
            )
        return onnx.load_from_string(buffer.getvalue())


class LSTMModel(TorchModel):
    """LSTM over each ticker's last ``lookback`` feature rows."""

    kind = "lstm"
    params_model = LSTMParams


class MLPModel(TorchModel):
    """Multi-layer perceptron over one feature row."""

    kind = "mlp"
    params_model = MLPParams
