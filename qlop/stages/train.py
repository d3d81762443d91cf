"""The train stage: out-of-sample predictions by walk-forward (or purged k-fold), then the final model.

Inputs ``DIR/features.parquet`` and ``DIR/labels.parquet``; outputs ``DIR/predictions.parquet``
(``prob`` or ``pred`` and ``fold``, each date predicted only by the fold whose test window holds it),
``DIR/folds.json``, ``DIR/train_metrics.json`` and ``DIR/model/`` (the final model, trained on every
usable row, and every fold's model under ``model/folds/``, written by :mod:`qlop.stages.model_store`). Splits come from :mod:`qlop.validation`, whose
docstring says why purge and embargo exist.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from qlop.adapters import fold_info, model_fit_inputs, predict_values
from qlop.artifacts import read_frame
from qlop.errors import ArtifactError, ConfigError, DataError
from qlop.layout import RunLayout
from qlop.stages.components import component_errors, create
from qlop.stages.model_store import FoldModel, model_bytes, prediction_column, save_models

if TYPE_CHECKING:
    from collections.abc import Iterator

    import pandas as pd

    from qlop.config import PipelineConfig


@dataclass
class TrainingSet:
    """Features and labels aligned on the panel index, with the rows a model may learn from."""

    X: "pd.DataFrame"
    y: np.ndarray
    usable: np.ndarray
    task: str
    horizon: int
    label_info: dict[str, Any] = field(default_factory=dict)
    #: rows a model can score (complete features with ``dropna``), labelled or not
    scorable: np.ndarray | None = None

    @property
    def feature_columns(self) -> list[str]:
        return [str(c) for c in self.X.columns]


def label_plugin(config: "PipelineConfig") -> Any:
    if config.label is None:
        raise ConfigError("label: a [label] section is required to train (it defines the task and horizon)")
    return create("label", config.label.label_type, config.label.label_params, "label.label_params")


def usable_rows(X: "pd.DataFrame", y: np.ndarray, dropna: bool) -> np.ndarray:
    """Rows a model may learn from: a known label and, with ``dropna``, no missing feature."""
    ok = ~np.isnan(y)
    if dropna and X.shape[1]:
        ok &= ~np.isnan(X.to_numpy(dtype=np.float64, na_value=np.nan)).any(axis=1)
    return ok


def scorable_rows(X: "pd.DataFrame", dropna: bool) -> np.ndarray:
    """Rows a model can be asked about: every row, or with ``dropna`` those with no missing feature."""
    if dropna and X.shape[1]:
        return ~np.isnan(X.to_numpy(dtype=np.float64, na_value=np.nan)).any(axis=1)
    return np.ones(len(X), dtype=bool)


def load_training_set(config: "PipelineConfig", run_dir: str | Path) -> TrainingSet:
    """Read and align ``features.parquet`` and ``labels.parquet``; check they describe the same rows."""
    import pandas as pd

    layout = RunLayout(run_dir)
    X = read_frame(layout.features, "qlop features build")
    labels = read_frame(layout.labels, "qlop features build")
    if "label" not in labels.columns:
        raise ArtifactError(f"{layout.labels}: no 'label' column")
    if not X.index.equals(labels.index):
        raise ArtifactError(f"{layout.labels}: index differs from {RunLayout.FEATURES}; rebuild both")
    if X.shape[1] == 0:
        raise ArtifactError(f"{layout.features}: no feature columns")
    bad = [c for c in X.columns if X[c].dtype.kind not in "fiub"]
    if bad:
        raise ArtifactError(f"{layout.features}: column {bad[0]!r} is not numeric ({X[bad[0]].dtype})")
    values = X.to_numpy(dtype=np.float64, na_value=np.nan)
    infinite = np.isinf(values)
    if infinite.any():
        row, col = np.argwhere(infinite)[0]
        ticker, date = X.index[row]
        raise DataError(
            f"{layout.features}: column {X.columns[col]!r}, ticker {ticker}, date "
            f"{pd.Timestamp(date).date()}: infinite value ({int(infinite.sum())} in all); "
            "fix the feature step"
        )
    plugin = label_plugin(config)
    y = labels["label"].to_numpy(dtype=np.float64, na_value=np.nan)
    dropna = config.features.dropna if config.features is not None else True
    info = {
        "label_type": config.label.label_type,
        "label_params": plugin.params.model_dump(mode="json"),
        "task": plugin.task,
        "horizon": int(plugin.horizon),
    }
    usable = usable_rows(X, y, dropna)
    if not usable.any():
        raise no_training_rows(X, y, int(plugin.horizon))
    return TrainingSet(X, y, usable, plugin.task, int(plugin.horizon), info, scorable_rows(X, dropna))


def no_training_rows(X: "pd.DataFrame", y: np.ndarray, horizon: int) -> ConfigError:
    """Why no row can train a model, naming what to change: every label NaN (a horizon longer than the
    history), or no labelled row with every feature (a feature NaN wherever a label is known)."""
    labelled = ~np.isnan(y)
    if not labelled.any():
        longest = int(X.groupby(level=0, sort=False).size().max()) if len(X) else 0
        why = (
            f"the label's horizon ({horizon} bars) leaves no day with a known outcome in the longest "
            f"ticker history ({longest} bars)"
            if horizon >= longest
            else "the label plugin gave no label"
        )
        return ConfigError(
            f"label: every label is NaN ({len(y):,} rows): {why}; load more history or shorten the horizon"
        )
    values = X.to_numpy(dtype=np.float64, na_value=np.nan)[labelled]
    empty = [str(c) for c, ok in zip(X.columns, (~np.isnan(values)).any(axis=0)) if not ok]
    why = (
        f"feature {empty[0]!r} is NaN on every labelled row: a cross-sectional feature needs several "
        "tickers, a rolling one enough history"
        if empty
        else "every labelled row has a NaN feature"
    )
    return ConfigError(f"features: no labelled row has every feature ({why}; features.dropna drops such rows)")


def embargo_bars(config: "PipelineConfig", horizon: int) -> int:
    """The configured embargo, or the label horizon; shorter than the horizon is a config error."""
    embargo = config.model.validation.embargo_days
    if embargo is None:
        return horizon
    if embargo < horizon:
        raise ConfigError(
            f"model.validation.embargo_days: {embargo} is shorter than the label horizon "
            f"({horizon}); test labels would leak into training"
        )
    return int(embargo)


def make_model(config: "PipelineConfig", task: str, params: Any = None) -> Any:
    """A fresh model component for ``task``, seeded from the config."""
    mcfg = config.model
    model = create("model", mcfg.model_type, params if params is not None else mcfg.model_params, "model.model_params")
    if task not in model.tasks:
        raise ConfigError(
            f"model.model_type: {mcfg.model_type!r} supports {', '.join(model.tasks)} labels, "
            f"but label {config.label.label_type!r} is a {task} label"
        )
    model.task = task
    model.seed = config.seed
    return model


@dataclass
class FoldTimings:
    """Seconds spent inside the model's own train/predict calls (the rest is QLOP's overhead)."""

    fit: float = 0.0
    predict: float = 0.0
    #: time inside the library's own calls, for models that measure it (``library_seconds``)
    library: float = 0.0

    def add(self, other: "FoldTimings") -> None:
        self.fit += other.fit
        self.predict += other.predict
        self.library += other.library


@dataclass
class FoldFit:
    """What fitting one fold gives back: its test predictions, its ``folds.json`` facts, its timings.

    Plain arrays and dicts, so a fold fitted by a task on a Dask worker (:mod:`qlop.scale.folds`)
    returns exactly what the serial loop gets.
    """

    fold: int
    pred: np.ndarray
    info: dict[str, Any]
    timings: FoldTimings
    #: the trained model's files as ``save_model`` wrote them, and its params: saved under
    #: ``model/folds/<fold>/`` so its predictions can be reproduced
    model_files: dict[str, bytes] = field(default_factory=dict)
    model_params: dict[str, Any] = field(default_factory=dict)
    #: where it ran, wall and CPU seconds of the whole task (cluster execution only)
    worker: str | None = None
    seconds: float | None = None
    cpu_seconds: float | None = None


def fit_fold(config: "PipelineConfig", ts: TrainingSet, fold: Any, label_end: np.ndarray, dates: np.ndarray) -> FoldFit:
    """Train a fresh model on the fold's training rows and score its test rows (out of sample)."""
    from qlop.validation import validation_split

    mcfg = config.model
    timings = FoldTimings()
    fit_idx, val_idx = validation_split(fold.train_idx, dates, label_end, mcfg.validation.validation_fraction)
    model = make_model(config, ts.task)
    X = ts.X
    X_fit, y_fit = model_fit_inputs(X, ts.y, fit_idx)
    X_val, y_val = model_fit_inputs(X, ts.y, val_idx) if val_idx.size else (None, None)
    with component_errors("train", "model", mcfg.model_type):
        t0 = time.perf_counter()
        model.train(X_fit, y_fit, X_val, y_val)
        t1 = time.perf_counter()
        # a sequence model also gets each ticker's rows just before the test window (its history)
        pred = predict_values(model, X, fold.test_idx, ts.scorable, f"fold {fold.fold}")
        timings.fit += t1 - t0
        timings.predict += time.perf_counter() - t1
    timings.library += float(model.library_seconds)
    val_start = str(np.datetime64(dates[val_idx].min(), "D")) if val_idx.size else None
    return FoldFit(
        fold.fold,
        pred,
        fold_info(model, fit_idx.size, val_idx.size, val_start),
        timings,
        model_bytes(model, mcfg.model_type),
        model.params.model_dump(mode="json"),
    )


