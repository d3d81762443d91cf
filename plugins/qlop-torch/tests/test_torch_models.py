"""The models in process: bit-identical under the seed, windows and NaN rows, the scaler, early
stopping, per-epoch progress, persistence errors and ONNX parity for both networks and tasks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qlop.api import ArtifactError, onnx_input, onnx_session, output_spec, run_session
from qlop_torch.models import LSTMModel, MLPModel

TINY = {"hidden_size": 8, "epochs": 5, "batch_size": 32, "learning_rate": 0.02, "early_stopping_patience": 2}


def frames(
    n_days: int = 160, tickers: tuple[str, ...] = ("AAA", "BBB", "CCC"), task: str = "classification", seed: int = 0
) -> tuple[pd.DataFrame, np.ndarray]:
    """Features whose last three rows (per ticker) carry the signal, so a window model can learn it."""
    rng = np.random.default_rng(seed)
    parts, ys = [], []
    for ticker in tickers:
        dates = pd.bdate_range("2020-01-01", periods=n_days)
        f = rng.normal(size=(n_days, 3))
        smooth = pd.Series(f[:, 0]).rolling(3, min_periods=1).mean().to_numpy()
        target = smooth - 0.5 * f[:, 1] + rng.normal(0, 0.3, n_days)
        ys.append((target > 0).astype(float) if task == "classification" else target)
        parts.append(
            pd.DataFrame(
                f,
                columns=["a", "b", "c"],
                index=pd.MultiIndex.from_product([[ticker], dates], names=["ticker", "date"]),
            )
        )
    return pd.concat(parts), np.concatenate(ys)


def trained(
    cls=LSTMModel, params: dict | None = None, task: str = "classification", seed: int = 3, val: bool = True
) -> tuple[object, pd.DataFrame, np.ndarray]:
    X, y = frames(task=task)
    dates = X.index.get_level_values("date")
    cut = dates.unique()[110]
    fit, rest = np.asarray(dates < cut), np.asarray(dates >= cut)
    model = cls(cls.kind, {**TINY, **({"lookback": 4} if cls is LSTMModel else {}), **(params or {})})
    model.task, model.seed = task, seed
    model.train(X[fit], y[fit], X[rest] if val else None, y[rest] if val else None)
    return model, X, y


def test_same_seed_gives_bit_identical_weights_and_predictions(tmp_path: Path) -> None:
    a, X, _ = trained()
    b, _, _ = trained()
    pa, pb = a.predict(X), b.predict(X)
    assert np.array_equal(pa, pb, equal_nan=True)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a.save_model(a.artifact, str(tmp_path / "a"))
    b.save_model(b.artifact, str(tmp_path / "b"))
    assert (tmp_path / "a" / "model.safetensors").read_bytes() == (tmp_path / "b" / "model.safetensors").read_bytes()
    c, _, _ = trained(seed=4)
    assert not np.allclose(c.predict(X), pa, equal_nan=True), "another seed gives another model"


@pytest.mark.slow  # two threads on a shared 2-core machine wait for each other
def test_two_threads_are_deterministic_too() -> None:
    a, X, _ = trained(params={"threads": 2})
    b, _, _ = trained(params={"threads": 2})
    assert np.array_equal(a.predict(X), b.predict(X), equal_nan=True)


def test_lstm_rows_without_a_full_window_are_nan() -> None:
    model, X, _ = trained()
    pred = pd.Series(model.predict(X), index=X.index)
    for ticker, rows in pred.groupby(level="ticker"):
        assert rows.iloc[:3].isna().all() and rows.iloc[3:].notna().all(), ticker
    holed = X.copy()
    holed.iloc[50, 1] = np.nan  # a missing value: the four windows holding it cannot be scored
    pred2 = model.predict(holed)
    assert np.isnan(pred2[50:54]).all() and np.isfinite(pred2[54:160]).all()
    np.testing.assert_array_equal(pred2[54:160], pred.to_numpy()[54:160])


def test_mlp_reads_a_missing_feature_as_its_training_mean() -> None:
    model, X, _ = trained(MLPModel)
    holed = X.copy()
    holed.iloc[7, 0] = np.nan
    filled = X.copy()
    filled.iloc[7, 0] = model.arch["scaler"]["mean"][0]
    assert np.isfinite(model.predict(holed)).all()
    assert model.predict(holed)[7] == pytest.approx(model.predict(filled)[7], abs=1e-6)


def test_scaler_comes_from_the_training_rows_only() -> None:
    X, y = frames()
    dates = X.index.get_level_values("date")
    fit = np.asarray(dates < dates.unique()[100])
    shifted = X.copy()
    shifted.loc[~fit] += 100.0  # validation rows far away: they must not move the scaler
    for frame in (X, shifted):
        model = LSTMModel("lstm", {**TINY, "lookback": 4, "epochs": 1})
        model.train(frame[fit], y[fit], frame[~fit], y[~fit])
        np.testing.assert_allclose(model.arch["scaler"]["mean"], X[fit].mean().to_numpy(), rtol=1e-5)
        np.testing.assert_allclose(model.arch["scaler"]["scale"], X[fit].std(ddof=0).to_numpy(), rtol=1e-5)


def test_early_stopping_keeps_the_best_epoch_and_the_final_model_reuses_it() -> None:
    model, _, _ = trained(params={"epochs": 30, "learning_rate": 0.2, "early_stopping_patience": 2})
    info = model.fit_info
    assert info["early_stopped"] and info["epochs_run"] == info["epochs"] + 2 < 30
    assert info["val_loss"] is not None and info["n_val_windows"] > 0
    final = model.final_params(
        [{"epochs": 3, "n_val_windows": 5}, {"epochs": 7, "n_val_windows": 5}, {"epochs": 4, "n_val_windows": 5}]
    )
    assert final.epochs == 4 and final.lookback == 4
    assert model.final_params([{"epochs": 3, "n_val_windows": 0}]) == model.params


def test_every_epoch_reports_progress_with_the_validation_loss() -> None:
    from qlop.api import add_progress_listener as add_listener
    from qlop.api import remove_progress_listener as remove_listener

    updates = []
    add_listener(updates.append)
    try:
        model, _, _ = trained(params={"early_stopping_patience": 0})
    finally:
        remove_listener(updates.append)
    epochs = [u for u in updates if u.stage == "train.epochs" and u.kind == "advance"]
    assert [u.step for u in epochs] == [1, 2, 3, 4, 5] and epochs[0].total == 5 and epochs[0].unit == "epoch"
    assert all("val" in u.message for u in epochs)
    assert model.fit_info["epochs"] == 5 and not model.fit_info["early_stopped"]


def test_loading_refuses_mismatched_or_foreign_files(tmp_path: Path) -> None:
    model, X, _ = trained()
    other, _, _ = trained(MLPModel)
    for name, m in (("lstm", model), ("mlp", other)):
        (tmp_path / name).mkdir()
        m.save_model(m.artifact, str(tmp_path / name))
    fresh = LSTMModel("lstm", TINY)
    fresh.load_model(str(tmp_path / "lstm"))
    assert np.array_equal(fresh.predict(X), model.predict(X), equal_nan=True)
    with pytest.raises(Exception, match="holds a mlp network"):
        LSTMModel("lstm", TINY).load_model(str(tmp_path / "mlp"))
    # weights of another model next to this architecture
    (tmp_path / "lstm" / "model.safetensors").write_bytes((tmp_path / "mlp" / "model.safetensors").read_bytes())
    with pytest.raises(ArtifactError, match="sha256 does not match"):
        LSTMModel("lstm", TINY).load_model(str(tmp_path / "lstm"))
    # a weights file that is not safetensors, even with a matching hash
    import hashlib

    (tmp_path / "lstm" / "model.safetensors").write_bytes(b"not a tensor table")
    arch = json.loads((tmp_path / "lstm" / "architecture.json").read_text())
    arch["weights_sha256"] = hashlib.sha256(b"not a tensor table").hexdigest()
    (tmp_path / "lstm" / "architecture.json").write_text(json.dumps(arch))
    with pytest.raises(ArtifactError, match="not a readable safetensors file"):
        LSTMModel("lstm", TINY).load_model(str(tmp_path / "lstm"))


@pytest.mark.parametrize(
    "cls, task",
    [(LSTMModel, "classification"), (LSTMModel, "regression"), (MLPModel, "classification"), (MLPModel, "regression")],
)
def test_onnx_export_matches_the_native_model(cls, task) -> None:
    model, X, _ = trained(cls, task=task)
    graph = model.to_onnx(X.shape[1], 15)
    session = onnx_session(graph.SerializeToString())
    inputs, rows = onnx_input(X.to_numpy(), X.index, model.lookback)
    via_onnx = run_session(session, output_spec(session, task), inputs)
    native = model.predict(X)
    assert np.array_equal(np.flatnonzero(~np.isnan(native)), rows)
    assert np.max(np.abs(via_onnx - native[rows])) <= 1e-5
    if task == "classification":
        assert ((via_onnx > 0) & (via_onnx < 1)).all()
