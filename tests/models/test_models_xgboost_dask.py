"""``model_params.distributed = true``: XGBoost trains each fold and the final model with ``xgboost.dask``
across the run's Dask workers, on the rows partitioned by ticker; its out-of-sample AUC is within 0.01
of single-process training on the same folds, and the ONNX export works the same way."""

from __future__ import annotations

import contextlib
import json
import os
import shutil

import numpy as np
import pandas as pd
import pytest

from qlop.config import load_config
from qlop.errors import QlopError
from qlop.scale import cluster
from qlop.scale.cluster import ClusterError, ClusterSpec, cluster_client, cluster_session, refuse_nested_cluster
from qlop.scale.frames import ticker_partitions
from qlop.stages import export as export_stage
from qlop.stages import train as train_stage

AUC_TOLERANCE = 0.01


def _panel_index(rows_per_ticker: dict[str, int]) -> pd.MultiIndex:
    tuples = [(t, d) for t, n in rows_per_ticker.items() for d in pd.bdate_range("2020-01-01", periods=n)]
    return pd.MultiIndex.from_tuples(tuples, names=["ticker", "date"])


def test_partitions_hold_whole_tickers_of_about_equal_rows():
    sizes = {"A": 100, "B": 100, "C": 100, "D": 100, "E": 50, "F": 50}
    index = _panel_index(sizes)
    starts = np.cumsum([0, *sizes.values()])  # where each ticker starts, and the end
    for n_parts in (1, 2, 3, 4, 6, 50):
        parts = ticker_partitions(index, n_parts)
        assert parts[0][0] == 0 and parts[-1][1] == len(index)
        assert all(a == b for (_, a), (b, _) in zip(parts[:-1], parts[1:]))  # contiguous, every row once
        assert all(a in starts and b in starts for a, b in parts)  # cuts only at ticker boundaries
        assert len(parts) == min(n_parts, len(sizes))
        # about equal: no partition exceeds its share by more than one ticker
        assert max(b - a for a, b in parts) <= len(index) / len(parts) + max(sizes.values())
    assert ticker_partitions(index, 2) == [(0, 200), (200, 500)]


def test_the_param_turns_the_capability_on():
    from qlop.plugins.manager import get_plugin_manager

    pm = get_plugin_manager()
    assert pm.create("model", "xgboost", {}, "model.model_params").uses_cluster is False
    assert pm.create("model", "xgboost", {"distributed": True}, "model.model_params").uses_cluster is True


def test_no_cluster_no_client_and_never_from_inside_a_worker_task():
    with pytest.raises(ClusterError, match="--workers N or --scheduler ADDRESS"), cluster_client():
        pass
    refuse_nested_cluster("model")  # not on a worker: nothing to refuse
    from distributed import Client, LocalCluster

    with (
        LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as lc,
        Client(lc, set_as_default=False) as client,
    ):
        future = client.submit(refuse_nested_cluster, "model.model_type 'xgboost'", pure=False)
        with pytest.raises(QlopError) as info:
            future.result()
    assert "inside a sweep's task" in str(info.value) and str(info.value).startswith("model.model_type 'xgboost'")


@pytest.mark.slow
def test_distributed_training_matches_single_process_auc_and_exports_to_onnx(make_run, tmp_path):
    params = {"n_estimators": 60, "max_depth": 3, "nthread": 1}
    cfg_path, single_dir = make_run(
        "single", model_params=params, export={"format_name": "onnx"}, frames_kw={"n_tickers": 4}
    )
    single = train_stage.train(load_config(cfg_path), single_dir)
    dist_dir = tmp_path / "distributed"
    dist_dir.mkdir()
    for name in ("features.parquet", "labels.parquet"):
        shutil.copy(single_dir / name, dist_dir / name)
    spec = json.loads(cfg_path.read_text())
    spec["model"]["model_params"]["distributed"] = True
    dist_cfg = tmp_path / "distributed.json"
    dist_cfg.write_text(json.dumps(spec))
    config = load_config(dist_cfg)

    with cluster_session(ClusterSpec(workers=2)):
        dist = train_stage.train(config, dist_dir)

    a, b = single["metrics"], dist["metrics"]
    assert a["overall"]["auc"] > 0.75  # a real signal, so the comparison means something
    assert abs(b["overall"]["auc"] - a["overall"]["auc"]) <= AUC_TOLERANCE
    assert b["n_folds"] == a["n_folds"] >= 3
    for fa, fb in zip(a["folds"], b["folds"]):  # the same folds: same test windows and rows
        assert (fa["test_start"], fa["test_end"], fa["n"]) == (fb["test_start"], fb["test_end"], fb["n"])
    assert b["execution"] == {
        "folds": "serial",
        "model": "distributed",
        "cluster": "local cluster, 2 worker(s)",
        "workers": 2,
    }
    folds = json.loads((dist_dir / "folds.json").read_text())
    assert all(f["dask_workers"] == 2 and f["dask_partitions"] == 4 for f in folds)  # 4 tickers, 2 per worker
    meta = json.loads((dist_dir / "model" / "meta.json").read_text())
    assert meta["fit_info"]["dask_workers"] == 2 and meta["final_params"]["distributed"] is True

    # the deployable model is an ordinary booster: the ONNX export and its parity check are unchanged
    summary = export_stage.export(config, dist_dir)["summary"]
    assert summary["format_name"] == "onnx"
    from qlop.api import load_bundle

    X = pd.read_parquet(dist_dir / "features.parquet")
    via_bundle = load_bundle(dist_dir / "export").score_features(X)
    from qlop.stages.model_store import load_final_model

    model, meta = load_final_model(dist_dir)
    native = model.predict(X.loc[via_bundle.index])
    assert np.max(np.abs(via_bundle["prob"].to_numpy() - native)) <= 1e-5


@pytest.mark.slow
def test_without_a_cluster_the_train_stage_opens_a_local_one(make_run, monkeypatch):
    opened = []
    real = cluster.dask_client

    @contextlib.contextmanager
    def recording(spec=None, **kw):
        opened.append(spec)
        with real(spec, **kw) as client:
            yield client

    monkeypatch.setattr(cluster, "dask_client", recording)
    cfg_path, run_dir = make_run(
        model_params={"n_estimators": 15, "nthread": 1, "distributed": True}, validation={"test_months": 12}
    )
    result = train_stage.train(load_config(cfg_path), run_dir)
    assert len(opened) == 1 and opened[0].workers is None  # one cluster for every fold and the final model
    workers = os.cpu_count() or 1
    assert result["metrics"]["execution"]["cluster"] == f"local cluster, {workers} worker(s)"
    assert json.loads((run_dir / "model" / "meta.json").read_text())["fit_info"]["dask_workers"] == workers
