"""Honest bundles: every fold's model is saved, reproduces its slice of predictions.parquet exactly, and an
export says which model it holds and whether its parity rows are in or out of sample.

Before, only the final model (trained on every row, the last test fold included) was saved, and its
ONNX parity check called the last fold's rows "held-out" while bundle.json quoted the fold models'
out-of-sample metrics as if they were its own.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from qlop.config import config_from_data
from qlop.errors import ArtifactError
from qlop.layout import RunLayout

CONFIG = {
    "name": "folds",
    "seed": 11,
    "data": {
        "data_source_type": "sample",
        "tickers": ["AAPL", "MSFT", "KO"],
        "start_date": "2009-01-01",
        "end_date": "2013-12-31",
    },
    "features": {
        "steps": [
            {"step_type": "returns", "step_params": {"windows": [1, 5, 20]}},
            {"step_type": "rsi"},
            {"step_type": "natr"},
        ]
    },
    "label": {
        "label_type": "leverage_opportunity",
        "label_params": {"leverage": 2.0, "horizon": 5, "take_profit": 0.03, "stop_loss": 0.02},
    },
    "model": {
        "model_type": "xgboost",
        "model_params": {"n_estimators": 25, "max_depth": 3, "nthread": 1},
        "validation": {"scheme": "walk_forward", "train_years": 2.0, "test_months": 6},
    },
}


def _config(**export):
    data = json.loads(json.dumps(CONFIG))
    if export:
        data["export"] = {"format_name": "onnx", **export}
    return config_from_data(data)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    from qlop.stages import data, features, train

    run_dir = tmp_path_factory.mktemp("folds") / "run"
    config = _config()
    data.run(config, run_dir)
    features.run(config, run_dir)
    train.run(config, run_dir)
    return run_dir


def _copy(run_dir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    return copy


def test_every_fold_model_is_saved_with_its_windows_and_hashes(trained):
    from qlop.stages.model_store import fold_ids, load_fold_model

    layout = RunLayout(trained)
    folds = json.loads(layout.folds.read_text())
    assert len(folds) >= 4 and fold_ids(trained) == [f["fold"] for f in folds]
    for record in folds:
        model, meta = load_fold_model(trained, record["fold"])  # hashes checked
        assert meta["role"] == "fold" and meta["fold"] == record["fold"]
        assert meta["training_window"] == {
            "start": record["train_start"],
            "end": record["train_end"],
            "n_rows": record["n_train"],
        }
        assert meta["test_window"]["start"] == record["test_start"] > meta["training_window"]["end"]
        assert (layout.fold_model_dir(record["fold"]) / meta["model_file"]).is_file()
    final = json.loads(layout.model_meta.read_text())
    assert final["role"] == "final" and set(final["fold_models"]) == {str(f["fold"]) for f in folds}


def test_a_fold_model_reproduces_its_slice_of_predictions_exactly(trained):
    from qlop.stages.predict import fold_predictions

    recorded = pd.read_parquet(RunLayout(trained).predictions)
    for fold in sorted(recorded["fold"].unique()):
        again = fold_predictions(trained, int(fold))
        mine = recorded[recorded["fold"] == fold]
        assert again.index.equals(mine.index) and len(again) > 100
        np.testing.assert_array_equal(again["prob"].to_numpy(), mine["prob"].to_numpy())


def test_qlop_predict_fold_says_identical_and_refuses_a_tampered_model(trained, tmp_path):
    from qlop.cli.main import cli

    res = CliRunner().invoke(cli, ["predict", "--run-dir", str(trained), "--fold", "1"])
    assert res.exit_code == 0, res.output
    assert "fold 1: " in res.output and "identical to predictions.parquet (max |diff| 0)" in res.output
    run = _copy(trained, tmp_path)
    folder = RunLayout(run).fold_model_dir(1)
    model_file = folder / json.loads((folder / RunLayout.MODEL_META).read_text())["model_file"]
    model_file.write_bytes(model_file.read_bytes().replace(b"0", b"1", 1))
    res = CliRunner().invoke(cli, ["predict", "--run-dir", str(run), "--fold", "1"])
    assert res.exit_code == 2 and "does not match meta.json" in res.output
    res = CliRunner().invoke(cli, ["predict", "--run-dir", str(trained), "--fold", "99"])
    assert res.exit_code == 2 and "no model of fold 99" in res.output


def test_last_fold_export_checks_parity_on_rows_that_model_never_saw(trained, tmp_path):
    from qlop.stages import export
    from qlop.stages.export import build_input

    run = _copy(trained, tmp_path)
    artifact = build_input(run, "last_fold")
    recorded = pd.read_parquet(RunLayout(run).predictions)
    last = int(recorded["fold"].max())
    assert artifact.meta["fold"] == last and artifact.parity_sample == "out_of_sample"
    rows = artifact.parity_rows.index
    assert len(rows) > 100
    # every parity row was predicted out of sample by this very model, after its training window
    assert (recorded.loc[rows, "fold"] == last).all()
    assert (rows.get_level_values("date") > pd.Timestamp(artifact.meta["training_window"]["end"])).all()

    export.run(_config(model="last_fold"), run)
    bundle = json.loads(RunLayout(run).bundle.read_text())
    assert (bundle["model"], bundle["model_fold"], bundle["parity_sample"]) == ("last_fold", last, "out_of_sample")
    assert bundle["parity_rows"] == len(rows) and bundle["parity_max_abs_diff"] <= 1e-5
    assert bundle["training_window"]["end"] < bundle["parity_window"][0]
    assert (
        bundle["test_window"]["start"]
        <= bundle["parity_window"][0]
        <= bundle["parity_window"][1]
        <= bundle["test_window"]["end"]
    )
    train_metrics = json.loads(RunLayout(run).train_metrics.read_text())
    assert bundle["metrics"] == {
        "walk_forward_out_of_sample": train_metrics["overall"],
        "this_model_out_of_sample": train_metrics["folds"][-1],
    }
    native = (RunLayout(run).export_dir / bundle["native_model"]).resolve()
    assert native.parent == RunLayout(run).fold_model_dir(last).resolve()


def test_final_export_labels_its_parity_rows_in_sample(trained, tmp_path):
    from qlop.stages import export

    run = _copy(trained, tmp_path)
    summary = export.export(_config(model="final"), run)["summary"]
    assert (summary["model"], summary["parity_sample"]) == ("final", "in_sample")
    bundle = json.loads(RunLayout(run).bundle.read_text())
    assert (bundle["model"], bundle["model_fold"], bundle["parity_sample"]) == ("final", None, "in_sample")
    window = bundle["training_window"]
    assert window["start"] <= bundle["parity_window"][0] <= bundle["parity_window"][1] <= window["end"]
    assert bundle["metrics"]["this_model_out_of_sample"] is None  # it trained on every labelled row


@pytest.mark.parametrize("choice", ["final", "last_fold"])
def test_qlop_predict_bundle_scores_with_either_model(trained, tmp_path, choice):
    from qlop.cli.main import cli
    from qlop.stages import export
    from qlop.stages.model_store import load_final_model, load_fold_model

    run = _copy(trained, tmp_path)
    export.run(_config(model=choice), run)
    out = tmp_path / "scored.parquet"
    res = CliRunner().invoke(
        cli,
        [
            "predict",
            "--bundle",
            str(RunLayout(run).export_dir),
            "--data",
            str(RunLayout(run).data),
            "--output",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    scored = pd.read_parquet(out)
    if choice == "final":
        model, meta = load_final_model(run)
    else:
        model, meta = load_fold_model(run, int(pd.read_parquet(RunLayout(run).predictions)["fold"].max()))
    features = pd.read_parquet(RunLayout(run).features)[meta["feature_columns"]].loc[scored.index]
    assert len(scored) > 1000
    assert np.max(np.abs(scored["prob"].to_numpy() - model.predict(features))) <= 1e-5


def test_last_fold_export_of_a_run_without_fold_models_says_what_to_do(trained, tmp_path):
    from qlop.stages.export import build_input

    run = _copy(trained, tmp_path)
    meta_path = RunLayout(run).model_meta
    meta = json.loads(meta_path.read_text())
    meta.pop("fold_models")
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(
        ArtifactError,
        match=r"no fold models saved .*run `qlop train` again, or export "
        r'model = "final"',
    ):
        build_input(run, "last_fold")
