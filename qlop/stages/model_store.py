"""The model store: a run's final model on disk, written once by the train stage, read by predict and export.

``DIR/model/`` holds the model plugin's own files (whatever ``save_model`` wrote) and ``meta.json``,
which records what the model is (type, task, feature columns, label, params, training window) and the
sha256 of every file, so a reader refuses a model that was modified or corrupted after training.
The folder is written atomically: a crash leaves the previous model, or none.
"""

from __future__ import annotations

import datetime as dt
import json
import platform
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qlop.errors import ArtifactError
from qlop.layout import RunLayout
from qlop.stages.components import component_errors, create

if TYPE_CHECKING:
    from qlop.config import PipelineConfig
    from qlop.stages.train import TrainingSet


def prediction_column(task: str) -> str:
    """``prob`` for classification, ``pred`` for regression."""
    return "prob" if task == "classification" else "pred"


def versions() -> dict[str, str]:
    """Versions of what shaped the model (recorded in ``meta.json`` and export bundles)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for dist in ("qlop", "numpy", "pandas", "xgboost", "scikit-learn", "onnx", "onnxmltools", "skl2onnx",
                 "onnxruntime"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            pass
    return out


def plugin_record(kind: str, name: str) -> dict[str, Any]:
    """Name, plugin, version and distribution of the component ``name`` (just the name if unknown)."""
    from qlop.plugins.manager import get_plugin_manager

    try:
        rec = get_plugin_manager().provider(kind, name)
        return {"name": name, "plugin": rec.name, "version": rec.version, "distribution": rec.distribution}
    except Exception:
        return {"name": name}


def save_final_model(config: "PipelineConfig", ts: "TrainingSet", model: Any, info: dict[str, Any],
                     run_dir: str | Path, importance: dict[str, float]) -> Path:
    """Write ``DIR/model/`` atomically: the native files and ``meta.json`` with their sha256."""
    from qlop.atomic import atomic_dir, sha256_file, write_json

    target = RunLayout(run_dir).model_dir
    with atomic_dir(target) as tmp:
        with component_errors("train", "model", config.model.model_type):
            files = list(model.save_model(model.artifact, str(tmp)))
        if not files:
            raise ArtifactError(f"model {config.model.model_type!r}: save_model wrote no files")
        hashes = {}
        for name in files:
            path = tmp / name
            if not path.is_file():
                raise ArtifactError(f"model {config.model.model_type!r}: save_model listed {name!r} but did not write it")
            hashes[name] = sha256_file(path)
        meta = {
            "model_type": config.model.model_type,
            "plugin": plugin_record("model", config.model.model_type),
            "task": ts.task,
            "prediction_column": prediction_column(ts.task),
            "feature_columns": ts.feature_columns,
            "label": ts.label_info,
            "training_window": {"start": info["start"], "end": info["end"], "n_rows": info["n_rows"]},
            "params": config.model.model_params,
            "final_params": info["params"],
            "fit_info": {k: v for k, v in info.items() if k not in ("params", "start", "end", "n_rows")},
            "validation": config.model.validation.model_dump(mode="json"),
            "threshold": config.model.threshold,
            "seed": config.seed,
            "features": config.features.model_dump(mode="json") if config.features is not None else None,
            "model_file": files[0],
            "files": hashes,
            "sha256": hashes[files[0]],
            "feature_importance": importance,
            "versions": versions(),
            "created_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        }
        write_json(tmp / RunLayout.MODEL_META, meta)
    return target


def read_meta(model_dir: str | Path) -> dict[str, Any]:
    """``meta.json`` of a model folder (ArtifactError naming the file when it is missing or not JSON)."""
    path = Path(model_dir) / RunLayout.MODEL_META
    if not path.exists():
        raise ArtifactError(f"{path} not found: run `qlop train` first (or `qlop run`)")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ArtifactError(f"{path}: not valid JSON ({exc})") from None


def verify_model_files(model_dir: str | Path, meta: dict[str, Any]) -> None:
    """Every file listed in ``meta.json`` exists and has its recorded sha256 (ArtifactError if not)."""
    from qlop.atomic import sha256_file

    model_dir = Path(model_dir)
    files = meta.get("files") or {}
    if not files:
        raise ArtifactError(f"{model_dir / RunLayout.MODEL_META}: lists no model files")
    for name, digest in files.items():
        path = model_dir / name
        if not path.is_file():
            raise ArtifactError(f"{path}: model file listed in {RunLayout.MODEL_META} is missing")
        actual = sha256_file(path)
        if actual != digest:
            raise ArtifactError(f"{path}: sha256 {actual[:12]}... does not match {RunLayout.MODEL_META} "
                                f"({digest[:12]}...); the model file was modified or corrupted")


def load_final_model(run_dir: str | Path) -> tuple[Any, dict[str, Any]]:
    """The final model of a run, its hashes checked; returns (model component, meta)."""
    model_dir = RunLayout(run_dir).model_dir
    meta = read_meta(model_dir)
    verify_model_files(model_dir, meta)
    name = meta["model_type"]
    model = create("model", name, meta.get("final_params") or meta.get("params") or {}, "model.model_params")
    model.task = meta["task"]
    model.seed = int(meta.get("seed", 0))
    with component_errors("predict", "model", name):
        model.load_model(str(model_dir))
    model.task = meta["task"]
    return model, meta
