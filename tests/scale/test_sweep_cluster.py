"""The sweep on real clusters: the quickstart 3 x 3 gives the same results on 1 worker, 2 local workers and
an existing scheduler with two worker processes; a worker killed by PID mid-sweep loses no variant."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pandas as pd
import pytest
from e2e_helpers import SLEEPY_PLUGIN, qlop, qlop_env, qlop_popen, read_jsonl
from scale_helpers import write_base, write_sweep

from qlop.runs import leftover_temp_files, outputs_valid, read_manifest

pytestmark = pytest.mark.slow

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart.toml"

#: The quickstart, 3 leverages x 3 entry thresholds; one-value axes shrink it to a CI-sized slice
#: (three tickers, eight years, 30 trees) without copying the file. Thirty trees keep the probabilities
#: near 0.5, so the thresholds are too: every variant trades.
QUICKSTART_SWEEP = f"""
base = "{QUICKSTART}"
[[axes]]
path = "label.label_params.leverage"
values = [1.5, 2.0, 2.5]
[[axes]]
path = "backtest.strategy_params.entry"
values = [0.50, 0.51, 0.52]
[[axes]]
path = "data.tickers"
values = [["AAPL", "MSFT", "KO"]]
[[axes]]
path = "data.start_date"
values = [2006-01-01]
[[axes]]
path = "data.end_date"
values = [2013-12-31]
[[axes]]
path = "model.model_params.n_estimators"
values = [30]
"""


def _sweep(tmp_path: Path, name: str, *cluster: str) -> pd.DataFrame:
    out = tmp_path / name
    result = qlop(
        "sweep", "-c", str(tmp_path / "qs.toml"), *cluster, "--sweep-dir", str(out), cwd=tmp_path, timeout=1500
    )
    assert result.returncode == 0, result.stderr
    sweep = json.loads((out / "sweep.json").read_text())
    assert sweep["counts"]["completed"] == 9 and sweep["status"] == "completed"
    return pd.read_parquet(out / "results.parquet")


def test_quickstart_3x3_same_results_on_one_worker_two_workers_and_an_existing_scheduler(
    tmp_path: Path, dask_processes
) -> None:
    (tmp_path / "qs.toml").write_text(QUICKSTART_SWEEP)
    serial = _sweep(tmp_path, "w1", "--workers", "1")
    assert len(serial) == 9 and serial["sharpe"].notna().all() and serial["auc"].notna().all()
    assert serial["label.label_params.leverage"].tolist() == [1.5] * 3 + [2.0] * 3 + [2.5] * 3
    local = _sweep(tmp_path, "w2", "--workers", "2")
    pd.testing.assert_frame_equal(local, serial, check_exact=True)
    remote = _sweep(tmp_path, "sched", "--scheduler", dask_processes.address)
    pd.testing.assert_frame_equal(remote, serial, check_exact=True)
    sweep = json.loads((tmp_path / "sched" / "sweep.json").read_text())
    assert sweep["cluster"] == {"kind": "scheduler", "address": dask_processes.address, "workers": 2}
    workers = {s["worker"] for v in sweep["variants"] for s in v["stages"].values() if s.get("worker")}
    assert len(workers) == 2  # both worker processes did work


def test_a_worker_killed_mid_sweep_loses_no_variant(tmp_path: Path, dask_processes) -> None:
    from distributed import Client

    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "sleepy.py").write_text(SLEEPY_PLUGIN)
    write_base(tmp_path / "base.toml", tmp_path / "runs", extra_steps='\n  { step_type = "sleepy" },')
    path = write_sweep(
        tmp_path / "s.toml",
        "base.toml",
        [("label.label_params.leverage", "[1.5, 2.0]"), ("backtest.strategy_params.entry", "[0.52, 0.55]")],
    )
    with Client(dask_processes.address, set_as_default=False) as client:
        pids = client.run(os.getpid)  # worker address -> the PID of its `dask worker` process
    assert sorted(pids.values()) == sorted(w.pid for w in dask_processes.workers)
    out = tmp_path / "out"
    proc = qlop_popen(
        "--plugins-dir",
        str(plugins),
        "sweep",
        "-c",
        str(path),
        "--scheduler",
        dask_processes.address,
        "--sweep-dir",
        str(out),
        cwd=tmp_path,
        env=qlop_env(QLOP_E2E_SLEEP="5"),
    )
    killed = None
    try:
        deadline = time.monotonic() + 600
        while killed is None:
            for event in read_jsonl(out / "events.jsonl"):
                payload = event["payload"]
                if payload.get("status") == "stage_started" and payload.get("stage") == "features":
                    killed = payload["worker"]
                    break
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "no features stage started"
            time.sleep(0.1)
        os.kill(pids[killed], signal.SIGKILL)  # mid-sleep: the features task dies with its worker
        _, stderr = proc.communicate(timeout=1200)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert dask_processes.workers[[w.pid for w in dask_processes.workers].index(pids[killed])].poll() is not None
    sweep = json.loads((out / "sweep.json").read_text())
    assert sweep["status"] == "completed" and sweep["counts"]["completed"] == 4
    survivor = next(a for a in pids if a != killed)
    # the features tasks (two leverages) ended up on the survivor, none half-written anywhere
    assert {v["stages"]["features"]["worker"] for v in sweep["variants"]} == {survivor}
    for directory in [*(out / "runs").iterdir(), *(out / "stages").iterdir()]:
        assert not leftover_temp_files(directory), directory
        manifest = read_manifest(directory)
        assert manifest["status"] == "completed", directory
        for record in manifest["stages"].values():
            if record["status"] != "skipped":
                assert outputs_valid(directory, record["outputs"])
    assert pd.read_parquet(out / "results.parquet")["sharpe"].notna().all()
