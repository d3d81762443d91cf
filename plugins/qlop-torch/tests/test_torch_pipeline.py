"""The LSTM through QLOP's own pipeline: walk-forward training with each test row's history, the
files a run keeps, ONNX parity, and `qlop predict --bundle` from raw OHLCV without importing torch."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qlop.api import ArtifactError

pytestmark = pytest.mark.slow  # one real walk-forward run (about 10 s)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory, make_config, run_qlop) -> Path:
    tmp = tmp_path_factory.mktemp("lstm-run")
    cfg = make_config(tmp)
    proc = run_qlop("run", "-c", str(cfg))
    assert proc.returncode == 0, proc.stderr + proc.stdout
    (run,) = (tmp / "runs").iterdir()
    return run


def test_every_test_row_is_scored_with_its_history(run_dir: Path) -> None:
    X = pd.read_parquet(run_dir / "features.parquet")
    preds = pd.read_parquet(run_dir / "predictions.parquet")
    folds = json.loads((run_dir / "folds.json").read_text())
    first_test = pd.Timestamp(folds[0]["test_start"])
    scorable = X.notna().all(axis=1)
    expected = X.index[scorable & (X.index.get_level_values("date") >= first_test)]
    assert preds.index.equals(expected), "a fold's first test rows are scored from the rows before them"
    assert preds["prob"].between(0, 1).all()
    for fold in folds:
        assert fold["n_test_unscored"] == 0
        assert 1 <= fold["epochs"] <= fold["epochs_run"] <= 4 and fold["n_windows"] > 0


def test_the_model_is_safetensors_and_json_with_hashes(run_dir: Path) -> None:
    meta = json.loads((run_dir / "model" / "meta.json").read_text())
    assert meta["model_file"] == "model.safetensors"
    assert set(meta["files"]) == {"model.safetensors", "architecture.json"}
    arch = json.loads((run_dir / "model" / "architecture.json").read_text())
    assert arch["format"] == "qlop.torch.v1" and arch["kind"] == "lstm" and arch["lookback"] == 5
    assert arch["feature_names"] == meta["feature_columns"]
    assert len(arch["scaler"]["mean"]) == len(meta["feature_columns"])


def test_onnx_parity_and_the_bundle_declares_lookback(run_dir: Path) -> None:
    bundle = json.loads((run_dir / "export" / "bundle.json").read_text())
    assert bundle["lookback"] == 5 and bundle["native_model_type"] == "lstm"
    assert bundle["parity_rows"] > 0 and bundle["parity_max_abs_diff"] <= 1e-5
    assert bundle["output"] == {"name": "probabilities", "column": 1}


def test_predict_bundle_scores_raw_ohlcv_without_importing_torch(run_dir: Path, tmp_path: Path, run_qlop) -> None:
    out = tmp_path / "scores.parquet"
    probe = (
        "import atexit, sys\n"
        "atexit.register(lambda: sys.stderr.write('TORCH_MODULES=%d\\n' % sum(1 for m in sys.modules "
        "if m == 'torch' or m.startswith('torch.'))))\n"
    )
    proc = run_qlop(
        "predict",
        "--bundle",
        str(run_dir / "export"),
        "--data",
        str(run_dir / "data.parquet"),
        "--output",
        str(out),
        code=probe,
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert "TORCH_MODULES=0" in proc.stderr, "qlop predict --bundle imported torch"
    scores = pd.read_parquet(out)

    # the same rows and values as the native model scoring the run's features
    from qlop.api import load_final_model

    model, meta = load_final_model(run_dir)
    X = pd.read_parquet(run_dir / "features.parquet")[meta["feature_columns"]]
    X = X[X.notna().all(axis=1)]
    native = pd.Series(model.predict(X), index=X.index).dropna()
    assert scores.index.equals(native.index), "the bundle scores exactly the rows with a full window"
    assert np.max(np.abs(scores["prob"].to_numpy() - native.to_numpy())) <= 1e-5
    n_tickers = X.index.get_level_values(0).nunique()
    assert len(scores) == len(X) - 4 * n_tickers, "each ticker's first 4 complete rows have no window"


def test_a_modified_weights_file_is_refused(run_dir: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    weights = copy / "model" / "model.safetensors"
    blob = bytearray(weights.read_bytes())
    blob[-1] ^= 0x01
    weights.write_bytes(bytes(blob))
    from qlop.api import load_final_model

    with pytest.raises(ArtifactError, match="sha256"):
        load_final_model(copy)


def test_epochs_are_live_progress_within_the_train_stage(run_dir: Path) -> None:
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    epochs = [e["payload"] for e in events if e["type"] == "progress" and e["payload"]["stage"] == "train.epochs"]
    starts = [p for p in epochs if p["kind"] == "start"]
    folds = json.loads((run_dir / "folds.json").read_text())
    assert len(starts) == len(folds) + 1, "one epoch bar per fold and one for the final model"
    assert all(p["pipeline_stage"] == "train" and p["unit"] == "epoch" for p in epochs)
    messages = [p.get("message", "") for p in epochs if p["kind"] == "advance"]
    assert messages and all(m.startswith("epoch ") for m in messages)
    assert any(", val " in m for m in messages), "validation loss is reported while folds train"
