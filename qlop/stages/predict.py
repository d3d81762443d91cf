"""``qlop predict`` with a run: score the run's features with its final model, or reproduce a fold's
out-of-sample predictions with that fold's saved model.

The final model's predictions are in-sample for its training window; ``predictions.parquet`` (the
train stage's walk-forward output) is the out-of-sample record, and :func:`fold_predictions` scores
any fold's slice of it again from ``model/folds/<fold>/``. Scoring an exported bundle without QLOP's
model plugins is :mod:`qlop.bundle`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from qlop.adapters import predict_values
from qlop.artifacts import read_frame
from qlop.errors import ArtifactError
from qlop.layout import RunLayout
from qlop.stages.components import component_errors
from qlop.stages.model_store import load_final_model, load_fold_model

if TYPE_CHECKING:
    import pandas as pd

    from qlop.config import PipelineConfig


def score_features(
    model: Any, meta: dict[str, Any], features: "pd.DataFrame", dropna: bool = True, source: str = "features"
) -> "pd.DataFrame":
    """Predictions of ``model`` for the rows of ``features`` it can score (complete rows with ``dropna``)."""
    import pandas as pd

    columns = list(meta["feature_columns"])
    missing = [c for c in columns if c not in features.columns]
    if missing:
        raise ArtifactError(f"{source}: feature column {missing[0]!r} the model was trained on is missing")
    X = features[columns]
    keep = (
        ~np.isnan(X.to_numpy(dtype=np.float64, na_value=np.nan)).any(axis=1) if dropna else np.ones(len(X), dtype=bool)
    )
    X = X[keep]
    with component_errors("predict", "model", meta["model_type"]):
        pred = predict_values(model, X, where=source) if len(X) else np.zeros(0)
    scored = ~np.isnan(pred)  # rows a sequence model has no complete window for get no prediction
    return pd.DataFrame({meta["prediction_column"]: pred[scored]}, index=X.index[scored])


def predict(config: "PipelineConfig", run_dir: str | Path) -> dict[str, str]:
    """Score ``DIR/features.parquet`` with the run's final model into ``DIR/predictions_final.parquet``."""
    from qlop.atomic import write_parquet
    from qlop.progress import stage_progress

    layout = RunLayout(run_dir)
    with stage_progress("predict", total=2, unit="step") as progress:
        model, meta = load_final_model(layout.root)
        features = read_frame(layout.features, "qlop features build")
        progress.advance(message="model loaded")
        dropna = config.features.dropna if config.features is not None else True
        out = score_features(model, meta, features, dropna, str(layout.features))
        path = write_parquet(out, layout.final_predictions)
        progress.advance(message=f"{len(out)} rows scored")
    return {"predictions_final": str(path)}


def fold_predictions(run_dir: str | Path, fold: int) -> "pd.DataFrame":
    """Fold ``fold``'s rows of ``predictions.parquet``, scored again by that fold's saved model.

    The rows, the feature columns and (for a sequence model) the earlier rows each window reads are
    those the train stage used, so the values equal the recorded ones exactly.
    """
    import pandas as pd

    from qlop.stages.train import scorable_rows

    layout = RunLayout(run_dir)
    model, meta = load_fold_model(layout.root, fold)
    recorded = read_frame(layout.predictions, "qlop train")
    features = read_frame(layout.features, "qlop features build")
    missing = [c for c in meta["feature_columns"] if c not in features.columns]
    if missing:
        raise ArtifactError(f"{layout.features}: feature column {missing[0]!r} of fold {fold}'s model is missing")
    X = features[list(meta["feature_columns"])]
    rows_index = recorded.index[recorded["fold"].to_numpy() == fold]
    rows = X.index.get_indexer(rows_index)
    if (rows < 0).any():
        raise ArtifactError(
            f"{layout.predictions}: rows of fold {fold} are not in {layout.features}; "
            "the features were rebuilt after training"
        )
    scorable = scorable_rows(X, bool((meta.get("features") or {}).get("dropna", True)))
    with component_errors("predict", "model", meta["model_type"]):
        pred = predict_values(model, X, rows, scorable, f"fold {fold}")
    return pd.DataFrame({meta["prediction_column"]: pred}, index=rows_index)
