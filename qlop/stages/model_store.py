"""The model store: a run's models on disk, written once by the train stage, read by predict and export.

``DIR/model/`` holds the final model (trained on every labelled row): the model plugin's own files
(whatever ``save_model`` wrote) and ``meta.json``, which records what the model is (type, task,
feature columns, label, params, training window) and the sha256 of every file, so a reader refuses a
model that was modified or corrupted after training. ``DIR/model/folds/<fold>/`` holds each
walk-forward fold's model the same way (with its training and test windows), so every row of
``predictions.parquet`` can be reproduced from the model that made it, and an export can ship the
last fold's model, whose test rows it never saw. The folder is written atomically: a crash leaves the
previous models, or none.
"""

from __future__ import annotations

import datetime as dt
import json
import platform
import tempfile
from dataclasses import dataclass, field
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
    for dist in (
        "qlop",
        "numpy",
        "pandas",
        "xgboost",
        "scikit-learn",
        "onnx",
        "onnxmltools",
        "skl2onnx",
        "onnxruntime",
    ):
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


@dataclass
class FoldModel:
    """One walk-forward fold's trained model as bytes (what ``save_model`` wrote), and its facts.

    Plain data, so a fold fitted on a Dask worker brings its model back to the client.
    """

    fold: int
    files: dict[str, bytes]
    params: dict[str, Any]
    #: the fold's ``folds.json`` record (train and test dates and counts, fit info)
    record: dict[str, Any] = field(default_factory=dict)


def model_bytes(model: Any, model_type: str) -> dict[str, bytes]:
    """The files ``model.save_model`` writes for the trained ``model``, read back as bytes (in order)."""
    with tempfile.TemporaryDirectory(prefix="qlop-model-") as tmp:
        folder = Path(tmp)
        with component_errors("train", "model", model_type):
            names = list(model.save_model(model.artifact, str(folder)))
        return {name: _written(folder, name, model_type).read_bytes() for name in _listed(names, model_type)}


def _listed(names: list[str], model_type: str) -> list[str]:
    if not names:
        raise ArtifactError(f"model {model_type!r}: save_model wrote no files")
    return [str(n) for n in names]


def _written(folder: Path, name: str, model_type: str) -> Path:
    path = folder / name
    if not path.is_file():
        raise ArtifactError(f"model {model_type!r}: save_model listed {name!r} but did not write it")
    return path


def _common_meta(config: "PipelineConfig", ts: "TrainingSet") -> dict[str, Any]:
    """What the final model and every fold model share: what they are and what they read."""
    return {
        "model_type": config.model.model_type,
        "plugin": plugin_record("model", config.model.model_type),
        "task": ts.task,
        "prediction_column": prediction_column(ts.task),
        "feature_columns": ts.feature_columns,
        "label": ts.label_info,
        "params": config.model.model_params,
        "validation": config.model.validation.model_dump(mode="json"),
        "threshold": config.model.threshold,
        "seed": config.seed,
        "features": config.features.model_dump(mode="json") if config.features is not None else None,
    }


