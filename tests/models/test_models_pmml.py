"""The ``pmml`` exporter: PMML 4.4 for xgboost, logistic_regression and random_forest, with pypmml parity.

Conversion and evaluation run on Java (sklearn2pmml's JPMML converters, pypmml's PMML4S), so these
tests need a Java runtime; CI installs Debian's default-jre-headless (scripts/test.sh).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from qlop.errors import ArtifactError
from qlop.testing import ExporterContract
from qlop_contrib.exporters.pmml_exporter import PmmlExporter, converter_problem, release_series

from .conftest import synthetic_frames, write_config

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("java_runtime")]

NS = "{http://www.dmg.org/PMML-4_4}"


def trained_run(
    root: Path,
    model_type: str = "xgboost",
    task: str = "classification",
    model_params: dict[str, Any] | None = None,
    integer_feature: bool = False,
) -> Any:
    """A trained run directory (walk-forward predictions + final model) and its export input."""
    from qlop.config import load_config
    from qlop.stages import predict, train
    from qlop.stages.export import build_input

    run_dir = root / f"run-{model_type}-{task}"
    run_dir.mkdir(parents=True)
    X, lab = synthetic_frames(n_tickers=2, start="2010-01-01", end="2013-06-30", task=task)
    if integer_feature:  # a calendar-like feature: parity values equal the split thresholds
        X["f3"] = np.where(X["f0"].isna(), np.nan, (X.index.get_level_values("date").month % 5).astype(float))
        lab.loc[X["f3"] >= 3, "label"] = lab.loc[X["f3"] >= 3, "label"].where(lab["label"].isna(), 1.0)
    X.to_parquet(run_dir / "features.parquet")
    lab.to_parquet(run_dir / "labels.parquet")
    cfg = write_config(
        root / f"{run_dir.name}.json",
        model_type=model_type,
        task=task,
        model_params=model_params,
        validation={"test_months": 12},
    )
    train.run(load_config(cfg), run_dir)
    predict.predict(load_config(cfg), run_dir)
    return build_input(run_dir)


class TestPmmlExporterContract(ExporterContract):
    component_name = "pmml"

    def make_artifact(self, tmp_path: Path) -> Any:
        return trained_run(tmp_path, "xgboost", model_params={"n_estimators": 20})


CASES = [
    ("xgboost", "classification", {"n_estimators": 60, "max_depth": 4}),
    ("xgboost", "regression", {"n_estimators": 60}),
    ("logistic_regression", "classification", {}),
    ("random_forest", "classification", {"n_estimators": 30, "min_samples_leaf": 5}),
    ("random_forest", "regression", {"n_estimators": 30, "min_samples_leaf": 5}),
]


@pytest.mark.parametrize("model_type,task,params", CASES, ids=[f"{m}-{t}" for m, t, _ in CASES])
def test_each_model_exports_pmml_4_4_matching_the_native_model(
    tmp_path: Path, model_type: str, task: str, params: dict[str, Any]
) -> None:
    artifact = trained_run(tmp_path, model_type, task, params)
    out = tmp_path / "export"
    out.mkdir()
    summary = PmmlExporter("pmml", {}).export(artifact, str(out))
    assert summary["parity_max_abs_diff"] <= 1e-6
    assert summary["parity_rows"] == len(artifact.parity_rows) > 100
    assert sorted(p.name for p in out.iterdir()) == ["model.pmml", "pmml.json"]

    root = ET.parse(out / "model.pmml").getroot()
    assert root.tag == f"{NS}PMML" and root.get("version") == "4.4"
    fields = [f.get("name") for f in root.iter(f"{NS}DataField")]
    assert set(fields) - {"label"} <= {"f0", "f1", "f2", "f3"} and {"f0", "f1"} <= set(fields)
    outputs = {o.get("name") for o in root.iter(f"{NS}OutputField")}
    if task == "classification":
        assert {"probability(0)", "probability(1)"} <= outputs

    meta = json.loads((out / "pmml.json").read_text())
    assert meta["parity_max_abs_diff"] == summary["parity_max_abs_diff"]
    assert meta["feature_columns"] == ["f0", "f1", "f2", "f3"] and meta["pmml_version"] == "4.4"
    assert meta["native_model_type"] == model_type and meta["task"] == task
    assert meta["evaluator"].startswith("pypmml ") and meta["converter"].startswith("sklearn2pmml ")


def test_values_equal_to_split_thresholds_score_like_float32(tmp_path: Path) -> None:
    """An integer-valued feature puts parity values exactly on XGBoost's split thresholds (``x < 3``
    with x = 3): parity holds because the evaluator compares the values as float32 does."""
    artifact = trained_run(tmp_path, "xgboost", model_params={"n_estimators": 60}, integer_feature=True)
    out = tmp_path / "export"
    out.mkdir()
    summary = PmmlExporter("pmml", {}).export(artifact, str(out))
    root = ET.parse(out / "model.pmml").getroot()
    thresholds = {float(p.get("value")) for p in root.iter(f"{NS}SimplePredicate") if p.get("field") == "f3"}
    assert thresholds & set(artifact.parity_rows["f3"].unique()), "no parity value sits on a threshold"
    assert summary["parity_max_abs_diff"] <= 1e-6


def test_a_parity_failure_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    artifact = trained_run(tmp_path, "logistic_regression")
    real = artifact.model.predict
    monkeypatch.setattr(artifact.model, "predict", lambda X: real(X) + 1e-5)
    out = tmp_path / "export"
    out.mkdir()
    with pytest.raises(
        ArtifactError,
        match=r"^PMML parity check failed: pypmml differs from the native "
        r"logistic_regression model by 1e-05 \(> 1e-06\) on \d+ in-sample rows$",
    ):
        PmmlExporter("pmml", {}).export(artifact, str(out))
    assert list(out.iterdir()) == []


def test_without_java_the_export_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    artifact = trained_run(tmp_path, "xgboost", model_params={"n_estimators": 10})
    out = tmp_path / "export"
    out.mkdir()
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(ArtifactError) as info:
        PmmlExporter("pmml", {}).export(artifact, str(out))
    assert str(info.value) == (
        "the pmml exporter needs Java (java on PATH not found): install a Java runtime, 11 "
        "or newer (Debian: apt-get install default-jre-headless), or set JAVA_HOME"
    )
    with pytest.raises(ArtifactError, match=r"needs Java \(/nowhere/bin/java not found\)"):
        PmmlExporter("pmml", {"java_home": "/nowhere"}).export(artifact, str(out))
    assert list(out.iterdir()) == []


def test_models_without_an_estimator_or_with_windows_are_refused(tmp_path: Path) -> None:
    artifact = trained_run(tmp_path, "baseline")
    with pytest.raises(
        ArtifactError,
        match="model 'baseline' has no scikit-learn estimator to convert .*use format_name = 'onnx' or 'native'",
    ):
        PmmlExporter("pmml", {}).export(artifact, str(tmp_path))


def test_release_series_and_converter_messages() -> None:
    assert release_series("1.9.1") == "1.9.0"
    assert release_series("1.10.0rc1") == "1.10.0"
    output = (
        "SEVERE: Failed to convert PKL to PMML\norg.jpmml.sklearn.SkLearnException: Failed to convert\n"
        "\tat sklearn.Estimator.encode(Estimator.java:152)\nCaused by\n"
        "org.jpmml.xgboost.XGBoostException: Conflicting XGBoost options\n"
    )
    assert converter_problem(output) == "XGBoostException: Conflicting XGBoost options"
    assert converter_problem("nothing useful") is None
