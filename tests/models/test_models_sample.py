"""Walk-forward XGBoost on the embedded sample (29 tickers, 2005-2017) through the real stages.

Proves on real data: complete out-of-sample coverage, and - from the rows each fold's model actually
received - that no training label window reaches into that fold's test period.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qlop.config import config_from_data

pytestmark = pytest.mark.slow  # the real data, features, labels and 8 walk-forward folds: ~15-25 s

HORIZON = 10

CONFIG = {
    "name": "models-sample",
    "seed": 11,
    "data": {"data_source_type": "sample", "start_date": "2005-01-01", "end_date": "2017-12-31"},
    "features": {
        "dropna": True,
        "steps": [
            {"step_type": "returns", "step_params": {"windows": [1, 5, 20]}},
            {"step_type": "rsi", "step_params": {"timeperiod": 14}},
            {"step_type": "natr", "step_params": {"timeperiod": 14}},
            {"step_type": "macd", "step_params": {"fastperiod": 12, "slowperiod": 26, "signalperiod": 9}},
            {"step_type": "bollinger", "step_params": {"timeperiod": 20, "nbdev": 2.0}},
            {"step_type": "xrank", "step_params": {"columns": ["ret_20"]}},
        ],
    },
    "label": {
        "label_type": "leverage_opportunity",
        "label_params": {"leverage": 2.0, "horizon": HORIZON, "take_profit": 0.05, "stop_loss": 0.03},
    },
    "model": {
        "model_type": "xgboost",
        "model_params": {"n_estimators": 200, "max_depth": 4, "nthread": 2},
        "validation": {"train_years": 4, "test_months": 12},
    },
    "export": {"format_name": "onnx"},
}


def _reference_label_end(index: pd.MultiIndex, h: int) -> np.ndarray:
    """Date of bar t+h of the row's own ticker, by pandas shift (independent of qlop.validation)."""
    dates = pd.Series(index.get_level_values("date"), index=index)
    return dates.groupby(level="ticker", sort=False).shift(-h).to_numpy(dtype="datetime64[ns]")


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory: pytest.TempPathFactory):
    run_dir = tmp_path_factory.mktemp("sample-run")
    with pytest.MonkeyPatch.context() as mp:  # module scope: the repo's per-test isolation is not active yet
        mp.setenv("QLOP_CACHE_DIR", str(tmp_path_factory.mktemp("sample-cache")))
        return _build(run_dir)


def _build(run_dir: Path) -> dict:
    from qlop.plugins import manager as manager_mod
    from qlop.stages import export as export_stage
    from qlop.stages import predict as predict_stage
    from qlop.stages import train as train_stage
    from qlop.stages.data import load_panel
    from qlop.stages.features import compute_features, compute_labels
    from qlop_contrib.models.xgboost_model import XGBoostModel

    manager_mod.reset()
    config = config_from_data(CONFIG)
    panel = load_panel(config.data)
    panel.to_parquet(run_dir / "data.parquet")
    compute_features(panel, config.features).to_parquet(run_dir / "features.parquet")
    compute_labels(panel, config.label).to_parquet(run_dir / "labels.parquet")

    seen: list[tuple[pd.Index, pd.Index | None]] = []
    original = XGBoostModel.train

    def spy(self, X_train, y_train, X_val=None, y_val=None):
        seen.append((X_train.index, None if X_val is None else X_val.index))
        return original(self, X_train, y_train, X_val, y_val)

    XGBoostModel.train = spy
    try:
        result = train_stage.train(config, run_dir)
    finally:
        XGBoostModel.train = original
    predict_stage.predict(config, run_dir)
    export_stage.run(config, run_dir)
    manager_mod.reset()
    return {"config": config, "run_dir": run_dir, "panel": panel, "seen": seen, "result": result}


