"""``qlop sweep`` end to end on a local Dask cluster: outputs, stage sharing, resume, failures, live events."""

from __future__ import annotations

import json
import math
import os
import signal
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from e2e_helpers import SLEEPY_PLUGIN, qlop, qlop_env, qlop_popen, read_jsonl
from scale_helpers import write_base, write_sweep

from qlop.metrics import deflated_sharpe_across_trials
from qlop.runs import leftover_temp_files, outputs_valid, read_manifest
from qlop.scale.sweep import read_variant_returns

pytestmark = pytest.mark.slow

LEVERAGE = "label.label_params.leverage"
ENTRY = "backtest.strategy_params.entry"


def _stage_statuses(sweep: dict, stage: str) -> list[str]:
    return [v["stages"][stage]["status"] for v in sweep["variants"]]


def test_sweep_shares_stages_writes_every_output_and_a_rerun_recomputes_only_what_changed(tmp_path: Path) -> None:
    write_base(tmp_path / "base.toml", tmp_path / "runs")
    path = write_sweep(tmp_path / "lev.toml", "base.toml", [(LEVERAGE, "[1.5, 2.0]"), (ENTRY, "[0.52, 0.55, 0.58]")])
    out = tmp_path / "out"
    result = qlop("sweep", "-c", str(path), "--workers", "2", "--sweep-dir", str(out), cwd=tmp_path, timeout=900)
    assert result.returncode == 0, result.stderr
    sweep = json.loads((out / "sweep.json").read_text())
    assert sweep["status"] == "completed" and sweep["counts"]["completed"] == 6
    assert sweep["axes"] == [{"path": LEVERAGE, "values": [1.5, 2.0]}, {"path": ENTRY, "values": [0.52, 0.55, 0.58]}]

    # every variant is an ordinary, complete run directory under runs/ with its own config
    for v in sweep["variants"]:
        run_dir = Path(v["run_dir"])
        assert run_dir.parent == out / "runs"
        manifest = read_manifest(run_dir)
        assert manifest["status"] == "completed" and manifest["config_hash"] == v["config_hash"]
        config = json.loads((run_dir / "config.json").read_text())
        assert config["label"]["label_params"]["leverage"] == v["values"][LEVERAGE]
        assert config["backtest"]["strategy_params"]["entry"] == v["values"][ENTRY]
        assert v["diff"][ENTRY]["base"] == 0.55 and v["diff"][ENTRY]["variant"] == v["values"][ENTRY]
        for record in manifest["stages"].values():
            if record["status"] != "skipped":
                assert outputs_valid(run_dir, record["outputs"])
        assert not leftover_temp_files(run_dir)

    # stage sharing: data once for all six, features and train once per leverage, a backtest per variant
    assert sorted(_stage_statuses(sweep, "data")) == ["computed"] + ["shared"] * 5
    assert sorted(_stage_statuses(sweep, "features")) == ["computed"] * 2 + ["shared"] * 4
    assert sorted(_stage_statuses(sweep, "train")) == ["computed"] * 2 + ["shared"] * 4
    assert _stage_statuses(sweep, "backtest") == ["computed"] * 6
    assert sweep["timings"]["saved_by_sharing_seconds"] > 0
    assert len(list((out / "stages").iterdir())) == 1 + 2 + 2 + 6

    # results.parquet: the axis values and the headline metrics, equal to each run's own files
    frame = pd.read_parquet(out / "results.parquet")
    assert list(frame.columns) == [
        "variant",
        "status",
        LEVERAGE,
        ENTRY,
        "sharpe",
        "cagr",
        "max_drawdown",
        "total_return",
        "n_trades",
        "auc",
        "log_loss",
        "base_rate",
        "deflated_sharpe",
    ]
    assert len(frame) == 6 and set(frame["status"]) == {"completed"}
    for row, v in zip(frame.itertuples(index=False), sweep["variants"]):
        metrics = json.loads((Path(v["run_dir"]) / "backtest" / "metrics.json").read_text())
        train = json.loads((Path(v["run_dir"]) / "train_metrics.json").read_text())["overall"]
        assert row.sharpe == metrics["sharpe"] and row.n_trades == metrics["n_trades"]
        assert row.auc == train["auc"] and row.base_rate == train["base_rate"]

    # honest statistics: DSR of every variant against the six, from the runs' own equity curves
    returns = [read_variant_returns(Path(v["run_dir"])) for v in sweep["variants"]]
    expected = deflated_sharpe_across_trials(returns)
    stats = sweep["statistics"]
    assert stats["n_trials"] == 6 and stats["sr0"] == pytest.approx(expected["sr0"], rel=1e-12)
    assert stats["sharpe_variance"] == pytest.approx(expected["sharpe_variance"], rel=1e-12)
    assert frame["deflated_sharpe"].tolist() == pytest.approx(expected["deflated_sharpe"], rel=1e-12)
    assert sweep["trials_ledger"]["n_tried"] == 6 and sweep["trials_ledger"]["name"] == "sweeptest"
    report = (out / "report.html").read_text()
    assert "best of 6 tried" in report and "Plotly" in report and "<script src=" not in report
    assert "best of 6 tried" in result.stdout

    # a rerun resumes: nothing recomputed, the run directories untouched
    stamps = {v["id"]: os.stat(Path(v["run_dir"]) / "manifest.json").st_mtime_ns for v in sweep["variants"]}
    again = qlop("sweep", "-c", str(path), "--workers", "2", "--sweep-dir", str(out), cwd=tmp_path, timeout=600)
    assert again.returncode == 0, again.stderr
    assert "6 variants (6 already done)" in again.stderr
    resumed = json.loads((out / "sweep.json").read_text())
    assert all(v["resumed"] for v in resumed["variants"])
    assert stamps == {v["id"]: os.stat(Path(v["run_dir"]) / "manifest.json").st_mtime_ns for v in resumed["variants"]}
    assert pd.read_parquet(out / "results.parquet").equals(frame)

    # one new strategy value: only its backtests run; data, features and training come from stages/
    path.write_text(path.read_text().replace("0.58]", "0.60]"))
    changed = qlop("sweep", "-c", str(path), "--workers", "2", "--sweep-dir", str(out), cwd=tmp_path, timeout=600)
    assert changed.returncode == 0, changed.stderr
    sweep = json.loads((out / "sweep.json").read_text())
    new = [v for v in sweep["variants"] if v["values"][ENTRY] == 0.60]
    assert len(new) == 2 and not any(v["resumed"] for v in new)
    assert sum(v["resumed"] for v in sweep["variants"]) == 4
    for v in new:
        assert {s: v["stages"][s]["status"] for s in ("data", "features", "train", "backtest")} == {
            "data": "cached",
            "features": "cached",
            "train": "cached",
            "backtest": "computed",
        }
    assert sweep["trials_ledger"]["n_tried"] == 8  # six, then two more distinct configs