def _serial_fits(
    config: "PipelineConfig", ts: TrainingSet, folds: list[Any], label_end: np.ndarray, dates: np.ndarray
) -> "Iterator[FoldFit]":
    for fold in folds:
        yield fit_fold(config, ts, fold, label_end, dates)


def run(config: "PipelineConfig", run_dir: str | Path) -> dict[str, str]:
    """Walk-forward (or purged k-fold) training into ``run_dir``; returns artefact name -> path."""
    return train(config, run_dir)["artifacts"]


def train(config: "PipelineConfig", run_dir: str | Path) -> dict[str, Any]:
    """:func:`run` plus a summary (metrics, folds, timings) for the CLI and the benchmark."""
    import pandas as pd

    from qlop.atomic import write_json, write_parquet
    from qlop.ml_metrics import task_metrics
    from qlop.progress import stage_progress
    from qlop.validation import label_end_dates, make_folds

    if config.model is None:
        raise ConfigError("model: a [model] section is required to train")
    run_dir = Path(run_dir)
    started = time.perf_counter()
    ts = load_training_set(config, run_dir)
    embargo = embargo_bars(config, ts.horizon)
    make_model(config, ts.task)  # fail on an unsupported task before any work
    folds = make_folds(ts.X.index, ts.usable, ts.horizon, config.model.validation, embargo, ts.scorable)
    dates = ts.X.index.get_level_values(1).to_numpy(dtype="datetime64[ns]")
    label_end = label_end_dates(ts.X.index, ts.horizon)
    col = prediction_column(ts.task)
    threshold = config.model.threshold
    folds_by_id = {f.fold: f for f in folds}
    timings = FoldTimings()
    outcomes: dict[int, dict[str, Any]] = {}
    # the counter is the folds (the number the answer and the fold table show); the final model
    # on every row is extra work: it weighs in the stage's fraction and ETA, not in "3/10 fold"
    with (
        stage_progress("train", total=len(folds), unit="fold", extra_work=1) as progress,
        contextlib.ExitStack() as stack,
    ):
        fits, execution = _fold_fits(config, ts, folds, label_end, dates, stack, progress)
        for fit in fits:  # fold order when serial, completion order on a cluster
            fold = folds_by_id[fit.fold]
            timings.add(fit.timings)
            outcome = _fold_outcome(ts, fold, fit, dates, threshold)
            outcomes[fold.fold] = outcome
            record = outcome["record"]
            progress.advance(
                message=f"fold {fold.fold + 1}/{len(folds)} "
                f"({record['test_start']} .. {record['test_end']})" + (f" on {fit.worker}" if fit.worker else ""),
                metrics=outcome["metrics"],
            )
        progress.advance(0, message="final model (every row)")
        ordered = [outcomes[f.fold] for f in folds]
        final_model, final_info = _fit_final(config, ts, [o["info"] for o in ordered], timings)
        progress.work(message="final model done")
    rows = [o["rows"] for o in ordered]
    preds = [o["pred"] for o in ordered]
    fold_ids = [np.full(o["rows"].size, o["fold"], dtype=np.int64) for o in ordered]
    fold_records = [o["record"] for o in ordered]
    fold_metrics = [o["metrics"] for o in ordered]

    idx = np.concatenate(rows)
    order = np.argsort(idx, kind="stable")
    idx = idx[order]
    predictions = pd.DataFrame(
        {col: np.concatenate(preds)[order], "fold": np.concatenate(fold_ids)[order]}, index=ts.X.index[idx]
    )
    known = ~np.isnan(ts.y[idx])
    overall = task_metrics(ts.task, ts.y[idx][known], predictions[col].to_numpy()[known], threshold)
    importance = final_model.feature_importance() or {}
    metrics = {
        "task": ts.task,
        "prediction_column": col,
        "scheme": config.model.validation.scheme,
        "model_type": config.model.model_type,
        "n_folds": len(folds),
        "n_predictions": int(idx.size),
        "overall": overall,
        "folds": fold_metrics,
        "mean_over_folds": _mean_metrics(fold_metrics),
        "feature_importance": importance,
        "timings": {
            "model_fit_seconds": timings.fit,
            "model_predict_seconds": timings.predict,
            "library_seconds": timings.library,
        },
        "execution": execution,
    }
    layout = RunLayout(run_dir)
    artifacts = {
        "predictions": str(write_parquet(predictions, layout.predictions)),
        "folds": str(write_json(layout.folds, fold_records)),
    }
    fold_models = [FoldModel(o["fold"], o["model_files"], o["model_params"], o["record"]) for o in ordered]
    artifacts["model"] = str(save_models(config, ts, final_model, final_info, run_dir, importance, fold_models))
    metrics["timings"]["stage_seconds"] = time.perf_counter() - started
    artifacts["train_metrics"] = str(write_json(layout.train_metrics, metrics))
    return {"artifacts": artifacts, "metrics": metrics, "folds": fold_records, "predictions": predictions}


