"""``qlop run`` / ``qlop export`` with ``format_name = "pmml"``: each bundled model's PMML document, with its
parity figure in the run manifest, export_summary.json and pmml.json."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from e2e_helpers import qlop, write_config

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("java_runtime")]

MODELS = {
    "xgboost": {"n_estimators": 30, "max_depth": 3, "nthread": 1},
    "logistic_regression": {},
    "random_forest": {"n_estimators": 40, "n_jobs": 1},
}


@pytest.mark.parametrize("model_type", list(MODELS))
def test_run_and_export_pmml_record_the_parity(tmp_path: Path, model_type: str) -> None:
    config = tomllib.loads(write_config(tmp_path / "small.toml").read_text())
    config["model"].update(model_type=model_type, model_params=MODELS[model_type])
    config["export"] = {"format_name": "pmml"}
    path = tmp_path / "pmml.json"
    path.write_text(json.dumps(config, default=str))

    done = qlop("run", "-c", str(path), "--run-dir", "run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    run = tmp_path / "run"
    assert (run / "export" / "model.pmml").is_file()
    summary = json.loads((run / "manifest.json").read_text())["stages"]["export"]["summary"]
    assert summary["format_name"] == "pmml" and summary["parity_evaluator"] == "pypmml"
    assert 0 <= summary["parity_max_abs_diff"] <= 1e-6 and summary["parity_rows"] > 100
    assert summary["pmml_version"] == "4.4"
    meta = json.loads((run / "export" / "pmml.json").read_text())
    assert meta["parity_max_abs_diff"] == summary["parity_max_abs_diff"]

    again = qlop("export", "-c", str(path), "--run-dir", "run", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("PMML parity: max |pypmml - native| = ")
    assert f"on {summary['parity_rows']} in-sample rows of the final model" in again.stdout
    assert summary["model"] == "final" and summary["parity_sample"] == "in_sample"