def test_a_variant_failing_on_its_own_is_recorded_and_the_rest_complete_with_live_events(tmp_path: Path) -> None:
    from relayproc import RelayProcess

    token = "sweep-test-token"
    write_base(tmp_path / "base.toml", tmp_path / "runs")
    path = write_sweep(
        tmp_path / "uni.toml",
        "base.toml",
        [("data.tickers", '[["AAPL", "MSFT", "KO"], ["AAPL", "NOPE"]]'), (ENTRY, "[0.52, 0.55]")],
    )
    out = tmp_path / "out"
    env = qlop_env(QLOP_WS_TOKEN=token)
    relay = RelayProcess(token).start()
    try:
        tail = qlop_popen("ws", "tail", "sweep-1", "--ws-url", relay.url, "--wait", "120", cwd=tmp_path, env=env)
        result = qlop(
            "--stream-to-ws",
            "sweep-1",
            "--ws-url",
            relay.url,
            "sweep",
            "-c",
            str(path),
            "--workers",
            "1",
            "--sweep-dir",
            str(out),
            cwd=tmp_path,
            env=env,
            timeout=900,
        )
        tail_out, _ = tail.communicate(timeout=60)
    finally:
        relay.stop()
    assert result.returncode == 1, result.stderr  # some failed
    assert "2 of 4 variants failed" in result.stderr
    sweep = json.loads((out / "sweep.json").read_text())
    assert sweep["status"] == "some_failed"
    failed = [v for v in sweep["variants"] if v["status"] == "failed"]
    assert [v["values"]["data.tickers"] for v in failed] == [["AAPL", "NOPE"]] * 2
    for v in failed:
        assert v["error"].startswith("data: ") and "NOPE" in v["error"] and "\n" not in v["error"]
        assert v["run_dir"] == ""
    assert sweep["counts"]["completed"] == 2
    frame = pd.read_parquet(out / "results.parquet")
    assert frame.loc[frame["status"] == "failed", "sharpe"].isna().all()
    assert frame.loc[frame["status"] == "completed", "sharpe"].notna().all()
    assert sweep["statistics"]["n_trials"] == 2

    # the relay got the sweep under its task id, every event with its variant, ending with the final status
    events = [json.loads(line) for line in tail_out.splitlines() if line.strip()]
    assert events and all(e["task_id"] == "sweep-1" and "variant" in e["payload"] for e in events)
    assert events[-1]["payload"]["status"] == "failed" and events[-1]["payload"]["n_failed"] == 2
    ends = {
        e["payload"]["variant"]: e["payload"]["status"]
        for e in events
        if e["payload"].get("status") in ("variant_completed", "variant_failed")
    }
    assert ends == {v["id"]: f"variant_{v['status']}" for v in sweep["variants"]}
    worked = {e["payload"]["variant"] for e in events if e["type"] == "progress" and e["payload"]["variant"]}
    assert worked >= {v["id"] for v in sweep["variants"] if v["status"] == "completed"} - {None}
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert read_jsonl(out / "events.jsonl")[-1] == events[-1]
    # stage tasks report their own stage only: no "skipped" noise from the cut-down pipelines
    assert not [e for e in events if e["payload"].get("status") == "stage_skipped"]

    # `qlop ws tail --format pretty` folds them per variant: lines name their variant, one row each
    import io

    from qlop.live.tail import tail_pretty

    buf = io.StringIO()
    state = tail_pretty(events, "sweep-1", file=buf)
    shown = buf.getvalue()
    assert {name: v.status for name, v in state.variants.items()} == {v["id"]: v["status"] for v in sweep["variants"]}
    for v in sweep["variants"]:
        assert f" {v['id']} " in shown
    assert "sweep-1 failed" in shown and "2 of 4 variants completed, 2 failed" in shown


