"""The stages host a sequence model (lookback > 1): test rows get their history, rows without a full
window get no prediction, and a row model's NaN is still an error."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import BaseModel, ConfigDict, Field

from qlop.api import BaseModelPlugin, ComponentSpec, gather_windows, group_codes, hookimpl, window_rows
from qlop.config import load_config
from qlop.errors import StageError
from qlop.stages import predict as predict_stage
from qlop.stages import train as train_stage


class WindowParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lookback: int = Field(8, ge=1)
    nan_rows: bool = False


class WindowMean(BaseModelPlugin):
    """Probability from the mean of f0 - f1 over the window (fitted scale); NaN without a full window."""

    params_model = WindowParams
    tasks = ("classification",)

    @property
    def lookback(self) -> int:
        return self.params.lookback

    def train(self, X_train, y_train, X_val=None, y_val=None):
        rows = window_rows(X_train.to_numpy(), group_codes(X_train.index), self.lookback)
        assert rows.size, "no complete window in the training rows"
        self.artifact = {"scale": 2.0}
        return self.artifact

    def predict(self, X):
        values = X[["f0", "f1"]].to_numpy()
        rows = window_rows(values, group_codes(X.index), self.lookback)
        out = np.full(len(X), np.nan)
        w = gather_windows(values, rows, self.lookback).astype(np.float64)
        out[rows] = 1.0 / (1.0 + np.exp(-self.artifact["scale"] * (w[:, :, 0] - w[:, :, 1]).mean(axis=1)))
        if self.params.nan_rows:  # a row model that (wrongly) returns NaN
            out[::7] = np.nan
        return out

    def save_model(self, artifact, path):
        Path(path, "window.json").write_text(json.dumps(artifact))
        return ["window.json"]

    def load_model(self, path):
        self.artifact = json.loads(Path(path, "window.json").read_text())
        return self.artifact


@pytest.fixture
def window_model(qlop_register, monkeypatch):
    module = types.ModuleType("qlop_test_window_model")
    module.WindowMean = WindowMean

    @hookimpl
    def qlop_register_model():
        return ComponentSpec(name="window_mean", factory=WindowMean)

    module.qlop_register_model = qlop_register_model
    monkeypatch.setitem(sys.modules, module.__name__, module)
    qlop_register(module)  # the test kit's manager is the process-wide one the stages use
    return module


def test_test_rows_are_scored_with_history_and_unwindowed_rows_are_dropped(make_run, window_model):
    cfg, run_dir = make_run(model_type="window_mean", model_params={"lookback": 8})
    train_stage.run(load_config(cfg), run_dir)
    X = pd.read_parquet(run_dir / "features.parquet")
    preds = pd.read_parquet(run_dir / "predictions.parquet")
    folds = json.loads((run_dir / "folds.json").read_text())
    scorable = X.notna().all(axis=1)
    first_test = pd.Timestamp(folds[0]["test_start"])
    expected = X.index[scorable & (X.index.get_level_values("date") >= first_test)]
    assert preds.index.equals(expected), "every test row, even a fold's first, has its 7 earlier rows"
    assert all(f["n_test_unscored"] == 0 for f in folds)
    # each prediction reads exactly its ticker's last 8 scorable rows
    Xs = X[scorable]
    pos = Xs.index.get_indexer(preds.index[:50])
    f = (Xs["f0"] - Xs["f1"]).to_numpy()
    manual = [1 / (1 + np.exp(-2.0 * f[i - 7 : i + 1].mean())) for i in pos]
    np.testing.assert_allclose(preds["prob"].to_numpy()[:50], manual, rtol=1e-6)

    # the final model scores every scorable row that has a full window: the first 7 of each ticker have none
    predict_stage.predict(load_config(cfg), run_dir)
    final = pd.read_parquet(run_dir / "predictions_final.parquet")
    n_tickers = X.index.get_level_values(0).nunique()
    assert len(final) == int(scorable.sum()) - 7 * n_tickers
    assert final["prob"].notna().all()


def test_nan_from_a_row_model_is_still_an_error(make_run, window_model, monkeypatch):
    monkeypatch.setattr(WindowMean, "lookback", property(lambda self: 1))
    cfg, run_dir = make_run(model_type="window_mean", model_params={"lookback": 1, "nan_rows": True})
    with pytest.raises(StageError, match="NaN predictions"):
        train_stage.run(load_config(cfg), run_dir)
