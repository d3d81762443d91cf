"""``qlop run`` / ``runs`` / ``ws`` command behaviour that needs no model: errors, data-only runs, listing."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from click.testing import CliRunner
from relayproc import QLOP_MAIN, TEST_TOKEN  # noqa: E402

from qlop.cli.main import cli
from qlop.live.protocol import read_events

DATA_ONLY = """
name = "data-only"
[data]
tickers = ["AAPL", "KO"]
start_date = 2010-01-01
end_date = 2011-12-31
"""


def invoke(*args, env=None):
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_a_bad_config_is_one_line_exit_2_and_creates_no_run_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.toml").write_text('[data]\ntickers = ["AAPL"]\nstart_date = 2012-01-01\nend_date = 2011-01-01\n')
    result = invoke("run", "-c", "bad.toml")
    assert result.exit_code == 2
    assert result.output.strip().startswith("Error: bad.toml: data")
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()


def test_a_bad_task_id_is_refused_before_running(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.toml").write_text(DATA_ONLY)
    result = invoke("--stream-to-ws", "../etc", "run", "-c", "c.toml")
    assert result.exit_code == 2 and "--stream-to-ws" in result.output
    assert not (tmp_path / "runs").exists()


def test_a_data_only_run_then_runs_list_and_show(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.toml").write_text(DATA_ONLY)
    first = invoke("run", "-c", "c.toml")
    assert first.exit_code == 0, first.output
    run_dirs = sorted((tmp_path / "runs").iterdir())
    assert len(run_dirs) == 1 and re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{8}", run_dirs[0].name)
    run_dir = run_dirs[0]
    assert (run_dir / "data.parquet").is_file()
    events = read_events(run_dir / "events.jsonl")
    assert events[0]["task_id"] == run_dir.name and events[-1]["payload"]["status"] == "completed"

    second = invoke("run", "-c", "c.toml")
    assert second.exit_code == 0 and "data      cached" in second.output

    listed = invoke("runs", "list")
    assert listed.exit_code == 0
    assert sum(1 for line in listed.output.splitlines() if "completed" in line) == 2
    as_json = json.loads(invoke("runs", "list", "--json").output)
    assert {r["stages"]["data"] for r in as_json} == {"completed", "cached"}

    shown = invoke("runs", "show", str(run_dir))
    assert shown.exit_code == 0
    assert "data.parquet" in shown.output and "qlop_contrib.datasources" in shown.output
    manifest = json.loads(invoke("runs", "show", str(run_dir), "--json").output)
    assert manifest["stages"]["features"]["status"] == "skipped"


def test_runs_show_of_a_non_run_dir_is_a_one_line_error(tmp_path):
    result = invoke("runs", "show", str(tmp_path))
    assert result.exit_code == 2 and "not a run directory" in result.output


def test_ws_tail_with_a_wrong_token_exits_non_zero(relay):
    proc = subprocess.run(
        [sys.executable, "-c", QLOP_MAIN, "ws", "tail", "t", "--ws-url", relay.url],
        capture_output=True,
        text=True,
        env={"QLOP_WS_TOKEN": "wrong", "PATH": "/usr/bin"},
        timeout=60,
    )
    assert proc.returncode == 2 and "401" in proc.stderr


def test_ws_tail_gives_up_when_no_relay_answers(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.run(
        [sys.executable, "-c", QLOP_MAIN, "ws", "tail", "t", "--ws-url", f"ws://127.0.0.1:{port}", "--wait", "0.5"],
        capture_output=True,
        text=True,
        env={"QLOP_WS_TOKEN": TEST_TOKEN, "PATH": "/usr/bin"},
        timeout=60,
    )
    assert proc.returncode == 1 and "unreachable" in proc.stderr


def test_ws_serve_generates_and_prints_a_token_when_none_is_set():
    proc = subprocess.Popen(
        [sys.executable, "-c", QLOP_MAIN, "ws", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"PATH": "/usr/bin"},
    )
    try:
        first = proc.stdout.readline()
        second = proc.stdout.readline()
        assert first.startswith("QLOP_WS_TOKEN=") and len(first.strip()) > len("QLOP_WS_TOKEN=") + 20
        assert "listening on ws://127.0.0.1:" in second
    finally:
        proc.terminate()
        assert proc.wait(10) == 0
        proc.stdout.close()
        proc.stderr.close()


def test_stage_summary_says_where_a_run_stopped():
    from qlop.cli.tables import stages_summary

    assert (
        stages_summary(
            {
                "data": "cached",
                "features": "completed",
                "train": "interrupted",
                "backtest": "pending",
                "export": "skipped",
            }
        )
        == "2/4 done (1 cached), train interrupted"
    )
    assert stages_summary({"data": "completed", "features": "skipped"}) == "1/1 done"


def _publish(url: str, events: list[dict]) -> None:
    import time

    from websockets.sync.client import connect

    with connect(
        f"{url}/publish/{events[0]['task_id']}",
        proxy=None,
        additional_headers={"Authorization": f"Bearer {TEST_TOKEN}"},
    ) as ws:
        for event in events:
            ws.send(json.dumps(event))
        time.sleep(0.2)


def _tail_events(task: str) -> list[dict]:
    from qlop.live.protocol import make_event

    payloads = [
        ("status", {"status": "started", "run_dir": "/runs/r", "stages": ["data", "train"]}),
        ("status", {"status": "stage_completed", "stage": "data", "seconds": 0.4, "run_fraction": 0.1}),
        ("status", {"status": "stage_started", "stage": "train"}),
        (
            "progress",
            {
                "stage": "train",
                "kind": "advance",
                "step": 3,
                "total": 3,
                "unit": "fold",
                "stage_fraction": 0.75,
                "run_fraction": 0.8,
                "eta_run_s": 1.0,
                "eta_stage_s": 1.0,
            },
        ),
        ("log", {"level": "INFO", "logger": "qlop", "message": "final model"}),
        ("status", {"status": "completed", "run_dir": "/runs/r", "seconds": 5.0}),
    ]
    return [make_event(task, i, t, p) for i, (t, p) in enumerate(payloads, start=1)]


def test_ws_tail_pretty_draws_bars_and_lines_and_json_keeps_the_raw_events(relay):
    events = _tail_events("pretty-1")
    _publish(relay.url, events)
    env = {"QLOP_WS_TOKEN": TEST_TOKEN, "PATH": "/usr/bin", "COLUMNS": "120"}
    base = [sys.executable, "-c", QLOP_MAIN, "ws", "tail", "pretty-1", "--ws-url", relay.url]
    pretty = subprocess.run([*base, "--format", "pretty"], capture_output=True, text=True, env=env, timeout=60)
    assert pretty.returncode == 0, pretty.stderr
    assert "INFO     final model" in pretty.stdout and "STATUS   data completed in 0.4s" in pretty.stdout
    assert "3/3 fold" in pretty.stdout and "100%" in pretty.stdout
    assert pretty.stdout.rstrip().endswith("pretty-1 completed in 5.0s: /runs/r")
    raw = subprocess.run(base, capture_output=True, text=True, env=env, timeout=60)  # piped: json by default
    assert raw.returncode == 0, raw.stderr
    assert [json.loads(line) for line in raw.stdout.splitlines()] == events
