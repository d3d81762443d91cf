"""The ``onnx`` exporter: ``model.onnx`` + ``bundle.json``, refused unless onnxruntime matches the model.

XGBoost models are converted by onnxmltools, scikit-learn ones by skl2onnx (ZipMap off), each through
the model plugin's ``to_onnx(n_features, target_opset)``. A sequence model (``lookback > 1``) exports a
graph over windows ``[n, lookback, n_features]``; the bundle records ``lookback`` and scoring builds the
windows from the feature rows (:func:`qlop.bundle.onnx_input`). Before anything is written, the graph is run
with onnxruntime on the export's parity rows and compared with the native model's predictions: a
difference above ``parity_tolerance`` fails the export. The parity rows are the last walk-forward test
fold's: out of sample for ``[export] model = "last_fold"`` (that fold's model never saw them), in
sample for the final model (it trained on them); ``bundle.json`` says which model it holds, what its
parity rows are, and labels its metrics (the walk-forward folds' out-of-sample record, and the exported
model's own out-of-sample metrics where it has any).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from qlop.api import ArtifactError, BaseExportFormatPlugin, RunLayout, number


class OnnxParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target_opset: int = number(15, ge=9, le=21, unit="(ONNX opset)", description="ONNX opset of the exported graph")
    parity_tolerance: float = number(
        1e-5,
        gt=0,
        le=1e-2,
        unit="(absolute difference)",
        description="Largest allowed |onnxruntime - native| on the parity rows",
    )
    max_parity_rows: int = number(50_000, ge=1, le=10_000_000, unit="rows", description="Parity rows compared at most")
    check_features: bool = Field(
        True,
        description=f"Recompute the features from DIR/{RunLayout.DATA} with the "
        "bundle's feature config and require the trained-on values",
    )


class OnnxExporter(BaseExportFormatPlugin):
    """Portable bundle for scoring with onnxruntime alone (``qlop predict --bundle``)."""

    params_model = OnnxParams

    def export(self, artifact: Any, output_path: str) -> dict[str, Any]:
        from qlop.api import (
            BUNDLE_FORMAT,
            onnx_input,
            onnx_session,
            output_spec,
            run_session,
            versions,
            write_bundle,
            write_bytes,
        )

        model, meta = artifact.model, artifact.meta
        columns = list(artifact.feature_columns)
        onx = model.to_onnx(len(columns), self.params.target_opset)
        if onx is None:
            raise ArtifactError(
                f"model {meta['model_type']!r} has no ONNX converter (its to_onnx returns None); "
                "use format_name = 'native'"
            )
        blob = onx.SerializeToString()
        session = onnx_session(blob)
        output = output_spec(session, artifact.task)
        input_name = session.get_inputs()[0].name

        sample = artifact.parity_sample.replace("_", "-")  # in-sample or out-of-sample, for this model
        parity = artifact.parity_rows
        if parity is None or len(parity) == 0:
            raise ArtifactError(
                f"{artifact.run_dir}: no rows for the ONNX parity check "
                f"({RunLayout.PREDICTIONS} / {RunLayout.FEATURES} missing or empty)"
            )
        parity = parity[columns].iloc[: self.params.max_parity_rows]
        lookback = int(model.lookback)
        native = np.asarray(model.predict(parity), dtype=np.float64)
        inputs, rows = onnx_input(parity.to_numpy(dtype=np.float64, na_value=np.nan), parity.index, lookback)
        via_onnx = np.full(len(parity), np.nan)
        via_onnx[rows] = run_session(session, output, inputs, input_name)
        if lookback > 1 and not np.array_equal(np.isnan(native), np.isnan(via_onnx)):
            raise ArtifactError(
                f"ONNX parity check failed: the native {meta['model_type']} model scores "
                f"{int((~np.isnan(native)).sum())} {sample} rows, its {lookback}-row windows "
                f"{rows.size}"
            )
        compared = ~np.isnan(native) if lookback > 1 else np.ones(native.size, dtype=bool)
        native = native[compared]
        diff = float(np.max(np.abs(native - via_onnx[compared]))) if native.size else 0.0
        if not np.isfinite(diff) or diff > self.params.parity_tolerance:
            raise ArtifactError(
                f"ONNX parity check failed: onnxruntime differs from the native "
                f"{meta['model_type']} model by {diff:.3g} (> {self.params.parity_tolerance:g}) "
                f"on {native.size} {sample} rows"
            )

        feature_diff = self._feature_parity(artifact, parity) if self.params.check_features else None

        write_bytes(os.path.join(output_path, RunLayout.ONNX_MODEL), blob)
        native_file = artifact.model_dir / meta["model_file"]
        native_rel = os.path.relpath(native_file, output_path)
        dates = parity.index.get_level_values(1)
        bundle = {
            "format": BUNDLE_FORMAT,
            "model_file": RunLayout.ONNX_MODEL,
            "input_name": input_name,
            "output": output,
            "task": artifact.task,
            "prediction_column": artifact.prediction_column,
            "feature_columns": columns,
            "lookback": lookback,
            "native_model": native_rel,
            "native_model_type": meta["model_type"],
            "native_files": meta.get("files", {}),
            "label": artifact.label,
            "features": artifact.features,
            "threshold": meta.get("threshold"),
            "model": artifact.model_choice,
            "model_fold": meta.get("fold"),
            "training_window": meta.get("training_window"),
            "test_window": meta.get("test_window"),
            "metrics": artifact.model_metrics(),
            "plugins": artifact.plugins,
            "versions": versions(),
            "target_opset": self.params.target_opset,
            "hashes": {"native_model": meta.get("sha256")},  # + the model file's, when written (signed)
            "parity_max_abs_diff": diff,
            "parity_tolerance": self.params.parity_tolerance,
            "parity_rows": int(native.size),
            "parity_sample": artifact.parity_sample,
            "parity_window": [str(dates.min().date()), str(dates.max().date())] if native.size else None,
            "feature_parity_max_abs_diff": feature_diff,
            "created_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        }
        bundle = json.loads(write_bundle(output_path, bundle).read_text(encoding="utf-8"))
        return {
            "files": {"model": RunLayout.ONNX_MODEL, "bundle": RunLayout.BUNDLE},
            "parity_evaluator": "onnxruntime",
            "parity_max_abs_diff": diff,
            "parity_rows": int(native.size),
            "feature_parity_max_abs_diff": feature_diff,
            "onnx_sha256": bundle["hashes"][RunLayout.ONNX_MODEL],
            "onnx_bytes": os.path.getsize(os.path.join(output_path, RunLayout.ONNX_MODEL)),
        }

    @staticmethod
    def _feature_parity(artifact: Any, parity: Any) -> float | None:
        """Recompute the parity rows' features from the run's raw data with the bundle's config.

        A bundle scores raw OHLCV through its feature config, so that config must reproduce the values
        the model was trained on (it would not if the config changed after ``features.parquet`` was
        built). None when the run has no ``data.parquet`` or no feature steps.
        """
        recomputed = artifact.recompute_features()
        if recomputed is None:
            return None
        missing = [c for c in parity.columns if c not in recomputed.columns]
        if missing:
            raise ArtifactError(
                f"the feature config recorded with the model does not produce column "
                f"{missing[0]!r}; rebuild features and retrain"
            )
        a = parity.to_numpy(dtype=np.float64, na_value=np.nan)
        b = recomputed.reindex(parity.index)[list(parity.columns)].to_numpy(dtype=np.float64, na_value=np.nan)
        same = np.isclose(a, b, rtol=1e-9, atol=1e-12) | (np.isnan(a) & np.isnan(b))
        if not same.all():
            row, col = np.argwhere(~same)[0]
            ticker, date = parity.index[row]
            raise ArtifactError(
                f"feature {parity.columns[col]!r} recomputed from {RunLayout.DATA} differs from "
                f"{RunLayout.FEATURES} at ticker {ticker}, date {date.date()}: the feature config "
                "changed after the features were built; rebuild features and retrain"
            )
        both = ~np.isnan(a) & ~np.isnan(b)
        return float(np.max(np.abs(a[both] - b[both]))) if both.any() else 0.0