def test_ctrl_c_keeps_finished_variants_and_a_rerun_resumes(tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "sleepy.py").write_text(SLEEPY_PLUGIN)
    write_base(tmp_path / "base.toml", tmp_path / "runs", extra_steps='\n  { step_type = "sleepy" },')
    path = write_sweep(tmp_path / "s.toml", "base.toml", [(LEVERAGE, "[1.5, 2.0, 2.5]")])
    out = tmp_path / "out"
    proc = qlop_popen(
        "--plugins-dir",
        str(plugins),
        "sweep",
        "-c",
        str(path),
        "--workers",
        "1",
        "--sweep-dir",
        str(out),
        cwd=tmp_path,
        env=qlop_env(QLOP_E2E_SLEEP="6"),
    )
    try:
        deadline = time.monotonic() + 600
        while not any(e["payload"].get("status") == "variant_completed" for e in read_jsonl(out / "events.jsonl")):
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "no variant finished"
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert "keeps every finished variant" in stderr
    sweep = json.loads((out / "sweep.json").read_text())
    assert sweep["status"] == "interrupted"
    done = [v for v in sweep["variants"] if v["status"] == "completed"]
    assert 1 <= len(done) < 3
    assert {v["status"] for v in sweep["variants"]} <= {"completed", "interrupted"}
    stamps = {}
    for v in done:
        assert read_manifest(Path(v["run_dir"]))["status"] == "completed"
        stamps[v["id"]] = os.stat(Path(v["run_dir"]) / "manifest.json").st_mtime_ns

    rerun = qlop(
        "--plugins-dir",
        str(plugins),
        "sweep",
        "-c",
        str(path),
        "--workers",
        "1",
        "--sweep-dir",
        str(out),
        cwd=tmp_path,
        env=qlop_env(QLOP_E2E_SLEEP="0"),
        timeout=900,
    )
    assert rerun.returncode == 0, rerun.stderr
    assert f"3 variants ({len(done)} already done)" in rerun.stderr
    sweep = json.loads((out / "sweep.json").read_text())
    assert sweep["status"] == "completed" and sweep["counts"]["completed"] == 3
    assert {v["id"] for v in sweep["variants"] if v["resumed"]} == set(stamps)
    assert stamps == {
        i: os.stat(Path(v["run_dir"]) / "manifest.json").st_mtime_ns
        for v in sweep["variants"]
        for i in [v["id"]]
        if i in stamps
    }
    assert all(math.isfinite(x) for x in pd.read_parquet(out / "results.parquet")["sharpe"])
    for v in sweep["variants"]:
        assert not leftover_temp_files(Path(v["run_dir"]))
    assert np.isfinite(sweep["statistics"]["sr0"])


def test_force_recomputes_every_stage_once_still_shared(tmp_path: Path) -> None:
    write_base(tmp_path / "base.toml", tmp_path / "runs")
    path = write_sweep(tmp_path / "s.toml", "base.toml", [(ENTRY, "[0.52, 0.55]")])
    out = tmp_path / "out"
    first = qlop("sweep", "-c", str(path), "--workers", "1", "--sweep-dir", str(out), cwd=tmp_path, timeout=900)
    assert first.returncode == 0, first.stderr
    forced = qlop(
        "sweep", "-c", str(path), "--workers", "1", "--sweep-dir", str(out), "--force", cwd=tmp_path, timeout=900
    )
    assert forced.returncode == 0, forced.stderr
    assert "2 variants (0 already done)" in forced.stderr
    sweep = json.loads((out / "sweep.json").read_text())
    for stage in ("data", "features", "train"):
        assert sorted(_stage_statuses(sweep, stage)) == ["computed", "shared"]
    assert _stage_statuses(sweep, "backtest") == ["computed", "computed"]
    assert all(v["stages"][s]["compute_seconds"] > 0 for v in sweep["variants"] for s in ("backtest",))
