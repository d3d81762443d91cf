"""Every bundled model and exporter passes the plugin-author contracts of the test kit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from qlop.testing import ExporterContract, ModelContract


class TestXGBoostClassifier(ModelContract):
    component_name = "xgboost"
    params = {"n_estimators": 60}


class TestXGBoostRegressor(ModelContract):
    component_name = "xgboost"
    task = "regression"
    params = {"n_estimators": 60}


class TestLogisticRegression(ModelContract):
    component_name = "logistic_regression"


class TestRandomForestClassifier(ModelContract):
    component_name = "random_forest"
    params = {"n_estimators": 30, "min_samples_leaf": 5}


class TestRandomForestRegressor(ModelContract):
    component_name = "random_forest"
    task = "regression"
    params = {"n_estimators": 30, "min_samples_leaf": 5}


class TestBaselineClassifier(ModelContract):
    component_name = "baseline"
    check_learns = False  # it predicts the base rate by design


class TestBaselineRegressor(ModelContract):
    component_name = "baseline"
    task = "regression"
    check_learns = False


class _RunExporter(ExporterContract):
    model_type = "xgboost"

    def make_artifact(self, tmp_path: Path) -> Any:
        from qlop.config import load_config
        from qlop.stages import train
        from qlop.stages.export import build_input
        from qlop.stages.predict import predict

        from .conftest import synthetic_frames, write_config

        run_dir = tmp_path / "run"
        run_dir.mkdir(parents=True)
        X, lab = synthetic_frames(n_tickers=2, start="2010-01-01", end="2013-06-30")
        X.to_parquet(run_dir / "features.parquet")
        lab.to_parquet(run_dir / "labels.parquet")
        cfg = write_config(tmp_path / "cfg.json", model_params={"n_estimators": 20}, validation={"test_months": 12})
        train.run(load_config(cfg), run_dir)
        predict(load_config(cfg), run_dir)
        return build_input(run_dir)


class TestOnnxExporter(_RunExporter):
    component_name = "onnx"

    def test_bundle_records_parity(self, component: Any, artifact: Any, tmp_path: Path) -> None:
        out = tmp_path / "export"
        out.mkdir()
        summary = component.export(artifact, str(out))
        bundle = json.loads((out / "bundle.json").read_text())
        assert bundle["parity_max_abs_diff"] == summary["parity_max_abs_diff"] <= 1e-5
        assert bundle["feature_columns"] == ["f0", "f1", "f2", "f3"]


class TestNativeExporter(_RunExporter):
    component_name = "native"


class TestPredictionsExporter(_RunExporter):
    component_name = "predictions"
    params = {"file_format": "csv", "source": "final"}