def test_sample_predictions_are_complete_and_out_of_sample(sample_run):
    run_dir, panel = sample_run["run_dir"], sample_run["panel"]
    assert panel.index.get_level_values("ticker").nunique() == 29
    X = pd.read_parquet(run_dir / "features.parquet")
    y = pd.read_parquet(run_dir / "labels.parquet")["label"]
    preds = pd.read_parquet(run_dir / "predictions.parquet")
    folds = json.loads((run_dir / "folds.json").read_text())
    assert len(folds) >= 7
    usable = y.notna() & X.notna().all(axis=1)
    scorable = X.notna().all(axis=1)
    dates = X.index.get_level_values("date")
    first_test = pd.Timestamp(folds[0]["test_start"])
    expected = X.index[scorable & (dates >= first_test)]
    # labelled or not: the last H rows of each ticker are predicted too (a label needs the future)
    assert preds.index.equals(expected), "every scorable date after the first training window is predicted"
    assert preds["prob"].notna().all()
    assert pd.Timestamp(folds[-1]["test_end"]) == dates[scorable].max()
    assert sum(f["n_test_unlabelled"] for f in folds) == int((scorable & y.isna() & (dates >= first_test)).sum()) > 0

    label_end = pd.Series(_reference_label_end(X.index, HORIZON), index=X.index)
    seen = sample_run["seen"]
    assert len(seen) == len(folds) + 1  # one fit per fold, then the final model
    for fold, (train_idx, val_idx) in zip(folds, seen):
        t0 = np.datetime64(pd.Timestamp(fold["test_start"]))
        rows = train_idx if val_idx is None else train_idx.append(val_idx)
        assert len(rows) == fold["n_fit"] + fold["n_val"] <= fold["n_train"]
        ends = label_end.loc[rows].to_numpy()
        assert not np.isnat(ends).any()
        assert ends.max() < t0, f"fold {fold['fold']}: a training label window reaches the test period"
        if val_idx is not None:  # early stopping's validation slice is purged from the fit rows too
            v0 = np.datetime64(val_idx.get_level_values("date").min())
            assert label_end.loc[train_idx].to_numpy().max() < v0
        test_rows = preds.index[preds["fold"] == fold["fold"]]
        assert not set(rows) & set(test_rows)
    final_rows = seen[-1][0]
    assert len(final_rows) == int(usable.sum()), "the final model trains on every labelled row"


def test_sample_bundle_scoring_matches_the_native_model(sample_run, tmp_path):
    run_dir = sample_run["run_dir"]
    bundle = json.loads((run_dir / "export" / "bundle.json").read_text())
    assert bundle["parity_max_abs_diff"] <= 1e-5 and bundle["parity_rows"] > 1000
    assert bundle["feature_parity_max_abs_diff"] == 0.0  # the bundle's feature config reproduces training's
    out = tmp_path / "scores.parquet"
    script = (
        "import sys\n"
        "from qlop.cli.main import cli\n"
        f"cli.main(['predict', '--bundle', {str(run_dir / 'export')!r}, '--data', "
        f"{str(run_dir / 'data.parquet')!r}, '--output', {str(out)!r}], standalone_mode=False)\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('xgboost', 'sklearn', 'skl2onnx', "
        "'onnxmltools'))\n"
        "print('HEAVY', heavy)\n"
        "assert 'onnxruntime' in sys.modules\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "HEAVY []" in proc.stdout, f"bundle scoring imported a training library: {proc.stdout}"
    scored = pd.read_parquet(out)
    native = pd.read_parquet(run_dir / "predictions_final.parquet")
    assert scored.index.equals(native.index)
    assert np.max(np.abs(scored["prob"].to_numpy() - native["prob"].to_numpy())) <= 1e-5


def test_sample_bundle_scores_a_csv_panel(sample_run, tmp_path):
    from qlop.bundle import score_file

    run_dir = sample_run["run_dir"]
    panel = sample_run["panel"].loc[["AAPL", "KO", "XOM"]].reset_index()
    panel["date"] = panel["date"].dt.strftime("%Y-%m-%d")
    csv = tmp_path / "three.csv"
    panel.to_csv(csv, index=False)
    scored = score_file(run_dir / "export", csv)
    assert set(scored.index.get_level_values("ticker")) == {"AAPL", "KO", "XOM"}
    assert len(scored) > 8000 and scored["prob"].between(0, 1).all()


def test_export_refuses_a_feature_config_that_no_longer_matches(sample_run, tmp_path):
    import shutil

    from qlop.errors import ArtifactError
    from qlop.stages import export as export_stage

    run_dir = tmp_path / "copy"
    shutil.copytree(sample_run["run_dir"], run_dir)
    meta_path = run_dir / "model" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["features"]["steps"][1]["step_params"]["timeperiod"] = 10  # rsi_14 became rsi_10
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="feature config"):
        export_stage.run(sample_run["config"], run_dir)
    assert (run_dir / "export" / "bundle.json").exists()  # the previous export is untouched