def _fold_outcome(ts: TrainingSet, fold: Any, fit: FoldFit, dates: np.ndarray, threshold: float) -> dict[str, Any]:
    """A fitted fold's scored test rows, its ``folds.json`` record and its metrics."""
    from qlop.ml_metrics import task_metrics

    pred = fit.pred
    scored = ~np.isnan(pred)  # a sequence model leaves rows without a full window unscored
    test_rows, pred = fold.test_idx[scored], pred[scored]
    record = fold.summary(dates) | fit.info
    record["n_test_unscored"] = int((~scored).sum())
    known = ~np.isnan(ts.y[test_rows])  # rows near the end of the data have no label yet
    record["n_test_unlabelled"] = int((~known).sum())
    m = task_metrics(ts.task, ts.y[test_rows][known], pred[known], threshold)
    metrics = {"fold": fold.fold, "test_start": record["test_start"], "test_end": record["test_end"], **m}
    return {
        "fold": fold.fold,
        "rows": test_rows,
        "pred": pred,
        "info": fit.info,
        "record": record,
        "metrics": metrics,
        "model_files": fit.model_files,
        "model_params": fit.model_params,
    }


def _fold_fits(
    config: "PipelineConfig",
    ts: TrainingSet,
    folds: list[Any],
    label_end: np.ndarray,
    dates: np.ndarray,
    stack: contextlib.ExitStack,
    progress: Any,
) -> tuple["Iterator[FoldFit]", dict[str, Any]]:
    """Where the folds are fitted: one after another here, or as Dask tasks on the run's cluster.

    A model that spreads its own training over the cluster (``uses_cluster``, e.g. ``xgboost.dask``)
    fits its folds one after another, each across every worker; it gets the run's cluster, or a local
    one of the machine's cores opened for this stage. Otherwise, with a cluster (``--workers`` /
    ``--scheduler``) and more than one fold, each fold is a task (:mod:`qlop.scale.folds`).
    """
    from qlop.scale.cluster import active_session, cluster_session, refuse_nested_cluster

    session = active_session()
    if make_model(config, ts.task).uses_cluster:
        if session is None:
            refuse_nested_cluster(f"model.model_type {config.model.model_type!r}")
            session = stack.enter_context(cluster_session())
        if not session.started:
            progress.advance(0, message=f"starting Dask ({session.spec.describe()})")
        return _serial_fits(config, ts, folds, label_end, dates), {
            "folds": "serial",
            "model": "distributed",
            "cluster": session.spec.describe(),
            "workers": session.n_workers(),
        }
    if session is None or len(folds) < 2:
        return _serial_fits(config, ts, folds, label_end, dates), {"folds": "serial"}
    from qlop.scale.folds import fit_folds

    if not session.started:
        progress.advance(0, message=f"starting Dask ({session.spec.describe()})")
    execution: dict[str, Any] = {"folds": "tasks", "cluster": session.spec.describe()}
    return fit_folds(session.client, config, ts, folds, label_end, dates, execution), execution


