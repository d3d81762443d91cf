"""The export stage: hand one of the run's models to the configured exporter, writing ``DIR/export``.

``[export] model`` picks it: ``final`` (the default) is refit on every labelled row, so no row of the
run is out of sample for it and its parity check runs on rows it trained on (labelled ``in_sample``);
``last_fold`` is the last walk-forward fold's model, and its parity rows are that fold's test rows,
which it never saw (``out_of_sample``). The walk-forward metrics describe the fold models on their own
test rows, not the final model: an exporter states which model it ships and labels the metrics so.

The exporter receives an :class:`ExportInput` and writes into a temporary directory that replaces
``DIR/export`` only when it succeeded (:func:`qlop.atomic.atomic_dir`): a failed parity check or a
crash leaves the previous export, or nothing, never half a bundle.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qlop.errors import ArtifactError, ConfigError
from qlop.layout import RunLayout
from qlop.stages.components import component_errors, create
from qlop.stages.model_store import fold_ids, load_final_model, load_fold_model, plugin_record

if TYPE_CHECKING:
    import pandas as pd

    from qlop.config import PipelineConfig

#: ``[export] model`` choices and what their parity rows are for that model.
MODEL_CHOICES = {"final": "in_sample", "last_fold": "out_of_sample"}


@dataclass
class ExportInput:
    """Everything an exporter may need about a trained run.

    ``model`` is the loaded model component (hashes already checked) that ``model_choice`` names:
    ``final`` or ``last_fold``; ``meta`` is its ``meta.json``. ``parity_rows`` are the feature rows a
    parity check compares the export with the native model on, and ``parity_sample`` says what they are
    for this model: ``out_of_sample`` (the last fold's test rows, for that fold's model) or
    ``in_sample`` (rows the final model trained on). ``metrics`` is ``train_metrics.json``: the
    walk-forward folds' out-of-sample metrics, which describe the fold models, not the final one.
    """

    model: Any
    meta: dict[str, Any]
    run_dir: Path
    feature_columns: list[str]
    features: dict[str, Any] | None
    label: dict[str, Any]
    metrics: dict[str, Any] | None = None
    parity_rows: "pd.DataFrame | None" = None
    plugins: dict[str, Any] = field(default_factory=dict)
    model_choice: str = "final"

    @property
    def parity_sample(self) -> str:
        """``in_sample`` or ``out_of_sample``: what the parity rows are for the exported model."""
        return MODEL_CHOICES[self.model_choice]

    @property
    def model_dir(self) -> Path:
        """The exported model's folder: ``model/``, or the last fold's ``model/folds/<fold>/``."""
        layout = RunLayout(self.run_dir)
        return layout.fold_model_dir(self.meta["fold"]) if self.model_choice == "last_fold" else layout.model_dir

    def model_metrics(self) -> dict[str, Any]:
        """The metrics a bundle may quote, each labelled for what it is.

        ``walk_forward_out_of_sample``: every fold's model on its own test rows (the procedure's
        out-of-sample record; not this model's). ``this_model_out_of_sample``: the exported model on
        rows it never saw (the last fold's test metrics for ``last_fold``; None for ``final``, which
        trained on every labelled row).
        """
        metrics = self.metrics or {}
        own = None
        if self.model_choice == "last_fold":
            own = next((m for m in metrics.get("folds") or [] if m.get("fold") == self.meta.get("fold")), None)
        return {"walk_forward_out_of_sample": metrics.get("overall"), "this_model_out_of_sample": own}

    @property
    def task(self) -> str:
        return str(self.meta["task"])

    @property
    def prediction_column(self) -> str:
        return str(self.meta["prediction_column"])

    def model_files(self) -> dict[str, Path]:
        """The model's native files and its ``meta.json``, by file name, each checked against the sha256
        recorded at training (:class:`ArtifactError` naming the file otherwise): what an exporter copies."""
        from qlop.stages.model_store import verify_model_files

        verify_model_files(self.model_dir, self.meta)
        return {name: self.model_dir / name for name in [*self.meta["files"], RunLayout.MODEL_META]}

    def predictions_path(self, source: str = "out_of_sample") -> Path:
        """Where the run keeps its predictions: ``out_of_sample`` (walk-forward, written by ``qlop train``)
        or ``final`` (the final model's in-sample scores, written by ``qlop predict``). May not exist."""
        layout = RunLayout(self.run_dir)
        paths = {"out_of_sample": layout.predictions, "final": layout.final_predictions}
        if source not in paths:
            raise ValueError(f"predictions source must be one of {', '.join(paths)}, not {source!r}")
        return paths[source]

    def recompute_features(self) -> "pd.DataFrame | None":
        """The run's features recomputed from its raw data with the feature config recorded with the
        model (what a bundle does when it scores raw OHLCV), or None when the run has no raw data or no
        feature steps. An exporter compares it with :attr:`parity_rows` to prove the config reproduces the
        trained-on values."""
        from qlop.stages.data import read_panel
        from qlop.stages.features import compute_features

        data_path = RunLayout(self.run_dir).data
        if not data_path.exists() or not (self.features or {}).get("steps"):
            return None
        return compute_features(read_panel(data_path), self.features)


def parity_rows(run_dir: Path, meta: dict[str, Any], model_choice: str) -> "pd.DataFrame | None":
    """The feature rows a parity check runs on, or None without predictions.

    Both choices use the last walk-forward fold's test rows (recent, and scored by a model): for
    ``last_fold`` exactly the rows that fold's model predicted out of sample (its rows of
    ``predictions.parquet``); for ``final`` those of them inside the final model's training window,
    rows it trained on.
    """
    import pandas as pd

    layout = RunLayout(run_dir)
    if not layout.features.exists() or not layout.predictions.exists():
        return None
    predictions = pd.read_parquet(layout.predictions, columns=["fold"])
    if not len(predictions):
        return None
    last = int(predictions["fold"].max()) if model_choice == "final" else int(meta["fold"])
    index = predictions.index[predictions["fold"].to_numpy() == last]
    if model_choice == "final":
        end = (meta.get("training_window") or {}).get("end")
        if end is not None:
            times = index.get_level_values(1)
            last = pd.Timestamp(end)
            if isinstance(times, pd.DatetimeIndex) and times.tz is not None:  # intraday: a UTC bar time
                last = last.tz_localize("UTC")
            index = index[times <= last]
    features = pd.read_parquet(layout.features, columns=list(meta["feature_columns"]))
    return features.loc[index]


def feature_plugins(features: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Name, plugin and version of each feature step: a bundle needs the same ones to score."""
    steps = (features or {}).get("steps") or []
    return [plugin_record("feature_step", s["step_type"]) for s in steps]


def build_input(run_dir: str | Path, model: str = "final") -> ExportInput:
    """The :class:`ExportInput` of a trained run directory for ``model`` (``final`` or ``last_fold``)."""
    if model not in MODEL_CHOICES:
        raise ConfigError(f"export.model: {model!r} is not one of {', '.join(MODEL_CHOICES)}")
    run_dir = Path(run_dir)
    choice = model
    if choice == "last_fold":
        folds = fold_ids(run_dir)
        if not folds:
            raise ArtifactError(
                f"{RunLayout(run_dir).model_dir}: no fold models saved (trained before QLOP saved "
                'them): run `qlop train` again, or export model = "final"'
            )
        model, meta = load_fold_model(run_dir, folds[-1])
    else:
        model, meta = load_final_model(run_dir)
    metrics_path = RunLayout(run_dir).train_metrics
    metrics = json.loads(metrics_path.read_text(encoding="utf-8")) if metrics_path.exists() else None
    plugins = {"model": meta.get("plugin"), "feature_steps": feature_plugins(meta.get("features"))}
    label = meta.get("label") or {}
    if label.get("label_type"):
        plugins["label"] = plugin_record("label", label["label_type"])
    return ExportInput(
        model=model,
        meta=meta,
        run_dir=run_dir,
        feature_columns=list(meta["feature_columns"]),
        features=meta.get("features"),
        label=label,
        metrics=metrics,
        parity_rows=parity_rows(run_dir, meta, choice),
        plugins=plugins,
        model_choice=choice,
    )


def run(config: "PipelineConfig", run_dir: str | Path) -> dict[str, str]:
    """Export the run's ``[export] model`` with ``[export] format_name`` into ``DIR/export``."""
    return export(config, run_dir)["artifacts"]


def export(config: "PipelineConfig", run_dir: str | Path) -> dict[str, Any]:
    """:func:`run` plus the exporter's summary (for the CLI)."""
    from qlop.atomic import atomic_dir, write_json
    from qlop.progress import stage_progress

    if config.export is None:
        raise ConfigError("export: an [export] section is required (format_name = onnx | native | predictions)")
    run_dir = Path(run_dir)
    name = config.export.format_name
    exporter = create("exporter", name, config.export.format_params, "export.format_params")
    target = RunLayout(run_dir).export_dir
    with stage_progress("export", total=2, unit="step") as progress:
        artifact = build_input(run_dir, config.export.model)
        progress.advance(message=f"{config.export.model} model loaded")
        with atomic_dir(target) as tmp:
            with component_errors("export", "exporter", name):
                summary = exporter.export(artifact, str(tmp))
            if not isinstance(summary, dict):
                raise ArtifactError(f"exporter {name!r} returned {type(summary).__name__}, not a summary dict")
            summary = {
                "format_name": name,
                "model": artifact.model_choice,
                "parity_sample": artifact.parity_sample,
                **summary,
            }
            write_json(tmp / RunLayout.EXPORT_SUMMARY, summary)
        progress.advance(message=f"{name} export written")
    artifacts = {"export": str(target)}
    for key, value in summary.get("files", {}).items() if isinstance(summary.get("files"), dict) else []:
        artifacts[f"export.{key}"] = str(target / value)
    return {"artifacts": artifacts, "summary": summary}
