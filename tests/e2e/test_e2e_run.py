"""``qlop run`` end to end through the real CLI: artefacts, cache, resume after a signal, live streaming."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
from e2e_helpers import (  # noqa: E402  (tests/e2e, on sys.path via conftest)
    SLEEPY_PLUGIN,
    qlop,
    qlop_env,
    qlop_popen,
    read_jsonl,
    wait_for_event,
    write_config,
)
from relayproc import RelayProcess  # noqa: E402  (tests/live, put on sys.path by conftest)

pytestmark = pytest.mark.slow

TOKEN = "e2e-token-abcdef"
ARTEFACTS = (
    "config.json",
    "manifest.json",
    "events.jsonl",
    "data.parquet",
    "features.parquet",
    "labels.parquet",
    "predictions.parquet",
    "folds.json",
    "train_metrics.json",
    "model",
    "backtest/metrics.json",
    "backtest/report.html",
    "backtest/equity.parquet",
    "backtest/trades.parquet",
)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stage_statuses(run_dir: Path) -> dict[str, str]:
    return {s: r["status"] for s, r in json.loads((run_dir / "manifest.json").read_text())["stages"].items()}


def assert_complete_artefacts(run_dir: Path) -> None:
    """Every artefact present is whole: parquet files read, JSON parses, no temp file is left."""
    leftovers = [p for p in run_dir.rglob(".*") if ".tmp" in p.name or p.name.endswith(".old")]
    assert leftovers == []
    for path in run_dir.rglob("*.parquet"):
        pd.read_parquet(path)
    for path in run_dir.rglob("*.json"):
        json.loads(path.read_text())
    for path in run_dir.rglob("*.onnx"):
        import onnx

        onnx.checker.check_model(onnx.load(str(path)))


def test_a_run_writes_every_artefact_reruns_from_cache_and_from_a_changed_stage(tmp_path, small_config):
    run_dir = tmp_path / "runs" / "one"
    first = qlop("run", "-c", str(small_config), "--run-dir", str(run_dir), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    for rel in ARTEFACTS:
        assert (run_dir / rel).exists(), rel
    assert list((run_dir / "export").glob("*.onnx"))
    assert_complete_artefacts(run_dir)
    assert set(_stage_statuses(run_dir).values()) == {"completed"}
    events = read_jsonl(run_dir / "events.jsonl")
    assert events[-1]["type"] == "status" and events[-1]["payload"]["status"] == "completed"
    assert {e["payload"]["name"] for e in events if e["type"] == "metric" and e["payload"]["stage"] == "backtest"}
    assert any(e["type"] == "log" for e in events)

    again = qlop("run", "-c", str(small_config), "--run-dir", str(run_dir), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert set(_stage_statuses(run_dir).values()) == {"cached"}
    assert "cached" in again.stderr

    changed = write_config(
        tmp_path / "changed.toml", extra_steps='\n  { step_type = "rvol", step_params = { window = 20 } },'
    )
    third = qlop("run", "-c", str(changed), cwd=tmp_path)  # a new run dir under the same runs folder
    assert third.returncode == 0, third.stderr
    new_dir = next(  # a run directory has a manifest; the trials ledger beside the runs does not
        p for p in (tmp_path / "runs").iterdir() if p.name != "one" and (p / "manifest.json").is_file()
    )
    assert _stage_statuses(new_dir) == {
        "data": "cached",
        "features": "completed",
        "train": "completed",
        "backtest": "completed",
        "export": "completed",
    }

    listed = qlop("runs", "list", "--runs-dir", str(tmp_path / "runs"), cwd=tmp_path)
    assert listed.returncode == 0 and "one" in listed.stdout and new_dir.name in listed.stdout
    shown = qlop("runs", "show", str(run_dir), cwd=tmp_path)
    assert shown.returncode == 0 and "qlop_contrib.models" in shown.stdout and "report.html" in shown.stdout


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupted_run_leaves_no_partial_artefact_and_the_rerun_resumes(tmp_path, sig, code):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "qlop_e2e_sleepy.py").write_text(SLEEPY_PLUGIN)
    config = write_config(tmp_path / "c.toml", extra_steps='\n  { step_type = "sleepy" },')
    run_dir = tmp_path / "runs" / "r"
    args = ("--plugins-dir", str(plugins), "run", "-c", str(config), "--run-dir", str(run_dir))
    proc = qlop_popen(*args, cwd=tmp_path, env=qlop_env(QLOP_E2E_SLEEP="60"))
    try:
        wait_for_event(
            run_dir / "events.jsonl",
            lambda e: (
                e["type"] == "status"
                and e["payload"].get("status") == "stage_started"
                and e["payload"].get("stage") == "features"
            ),
            proc=proc,
        )
        time.sleep(0.3)
        proc.send_signal(sig)
        assert proc.wait(60) == code
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    assert_complete_artefacts(run_dir)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    assert _stage_statuses(run_dir)["data"] == "completed"
    assert _stage_statuses(run_dir)["features"] == "interrupted"
    assert not (run_dir / "features.parquet").exists()
    last = read_jsonl(run_dir / "events.jsonl")[-1]
    assert last["payload"]["status"] == "failed" and last["payload"]["interrupted"] is True

    rerun = qlop(*args, cwd=tmp_path, env=qlop_env(QLOP_E2E_SLEEP="0"))
    assert rerun.returncode == 0, rerun.stderr
    statuses = _stage_statuses(run_dir)
    assert statuses["data"] == "cached" and statuses["features"] == "completed"
    assert json.loads((run_dir / "manifest.json").read_text())["attempts"] == 2
    assert_complete_artefacts(run_dir)


def test_an_interrupt_during_training_leaves_no_partial_model(tmp_path, small_config):
    run_dir = tmp_path / "runs" / "r"
    args = ("run", "-c", str(small_config), "--run-dir", str(run_dir))
    proc = qlop_popen(*args, cwd=tmp_path)
    try:
        wait_for_event(
            run_dir / "events.jsonl",
            lambda e: (
                e["type"] == "progress" and e["payload"]["stage"] == "train" and e["payload"]["kind"] == "advance"
            ),
            proc=proc,
        )
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    assert_complete_artefacts(run_dir)
    assert _stage_statuses(run_dir)["train"] == "interrupted"
    assert not (run_dir / "predictions.parquet").exists()
    rerun = qlop(*args, cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    statuses = _stage_statuses(run_dir)
    assert statuses["features"] == "cached" and statuses["train"] == "completed"


def test_a_streamed_run_reaches_a_subscriber_whole_and_in_order(tmp_path, small_config):
    relay = RelayProcess(TOKEN).start()
    env = qlop_env(QLOP_WS_TOKEN=TOKEN)
    try:
        tail = qlop_popen("ws", "tail", "job-1", "--ws-url", relay.url, cwd=tmp_path, env=env)
        run_dir = tmp_path / "runs" / "r"
        result = qlop(
            "--stream-to-ws",
            "job-1",
            "--ws-url",
            relay.url,
            "run",
            "-c",
            str(small_config),
            "--run-dir",
            str(run_dir),
            cwd=tmp_path,
            env=env,
        )
        assert result.returncode == 0, result.stderr
        try:
            out, err = tail.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            tail.kill()
            out, err = tail.communicate()
            raise AssertionError(f"tail did not end: run stderr={result.stderr!r} tail={out[-2000:]!r} {err!r}")
        assert tail.returncode == 0, err
    finally:
        relay.stop()
    received = [json.loads(line) for line in out.splitlines()]
    logged = read_jsonl(run_dir / "events.jsonl")
    assert received == logged
    assert [e["seq"] for e in received] == list(range(1, len(received) + 1))
    assert received[-1]["payload"]["status"] == "completed" and received[0]["task_id"] == "job-1"
    assert {"log", "progress", "status", "artifact_path", "metric"} <= {e["type"] for e in received}


def test_a_relay_restarted_mid_run_loses_nothing_for_a_resuming_subscriber(tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "qlop_e2e_sleepy.py").write_text(SLEEPY_PLUGIN)
    config = write_config(tmp_path / "c.toml", extra_steps='\n  { step_type = "sleepy" },')
    relay = RelayProcess(TOKEN).start()
    env = qlop_env(QLOP_WS_TOKEN=TOKEN, QLOP_E2E_SLEEP="3")
    run_dir = tmp_path / "runs" / "r"
    second = None
    try:
        tail = qlop_popen("ws", "tail", "job-2", "--ws-url", relay.url, "--wait", "60", cwd=tmp_path, env=env)
        run = qlop_popen(
            "--plugins-dir",
            str(plugins),
            "--stream-to-ws",
            "job-2",
            "--ws-url",
            relay.url,
            "run",
            "-c",
            str(config),
            "--run-dir",
            str(run_dir),
            cwd=tmp_path,
            env=env,
        )
        wait_for_event(
            run_dir / "events.jsonl",
            lambda e: e["type"] == "status" and e["payload"].get("stage") == "features",
            proc=run,
        )
        relay.kill()  # SIGKILL: the relay forgets everything
        time.sleep(0.5)
        second = RelayProcess(TOKEN, port=relay.port).start()
        run_out, run_err = run.communicate(timeout=300)
        assert run.returncode == 0, run_err
        out, err = tail.communicate(timeout=60)
        assert tail.returncode == 0, err
    finally:
        relay.stop()
        if second is not None:
            second.stop()
    received = [json.loads(line) for line in out.splitlines()]
    assert received == read_jsonl(run_dir / "events.jsonl")
    assert received[-1]["payload"]["status"] == "completed"


def test_without_a_relay_the_exit_code_and_artefacts_are_unchanged(tmp_path, small_config):
    plain_dir, streamed_dir = tmp_path / "a" / "runs" / "r", tmp_path / "b" / "runs" / "r"
    plain = qlop("run", "-c", str(small_config), "--run-dir", str(plain_dir), cwd=tmp_path)
    streamed = qlop(
        "--stream-to-ws",
        "nobody-listens",
        "--ws-url",
        f"ws://127.0.0.1:{_closed_port()}",
        "run",
        "-c",
        str(small_config),
        "--run-dir",
        str(streamed_dir),
        cwd=tmp_path,
        env=qlop_env(QLOP_WS_TOKEN=TOKEN),
    )
    assert plain.returncode == streamed.returncode == 0, streamed.stderr
    assert "unreachable" in streamed.stderr
    # Same results byte for byte (timings, timestamps and the exporter's random graph name aside).
    for rel in (
        "data.parquet",
        "features.parquet",
        "labels.parquet",
        "predictions.parquet",
        "folds.json",
        "model/model.json",
        "backtest/trades.parquet",
        "backtest/equity.parquet",
        "backtest/metrics.json",
    ):
        assert (plain_dir / rel).read_bytes() == (streamed_dir / rel).read_bytes(), rel
    import onnx

    graphs = []
    for run_dir in (plain_dir, streamed_dir):
        graph = onnx.load(str(run_dir / "export" / "model.onnx")).graph
        graph.name = ""
        graphs.append(graph.SerializeToString())
    assert graphs[0] == graphs[1]
    assert sorted(p.relative_to(plain_dir) for p in plain_dir.rglob("*") if p.name != "events.jsonl") == sorted(
        p.relative_to(streamed_dir) for p in streamed_dir.rglob("*") if p.name != "events.jsonl"
    )
    assert len(read_jsonl(streamed_dir / "events.jsonl")) > 10