def _mean_metrics(fold_metrics: list[dict[str, Any]]) -> dict[str, Any]:
    keys = list(
        dict.fromkeys(
            k
            for m in fold_metrics
            for k, v in m.items()
            if isinstance(v, (int, float)) and k not in ("fold", "n", "threshold")
        )
    )
    out = {}
    for k in keys:
        vals = [m[k] for m in fold_metrics if m.get(k) is not None]
        out[k] = float(np.mean(vals)) if vals else None
    return out


def _fit_final(
    config: "PipelineConfig", ts: TrainingSet, infos: list[dict[str, Any]], timings: FoldTimings
) -> tuple[Any, dict[str, Any]]:
    """The deployable model: every usable row, with settings chosen by the folds (e.g. boosting rounds)."""
    probe = make_model(config, ts.task)
    with component_errors("train", "model", config.model.model_type):
        params = probe.final_params(infos)
    model = make_model(config, ts.task, params)
    rows = np.flatnonzero(ts.usable)
    with component_errors("train", "model", config.model.model_type):
        t0 = time.perf_counter()
        model.train(*model_fit_inputs(ts.X, ts.y, rows), None, None)
        timings.fit += time.perf_counter() - t0
    timings.library += float(model.library_seconds)
    from qlop.validation import bar_iso

    dates = ts.X.index.get_level_values(1)[rows]
    info = {
        "n_rows": int(rows.size),
        "start": bar_iso(dates.min()),  # YYYY-MM-DD, or the bar's time (UTC) on intraday bars
        "end": bar_iso(dates.max()),
        "params": model.params.model_dump(mode="json"),
    }
    info.update(model.fit_info)
    return model, info
