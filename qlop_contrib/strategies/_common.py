"""Helpers shared by the bundled strategies: aligning predictions and building the signal frame."""

from __future__ import annotations

import numpy as np
import pandas as pd

from qlop.api import ArtifactError, RunLayout


def prediction_column(data: pd.DataFrame, predictions: pd.DataFrame | None, strategy: str) -> pd.Series:
    """The predicted probability (``prob``, else ``pred``) aligned on ``data``'s index; NaN = no prediction."""
    if predictions is None:
        raise ArtifactError(
            f"strategy {strategy!r} needs model predictions ({RunLayout.PREDICTIONS}): run `qlop train` first"
        )
    for column in ("prob", "pred"):
        if column in predictions.columns:
            return predictions[column].astype(np.float64).reindex(data.index)
    raise ArtifactError(
        f"strategy {strategy!r}: predictions have no 'prob' or 'pred' column "
        f"(columns: {', '.join(map(str, predictions.columns)) or 'none'})"
    )


def signal_frame(
    index: pd.Index, signal: np.ndarray, weight: np.ndarray | None = None, score: np.ndarray | None = None
) -> pd.DataFrame:
    """The strategy output: ``signal`` (int8 in {-1, 0, 1}) and optional ``weight`` / ``score``."""
    out = pd.DataFrame({"signal": np.asarray(signal, dtype=np.int8)}, index=index)
    if weight is not None:
        out["weight"] = np.asarray(weight, dtype=np.float64)
    if score is not None:
        out["score"] = np.asarray(score, dtype=np.float64)
    return out


def latched(enter: np.ndarray, leave: np.ndarray, ticker_codes: np.ndarray) -> np.ndarray:
    """Per-ticker on/off state: switched on at ``enter`` rows, off at ``leave`` rows, else unchanged.

    Rows where both hold are on. Vectorised as a forward fill of the last event within each ticker.
    """
    event = np.where(enter, 1.0, np.where(leave, 0.0, np.nan))
    state = pd.Series(event).groupby(ticker_codes, sort=False).ffill().to_numpy()
    return np.nan_to_num(state, nan=0.0).astype(bool)
