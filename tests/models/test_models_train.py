"""The train, predict and export stages on synthetic run directories with a real signal."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from qlop.cli.main import cli
from qlop.config import load_config
from qlop.errors import ArtifactError, ConfigError
from qlop.stages import export as export_stage
from qlop.stages import train as train_stage
from qlop.stages.model_store import load_final_model
from qlop.validation import label_end_dates


def _invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_walk_forward_outputs_cover_every_labelled_date_out_of_sample(make_run):
    cfg_path, run_dir = make_run()
    result = _invoke("train", "-c", str(cfg_path), "--run-dir", str(run_dir))
    assert result.exit_code == 0, result.output
    assert "out-of-sample predictions" in result.output

    X = pd.read_parquet(run_dir / "features.parquet")
    y = pd.read_parquet(run_dir / "labels.parquet")["label"]
    preds = pd.read_parquet(run_dir / "predictions.parquet")
    folds = json.loads((run_dir / "folds.json").read_text())
    assert list(preds.columns) == ["prob", "fold"] and preds.index.names == ["ticker", "date"]
    assert preds["fold"].dtype == np.int64 and preds["prob"].between(0, 1).all()
    assert {"fold", "train_start", "train_end", "test_start", "test_end"} <= set(folds[0])

    usable = y.notna() & X.notna().all(axis=1)
    dates = X.index.get_level_values("date")
    first_test = pd.Timestamp(folds[0]["test_start"])
    assert first_test == dates[usable].min() + pd.DateOffset(years=2) or first_test > dates[usable].min()
    expected = X.index[X.notna().all(axis=1) & (dates >= first_test)]
    assert preds.index.equals(expected), "predictions must cover every scorable date after the first window"
    assert y[preds.index].isna().sum() > 0, "the unlabelled last rows of each ticker are predicted too"
    # each date is predicted only by the fold whose test window holds it
    windows = {f["fold"]: (pd.Timestamp(f["test_start"]), pd.Timestamp(f["test_end"])) for f in folds}
    pdates = preds.index.get_level_values("date")
    lo = np.array([windows[f][0] for f in preds["fold"]])
    hi = np.array([windows[f][1] for f in preds["fold"]])
    assert ((pdates >= lo) & (pdates <= hi)).all()
    # each fold trained on exactly the earlier rows whose label window ends before its test period
    label_end = label_end_dates(X.index, 5)
    for f in folds:
        t0 = np.datetime64(pd.Timestamp(f["test_start"]))
        clean = np.asarray(usable) & (dates < t0) & (label_end < t0)
        assert f["n_train"] == int(clean.sum())
        assert pd.Timestamp(f["train_end"]) == dates[clean].max()
        assert f["n_purged"] == int((np.asarray(usable) & (dates < t0) & ~(label_end < t0)).sum()) > 0

    metrics = json.loads((run_dir / "train_metrics.json").read_text())
    assert len(metrics["folds"]) == len(folds)
    assert {"auc", "log_loss", "brier", "precision", "recall", "base_rate"} <= set(metrics["overall"])
    assert metrics["overall"]["n"] == int(y[preds.index].notna().sum()) < metrics["n_predictions"] == len(preds)
    assert metrics["overall"]["auc"] > 0.8, "the synthetic signal is strong; the model must find it"

    meta = json.loads((run_dir / "model" / "meta.json").read_text())
    assert meta["feature_columns"] == ["f0", "f1", "f2", "f3"]
    assert meta["training_window"]["n_rows"] == int(usable.sum()), "final model trains on every usable row"
    assert meta["label"]["horizon"] == 5 and meta["task"] == "classification"
    assert meta["versions"]["xgboost"] and len(meta["sha256"]) == 64
    assert (run_dir / "model" / meta["model_file"]).read_bytes()[:1] == b"{"  # XGBoost JSON, not pickle


@pytest.mark.parametrize("model_type, params", [("xgboost", None), ("random_forest", {"n_estimators": 20})])
def test_same_config_twice_gives_identical_predictions(make_run, model_type, params):
    cfg_a, run_a = make_run("a", model_type=model_type, model_params=params)
    cfg_b, run_b = make_run("b", model_type=model_type, model_params=params)
    for cfg, run in ((cfg_a, run_a), (cfg_b, run_b)):
        train_stage.run(load_config(cfg), run)
    pd.testing.assert_frame_equal(
        pd.read_parquet(run_a / "predictions.parquet"), pd.read_parquet(run_b / "predictions.parquet"), check_exact=True
    )
    meta_a = json.loads((run_a / "model" / "meta.json").read_text())
    meta_b = json.loads((run_b / "model" / "meta.json").read_text())
    assert meta_a["sha256"] == meta_b["sha256"]


def test_a_different_seed_changes_the_model(make_run):
    cfg_a, run_a = make_run("a")
    cfg_b, run_b = make_run("b", seed=8)
    train_stage.run(load_config(cfg_a), run_a)
    train_stage.run(load_config(cfg_b), run_b)
    a = pd.read_parquet(run_a / "predictions.parquet")["prob"]
    b = pd.read_parquet(run_b / "predictions.parquet")["prob"]
    assert not np.array_equal(a.to_numpy(), b.to_numpy())


def test_regression_label_gives_pred_and_ic(make_run):
    cfg, run_dir = make_run(task="regression")
    train_stage.run(load_config(cfg), run_dir)
    preds = pd.read_parquet(run_dir / "predictions.parquet")
    assert list(preds.columns) == ["pred", "fold"]
    metrics = json.loads((run_dir / "train_metrics.json").read_text())
    assert metrics["overall"]["ic"] > 0.5


def test_progress_reports_folds_and_boosting_rounds(make_run):
    from qlop import progress

    cfg, run_dir = make_run(model_params={"n_estimators": 15, "early_stopping_rounds": 0})
    seen: list[progress.ProgressUpdate] = []
    progress.add_listener(seen.append)
    try:
        train_stage.run(load_config(cfg), run_dir)
    finally:
        progress.remove_listener(seen.append)
    folds = json.loads((run_dir / "folds.json").read_text())
    fold_steps = [u for u in seen if u.stage == "train" and u.kind == "advance"]
    # the counter counts folds, as folds.json and the answer do; the final model is extra work that
    # moves the fraction (and the ETA) but never the "k/n fold" counter
    assert {u.total for u in seen if u.stage == "train"} == {len(folds)}
    counted = [u.step for u in fold_steps]
    assert counted == sorted(counted) and counted[-1] == len(folds)
    assert fold_steps[-1].extra_done == 1 and fold_steps[-1].fraction == 1.0
    assert fold_steps[-2].fraction == len(folds) / (len(folds) + 1)  # folds done, final model fitting
    rounds = [u for u in seen if u.stage == "train.rounds" and u.kind == "advance"]
    assert len(rounds) == 15 * (len(folds) + 1)


def test_purged_kfold_predicts_every_usable_row(make_run):
    cfg, run_dir = make_run(validation={"scheme": "purged_kfold", "n_splits": 4})
    train_stage.run(load_config(cfg), run_dir)
    preds = pd.read_parquet(run_dir / "predictions.parquet")
    X = pd.read_parquet(run_dir / "features.parquet")
    y = pd.read_parquet(run_dir / "labels.parquet")["label"]
    assert len(preds) == int((y.notna() & X.notna().all(axis=1)).sum())
    assert sorted(preds["fold"].unique()) == [0, 1, 2, 3]


def test_tampered_model_file_is_refused(make_run):
    cfg, run_dir = make_run()
    train_stage.run(load_config(cfg), run_dir)
    model_file = run_dir / "model" / "model.json"
    model_file.write_bytes(model_file.read_bytes().replace(b'"', b"'", 1)[:-1] + b"}")
    with pytest.raises(ArtifactError, match="sha256"):
        load_final_model(run_dir)
    result = CliRunner().invoke(cli, ["predict", "-c", str(cfg), "--run-dir", str(run_dir)])
    assert result.exit_code == 2 and "sha256" in result.output and "Traceback" not in result.output


def test_predict_scores_features_with_the_final_model(make_run):
    cfg, run_dir = make_run()
    train_stage.run(load_config(cfg), run_dir)
    result = _invoke("predict", "-c", str(cfg), "--run-dir", str(run_dir))
    assert result.exit_code == 0, result.output
    final = pd.read_parquet(run_dir / "predictions_final.parquet")
    X = pd.read_parquet(run_dir / "features.parquet")
    assert final.index.equals(X.index[X.notna().all(axis=1)])
    model, meta = load_final_model(run_dir)
    np.testing.assert_array_equal(final["prob"].to_numpy(), model.predict(X.dropna()))


@pytest.mark.parametrize(
    "model_type, task, params",
    [
        ("xgboost", "classification", {"n_estimators": 30}),
        ("xgboost", "regression", {"n_estimators": 30}),
        ("logistic_regression", "classification", {}),
        ("random_forest", "classification", {"n_estimators": 20}),
        ("random_forest", "regression", {"n_estimators": 20}),
        ("baseline", "classification", {}),
        ("baseline", "regression", {}),
    ],
)
def test_onnx_parity_for_every_bundled_model(make_run, model_type, task, params):
    cfg, run_dir = make_run(
        task=task,
        model_type=model_type,
        model_params=params,
        validation={"test_months": 12},
        export={"format_name": "onnx"},
    )
    config = load_config(cfg)
    train_stage.run(config, run_dir)
    result = _invoke("export", "-c", str(cfg), "--run-dir", str(run_dir))
    assert result.exit_code == 0, result.output
    bundle = json.loads((run_dir / "export" / "bundle.json").read_text())
    assert bundle["parity_max_abs_diff"] <= 1e-5 and bundle["parity_rows"] > 0
    assert bundle["native_model_type"] == model_type
    assert (run_dir / "export" / bundle["native_model"]).resolve().is_file()

    # the bundle scores features exactly like the native model, over the whole panel
    from qlop.bundle import load_bundle

    X = pd.read_parquet(run_dir / "features.parquet")
    via_bundle = load_bundle(run_dir / "export").score_features(X)
    model, meta = load_final_model(run_dir)
    native = model.predict(X.loc[via_bundle.index])
    assert np.max(np.abs(via_bundle[meta["prediction_column"]].to_numpy() - native)) <= 1e-5


def test_failed_parity_leaves_the_previous_export_untouched(make_run):
    cfg, run_dir = make_run(export={"format_name": "onnx"})
    train_stage.run(load_config(cfg), run_dir)
    export_stage.run(load_config(cfg), run_dir)
    before = (run_dir / "export" / "bundle.json").read_bytes()
    strict = json.loads(cfg.read_text())
    strict["export"]["format_params"] = {"parity_tolerance": 1e-12}
    cfg.write_text(json.dumps(strict))
    result = CliRunner().invoke(cli, ["export", "-c", str(cfg), "--run-dir", str(run_dir)])
    assert result.exit_code == 2 and "parity" in result.output
    assert (run_dir / "export" / "bundle.json").read_bytes() == before
    assert not [p for p in run_dir.iterdir() if p.name.startswith(".export")]


def test_native_and_predictions_exporters(make_run):
    cfg, run_dir = make_run(export={"format_name": "native"})
    config = load_config(cfg)
    train_stage.run(config, run_dir)
    export_stage.run(config, run_dir)
    meta = json.loads((run_dir / "export" / "meta.json").read_text())
    assert (run_dir / "export" / "model.json").read_bytes() == (run_dir / "model" / "model.json").read_bytes()
    assert meta["sha256"]
    config.export.format_name = "predictions"
    config.export.format_params = {"file_format": "csv"}
    export_stage.run(config, run_dir)
    csv = pd.read_csv(run_dir / "export" / "predictions.csv")
    preds = pd.read_parquet(run_dir / "predictions.parquet")
    assert list(csv.columns) == ["ticker", "date", "prob", "fold"] and len(csv) == len(preds)
    np.testing.assert_allclose(csv["prob"].to_numpy(), preds["prob"].to_numpy(), rtol=1e-9)


def test_user_errors_are_one_line_exit_2(make_run, tmp_path):
    cfg, run_dir = make_run(task="regression", model_type="logistic_regression")
    result = CliRunner().invoke(cli, ["train", "-c", str(cfg), "--run-dir", str(run_dir)])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "Error: model.model_type: 'logistic_regression' supports classification labels, but label "
        "'forward_return' is a regression label"
    ]
    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(cli, ["train", "-c", str(cfg), "--run-dir", str(empty)])
    assert result.exit_code == 2 and "qlop features build" in result.output
    assert not list(empty.iterdir()), "nothing may be written on error"

    bad = json.loads(cfg.read_text())
    bad["model"]["validation"]["embargo_days"] = 2
    cfg.write_text(json.dumps(bad))
    with pytest.raises(ConfigError, match="embargo_days: 2 is shorter than the label horizon"):
        load_config(cfg)

    result = CliRunner().invoke(cli, ["predict", "--bundle", str(tmp_path / "nope")])
    assert result.exit_code == 2 and "--data" in result.output
    result = CliRunner().invoke(cli, ["predict", "--bundle", str(tmp_path / "nope"), "--data", "x.parquet"])
    assert result.exit_code == 2 and "bundle.json not found" in result.output


def test_train_years_longer_than_the_data_names_the_field(make_run):
    cfg, run_dir = make_run(validation={"train_years": 9})
    with pytest.raises(ConfigError, match="model.validation.train_years"):
        train_stage.run(load_config(cfg), run_dir)
    assert not (run_dir / "predictions.parquet").exists()


def test_infinite_feature_is_named(make_run):
    cfg, run_dir = make_run()
    X = pd.read_parquet(run_dir / "features.parquet")
    X.iloc[100, 2] = np.inf
    X.to_parquet(run_dir / "features.parquet")
    result = CliRunner().invoke(cli, ["train", "-c", str(cfg), "--run-dir", str(run_dir)])
    ticker, date = X.index[100]
    assert result.exit_code == 2
    assert f"column 'f2', ticker {ticker}, date {date.date()}: infinite value" in result.output
