"""Walk-forward folds as Dask tasks (``qlop.scale.folds``), in process: a cluster of worker threads runs
the same fold code as the serial loop, so the outputs are identical; a fold's error and a Ctrl-C reach
the run the way they do when serial. (Separate worker processes and a real scheduler: tests/scale.)"""

from __future__ import annotations

import contextlib
import json
import shutil
import threading
import time

import pandas as pd
import pytest

from qlop import progress
from qlop.config import load_config
from qlop.errors import StageError
from qlop.scale import cluster
from qlop.scale.cluster import ClusterSpec, cluster_session
from qlop.stages import train as train_stage


@pytest.fixture
def thread_cluster(monkeypatch):
    """Make the run's cluster two single-thread workers in this process (quick to start)."""
    from distributed import Client, LocalCluster

    @contextlib.contextmanager
    def in_process(spec=None, **kw):
        with (
            LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as lc,
            Client(lc, set_as_default=False) as client,
        ):
            yield client

    monkeypatch.setattr(cluster, "dask_client", in_process)


def _copy_inputs(src, dst):
    dst.mkdir()
    for name in ("features.parquet", "labels.parquet"):
        shutil.copy(src / name, dst / name)
    return dst


def test_fold_tasks_give_the_serial_runs_outputs(make_run, tmp_path, thread_cluster):
    cfg_path, serial_dir = make_run(model_params={"n_estimators": 25, "nthread": 1})
    config = load_config(cfg_path)
    serial = train_stage.train(config, serial_dir)
    tasks_dir = _copy_inputs(serial_dir, tmp_path / "tasks")
    updates = []
    progress.add_listener(updates.append)
    try:
        with cluster_session(ClusterSpec(workers=2)) as session:
            parallel = train_stage.train(config, tasks_dir)
            assert session.started
    finally:
        progress.remove_listener(updates.append)

    pd.testing.assert_frame_equal(parallel["predictions"], serial["predictions"], check_exact=True)
    assert (tasks_dir / "model" / "model.json").read_bytes() == (serial_dir / "model" / "model.json").read_bytes()
    assert json.loads((tasks_dir / "folds.json").read_text()) == json.loads((serial_dir / "folds.json").read_text())
    assert parallel["metrics"]["overall"] == serial["metrics"]["overall"]
    n_folds = serial["metrics"]["n_folds"]
    assert n_folds >= 3
    execution = parallel["metrics"]["execution"]
    assert execution["folds"] == "tasks" and execution["tasks"] == n_folds and execution["workers"] == 2
    assert execution["task_cpu_seconds"] > 0
    per_worker = execution["worker_cpu_seconds"]  # what each worker spent: the parallel critical path
    assert 1 <= len(per_worker) <= 2 and abs(sum(per_worker.values()) - execution["task_cpu_seconds"]) < 0.01
    assert serial["metrics"]["execution"] == {"folds": "serial"}
    # every fold is reported as it completes, counted 1..n, naming the worker that fitted it
    advances = [
        u for u in updates if u.stage == "train" and u.kind == "advance" and u.message and u.message.startswith("fold ")
    ]
    assert [u.step for u in advances] == list(range(1, n_folds + 1))
    assert all(" on " in u.message for u in advances)
    assert sorted(int(u.message.split()[1].split("/")[0]) for u in advances) == list(range(1, n_folds + 1))


def test_a_fold_task_error_is_the_runs_one_line_error(make_run, thread_cluster, monkeypatch):
    cfg_path, run_dir = make_run(model_params={"n_estimators": 10, "nthread": 1})
    config = load_config(cfg_path)
    real = train_stage.fit_fold

    def failing(config, ts, fold, label_end, dates):
        if fold.fold == 1:
            with train_stage.component_errors("train", "model", "xgboost"):
                raise RuntimeError("boom in fold 1")
        return real(config, ts, fold, label_end, dates)

    monkeypatch.setattr(train_stage, "fit_fold", failing)
    with cluster_session(ClusterSpec(workers=2)), pytest.raises(StageError) as info:
        train_stage.train(config, run_dir)
    message = str(info.value)
    assert message.startswith("train: model 'xgboost' (plugin ") and message.endswith("RuntimeError: boom in fold 1")
    assert not (run_dir / "predictions.parquet").exists() and not (run_dir / "model").exists()


def test_ctrl_c_while_folds_run_stops_the_stage_and_cancels_the_tasks(make_run, thread_cluster, monkeypatch):
    cfg_path, run_dir = make_run(model_params={"n_estimators": 10, "nthread": 1})
    config = load_config(cfg_path)
    started = threading.Event()
    release = threading.Event()
    calls = []
    real = train_stage.fit_fold

    def slow(config, ts, fold, label_end, dates):
        calls.append(fold.fold)
        started.set()
        release.wait(60)
        return real(config, ts, fold, label_end, dates)

    monkeypatch.setattr(train_stage, "fit_fold", slow)

    def interrupt():
        started.wait(60)
        progress.request_stop(KeyboardInterrupt())

    threading.Thread(target=interrupt, daemon=True).start()
    try:
        with cluster_session(ClusterSpec(workers=2)):
            t0 = time.monotonic()
            with pytest.raises(KeyboardInterrupt):
                train_stage.train(config, run_dir)
            stopped_after = time.monotonic() - t0
            release.set()
            time.sleep(2.0)  # time for a task that was not cancelled to start
            assert len(calls) <= 2, calls  # the two running folds; the queued ones never ran
    finally:
        release.set()
        progress.clear_stop()
    assert stopped_after < 45  # stopped while the folds were still blocked, not after them
    assert not (run_dir / "predictions.parquet").exists()