def _files_meta(folder: Path, names: list[str]) -> dict[str, Any]:
    from qlop.atomic import sha256_file

    hashes = {name: sha256_file(folder / name) for name in names}
    return {
        "model_file": names[0],
        "files": hashes,
        "sha256": hashes[names[0]],
        "versions": versions(),
        "created_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }


def _write_fold(folder: Path, config: "PipelineConfig", ts: "TrainingSet", fold: FoldModel) -> None:
    from qlop.atomic import write_bytes, write_json

    folder.mkdir(parents=True)
    names = _listed(list(fold.files), config.model.model_type)
    for name in names:
        write_bytes(folder / name, fold.files[name])
    r = fold.record
    fit_info = {
        k: v
        for k, v in r.items()
        if k not in ("fold", "train_start", "train_end", "test_start", "test_end", "n_train", "n_test")
    }
    meta = {
        "role": "fold",
        "fold": fold.fold,
        **_common_meta(config, ts),
        "training_window": {"start": r.get("train_start"), "end": r.get("train_end"), "n_rows": r.get("n_train")},
        "test_window": {"start": r.get("test_start"), "end": r.get("test_end"), "n_rows": r.get("n_test")},
        "model_params": fold.params,
        "fit_info": fit_info,
        **_files_meta(folder, names),
    }
    write_json(folder / RunLayout.MODEL_META, meta)


def save_models(
    config: "PipelineConfig",
    ts: "TrainingSet",
    model: Any,
    info: dict[str, Any],
    run_dir: str | Path,
    importance: dict[str, float],
    folds: list[FoldModel],
) -> Path:
    """Write ``DIR/model/`` atomically: the final model's native files and ``meta.json`` with their
    sha256, and under ``folds/`` every walk-forward fold's model the same way, so each out-of-sample
    prediction can be reproduced from the model that made it (:func:`load_fold_model`)."""
    from qlop.atomic import atomic_dir, write_json

    layout = RunLayout(run_dir)
    with atomic_dir(layout.model_dir) as tmp:
        with component_errors("train", "model", config.model.model_type):
            names = _listed(list(model.save_model(model.artifact, str(tmp))), config.model.model_type)
        for name in names:
            _written(tmp, name, config.model.model_type)
        fold_dirs = {}
        for fold in folds:
            rel = RunLayout.fold_model_name(fold.fold)
            _write_fold(tmp / rel, config, ts, fold)
            fold_dirs[str(fold.fold)] = rel
        meta = {
            "role": "final",
            **_common_meta(config, ts),
            "training_window": {"start": info["start"], "end": info["end"], "n_rows": info["n_rows"]},
            "model_params": info["params"],
            "final_params": info["params"],
            "fit_info": {k: v for k, v in info.items() if k not in ("params", "start", "end", "n_rows")},
            "feature_importance": importance,
            "fold_models": fold_dirs,
            **_files_meta(tmp, names),
        }
        write_json(tmp / RunLayout.MODEL_META, meta)
    return layout.model_dir


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
            raise ArtifactError(
                f"{path}: sha256 {actual[:12]}... does not match {RunLayout.MODEL_META} "
                f"({digest[:12]}...); the model file was modified or corrupted"
            )


def load_model_dir(model_dir: str | Path) -> tuple[Any, dict[str, Any]]:
    """The model saved in ``model_dir`` (the final model's folder or a fold's), its hashes checked;
    returns (model component, meta)."""
    model_dir = Path(model_dir)
    meta = read_meta(model_dir)
    verify_model_files(model_dir, meta)
    name = meta["model_type"]
    params = meta.get("model_params") or meta.get("final_params") or meta.get("params") or {}
    model = create("model", name, params, "model.model_params")
    model.task = meta["task"]
    model.seed = int(meta.get("seed", 0))
    with component_errors("predict", "model", name):
        model.load_model(str(model_dir))
    model.task = meta["task"]
    return model, meta


def load_final_model(run_dir: str | Path) -> tuple[Any, dict[str, Any]]:
    """The final model of a run, its hashes checked; returns (model component, meta)."""
    return load_model_dir(RunLayout(run_dir).model_dir)


def fold_ids(run_dir: str | Path) -> list[int]:
    """The folds whose models the run saved, in order (from the final model's ``meta.json``)."""
    return sorted(int(k) for k in (read_meta(RunLayout(run_dir).model_dir).get("fold_models") or {}))


def load_fold_model(run_dir: str | Path, fold: int) -> tuple[Any, dict[str, Any]]:
    """Walk-forward fold ``fold``'s model as it scored its test rows, its hashes checked."""
    layout = RunLayout(run_dir)
    saved = fold_ids(run_dir)
    if fold not in saved:
        have = (
            f"folds {saved[0]}..{saved[-1]}"
            if saved
            else "no fold models (trained before QLOP saved them: run `qlop train` again)"
        )
        raise ArtifactError(f"{layout.model_dir}: no model of fold {fold} ({have})")
    return load_model_dir(layout.fold_model_dir(fold))
