"""``qlop run --workers 2`` and ``--scheduler``: the walk-forward folds train as tasks on separate worker
processes and give bit-identical predictions, model and fold records to the serial run."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from e2e_helpers import qlop, read_jsonl

pytestmark = pytest.mark.slow

#: Data, features, labels and walk-forward training only (4-5 folds); nthread fixed, seed fixed.
CONFIG = """
name = "folds"
seed = 7
[data]
data_source_type = "sample"
tickers = ["AAPL", "MSFT", "KO"]
start_date = 2006-01-01
end_date = 2013-12-31
[features]
steps = [
  { step_type = "returns", step_params = { windows = [1, 5, 20] } },
  { step_type = "rsi", step_params = { timeperiod = 14 } },
]
[label]
label_type = "leverage_opportunity"
label_params = { leverage = 2.0, horizon = 5, take_profit = 0.04, stop_loss = 0.03 }
[model]
model_type = "xgboost"
model_params = { n_estimators = 30, max_depth = 3, nthread = 1 }
validation = { train_years = 3.0, test_months = 12, embargo_days = 5 }
"""


def _run(tmp_path: Path, name: str, *cluster: str) -> Path:
    # each run under its own parent, so no run finds another's train stage in the cache
    run_dir = tmp_path / name / "run"
    result = qlop(
        "run", "-c", str(tmp_path / "folds.toml"), "--run-dir", str(run_dir), *cluster, cwd=tmp_path, timeout=900
    )
    assert result.returncode == 0, result.stderr
    return run_dir


def _same_training(run_dir: Path, serial: Path) -> dict:
    pd.testing.assert_frame_equal(
        pd.read_parquet(run_dir / "predictions.parquet"),
        pd.read_parquet(serial / "predictions.parquet"),
        check_exact=True,
    )
    assert (run_dir / "model" / "model.json").read_bytes() == (serial / "model" / "model.json").read_bytes()
    # each fold's model comes back from its worker and is saved as the serial run saves it
    fold_models = sorted((serial / "model" / "folds").glob("*/model.json"))
    assert fold_models and [p.relative_to(serial) for p in fold_models] == [
        p.relative_to(run_dir) for p in sorted((run_dir / "model" / "folds").glob("*/model.json"))
    ]
    for path in fold_models:
        assert (run_dir / path.relative_to(serial)).read_bytes() == path.read_bytes()
    assert json.loads((run_dir / "folds.json").read_text()) == json.loads((serial / "folds.json").read_text())
    return json.loads((run_dir / "train_metrics.json").read_text())


def test_folds_as_tasks_on_a_local_cluster_and_a_scheduler_match_the_serial_run(tmp_path: Path, dask_processes) -> None:
    (tmp_path / "folds.toml").write_text(CONFIG)
    serial = _run(tmp_path, "serial")
    n_folds = json.loads((serial / "train_metrics.json").read_text())["n_folds"]
    assert n_folds >= 4

    local = _run(tmp_path, "w2", "--workers", "2")
    metrics = _same_training(local, serial)
    assert metrics["execution"]["folds"] == "tasks" and metrics["execution"]["workers"] == 2
    assert metrics["execution"]["tasks"] == n_folds
    # the folds still report to the run's events: the stage's counter reaches n, each fold names its worker
    advances = [
        e["payload"]
        for e in read_jsonl(local / "events.jsonl")
        if e["type"] == "progress" and e["payload"].get("stage") == "train" and e["payload"].get("kind") == "advance"
    ]
    assert max(p["step"] for p in advances) == n_folds
    assert any(" on tcp://127.0.0.1:" in (p.get("message") or "") for p in advances)

    remote = _run(tmp_path, "sched", "--scheduler", dask_processes.address)
    metrics = _same_training(remote, serial)
    assert metrics["execution"]["cluster"] == f"scheduler {dask_processes.address}"
    assert metrics["execution"]["workers"] == 2 and metrics["execution"]["tasks"] == n_folds
