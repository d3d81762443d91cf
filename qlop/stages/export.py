"""The export stage: hand the run's final model to the configured exporter, writing ``DIR/export``.

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
from qlop.stages.model_store import load_final_model, plugin_record

if TYPE_CHECKING:
    import pandas as pd

    from qlop.config import PipelineConfig

@dataclass
class ExportInput:
    """Everything an exporter may need about a trained run.

    ``model`` is the loaded final model component (hashes already checked); ``holdout`` holds feature
    rows the model never trained on during the walk-forward (the last test fold), for parity checks.
    """

    model: Any
    meta: dict[str, Any]
    run_dir: Path
    feature_columns: list[str]
    features: dict[str, Any] | None
    label: dict[str, Any]
    metrics: dict[str, Any] | None = None
    holdout: "pd.DataFrame | None" = None
    plugins: dict[str, Any] = field(default_factory=dict)

    @property
    def model_dir(self) -> Path:
        return RunLayout(self.run_dir).model_dir

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
        feature steps. An exporter compares it with :attr:`holdout` to prove the config reproduces the
        trained-on values."""
        from qlop.stages.data import read_panel
        from qlop.stages.features import compute_features

        data_path = RunLayout(self.run_dir).data
        if not data_path.exists() or not (self.features or {}).get("steps"):
            return None
        return compute_features(read_panel(data_path), self.features)


def holdout_rows(run_dir: Path, meta: dict[str, Any]) -> "pd.DataFrame | None":
    """Feature rows of the last test fold (complete rows when the features drop NaNs), or None."""
    import numpy as np
    import pandas as pd

    layout = RunLayout(run_dir)
    features_path, folds_path = layout.features, layout.folds
    if not features_path.exists() or not folds_path.exists():
        return None
    folds = json.loads(folds_path.read_text(encoding="utf-8"))
    if not folds:
        return None
    last = folds[-1]
    features = pd.read_parquet(features_path, columns=list(meta["feature_columns"]))
    dates = features.index.get_level_values(1)
    rows = features[(dates >= pd.Timestamp(last["test_start"])) & (dates <= pd.Timestamp(last["test_end"]))]
    if (meta.get("features") or {}).get("dropna", True):
        rows = rows[~np.isnan(rows.to_numpy(dtype=np.float64, na_value=np.nan)).any(axis=1)]
    return rows


def feature_plugins(features: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Name, plugin and version of each feature step: a bundle needs the same ones to score."""
    steps = (features or {}).get("steps") or []
    return [plugin_record("feature_step", s["step_type"]) for s in steps]


def build_input(run_dir: str | Path) -> ExportInput:
    """The :class:`ExportInput` of a trained run directory."""
    run_dir = Path(run_dir)
    model, meta = load_final_model(run_dir)
    metrics_path = RunLayout(run_dir).train_metrics
    metrics = json.loads(metrics_path.read_text(encoding="utf-8")) if metrics_path.exists() else None
    plugins = {"model": meta.get("plugin"), "feature_steps": feature_plugins(meta.get("features"))}
    label = meta.get("label") or {}
    if label.get("label_type"):
        plugins["label"] = plugin_record("label", label["label_type"])
    return ExportInput(model=model, meta=meta, run_dir=run_dir, feature_columns=list(meta["feature_columns"]),
                       features=meta.get("features"), label=label, metrics=metrics,
                       holdout=holdout_rows(run_dir, meta), plugins=plugins)


def run(config: "PipelineConfig", run_dir: str | Path) -> dict[str, str]:
    """Export the run's final model with ``[export] format_name`` into ``DIR/export``."""
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
        artifact = build_input(run_dir)
        progress.advance(message="model loaded")
        with atomic_dir(target) as tmp:
            with component_errors("export", "exporter", name):
                summary = exporter.export(artifact, str(tmp))
            if not isinstance(summary, dict):
                raise ArtifactError(f"exporter {name!r} returned {type(summary).__name__}, not a summary dict")
            summary = {"format_name": name, **summary}
            write_json(tmp / RunLayout.EXPORT_SUMMARY, summary)
        progress.advance(message=f"{name} export written")
    artifacts = {"export": str(target)}
    for key, value in summary.get("files", {}).items() if isinstance(summary.get("files"), dict) else []:
        artifacts[f"export.{key}"] = str(target / value)
    return {"artifacts": artifacts, "summary": summary}
