"""The live side against a real relay (`qlop ws serve`): the subscriber thread and the Live run page."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from qlop.cli.gui import free_port, is_up
from qlop.gui.launcher import QLOP_ARGV
from qlop.gui.live import summarize
from qlop.gui.subscriber import Subscriber
from qlop.live.protocol import make_event

TOKEN = "test-token-7f3a9c"


class Relay:
    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"ws://127.0.0.1:{port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> "Relay":
        env = {**os.environ, "QLOP_WS_TOKEN": TOKEN}
        self.process = subprocess.Popen(
            [*QLOP_ARGV, "ws", "serve", "--port", str(self.port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while not is_up(f"http://127.0.0.1:{self.port}/healthz"):
            assert self.process.poll() is None and time.monotonic() < deadline, "relay did not start"
            time.sleep(0.1)
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@pytest.fixture
def relay() -> Iterator[Relay]:
    r = Relay(free_port()).start()
    yield r
    r.stop()


def run_events(task_id: str, n_folds: int = 4) -> list[dict]:
    """The event sequence of a small run, shaped as `qlop run` emits it."""
    payloads = [
        ("status", {"status": "started", "run_dir": "/runs/x", "stages": ["data", "train"]}),
        ("status", {"status": "stage_started", "stage": "data"}),
        ("log", {"level": "INFO", "logger": "qlop", "message": "loaded 2 tickers"}),
        ("status", {"status": "stage_completed", "stage": "data", "seconds": 0.5}),
        ("status", {"status": "stage_started", "stage": "train"}),
    ]
    for i in range(1, n_folds + 1):
        payloads.append(
            (
                "progress",
                {
                    "stage": "train",
                    "kind": "advance",
                    "step": i,
                    "total": n_folds,
                    "unit": "fold",
                    "eta_stage_s": 2.0 * (n_folds - i),
                    "run_fraction": 0.2 + 0.8 * i / n_folds,
                    "eta_run_s": 2.0 * (n_folds - i),
                },
            )
        )
        payloads.append(("log", {"level": "INFO", "logger": "qlop", "message": f"fold {i} done"}))
    payloads += [
        ("metric", {"stage": "train", "name": "overall.auc", "value": 0.56}),
        ("status", {"status": "stage_completed", "stage": "train", "seconds": 3.0}),
        ("status", {"status": "completed", "run_dir": "/runs/x", "seconds": 4.0}),
    ]
    return [make_event(task_id, seq, t, p) for seq, (t, p) in enumerate(payloads, start=1)]


def publish(relay: Relay, events: list[dict]) -> None:
    from websockets.sync.client import connect

    with connect(
        f"{relay.url}/publish/{events[0]['task_id']}",
        proxy=None,
        additional_headers={"Authorization": f"Bearer {TOKEN}"},
    ) as ws:
        for event in events:
            ws.send(json.dumps(event))
        time.sleep(0.2)  # let the relay take them in before closing


def wait_for(predicate, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_subscriber_gets_every_event_in_order_and_stops_at_the_final_status(relay: Relay):
    events = run_events("task-a")
    sub = Subscriber(relay.url, "task-a", TOKEN).start()
    wait_for(lambda: sub.connected)
    publish(relay, events[:6])
    wait_for(lambda: len(sub.snapshot().events) == 6)
    assert not sub.finished
    publish(relay, events)  # a publisher resending after a reconnect: duplicates are dropped
    wait_for(lambda: sub.finished)
    sub.join(5)
    assert not sub.alive
    assert [e["seq"] for e in sub.snapshot().events] == list(range(1, len(events) + 1))


def test_late_subscriber_replays_the_whole_task(relay: Relay):
    events = run_events("task-b")
    publish(relay, events)
    sub = Subscriber(relay.url, "task-b", TOKEN).start()
    wait_for(lambda: sub.finished)
    assert sub.snapshot().events == events


def test_wrong_token_is_refused_and_not_retried(relay: Relay):
    sub = Subscriber(relay.url, "task-c", "wrong").start()
    sub.join(10)
    assert not sub.alive
    assert sub.error == "the relay refused the subscription (HTTP 401)"
    assert sub.snapshot().events == []


def test_subscriber_resumes_after_a_relay_restart(relay: Relay):
    events = run_events("task-d")
    sub = Subscriber(relay.url, "task-d", TOKEN).start()
    publish(relay, events[:5])
    wait_for(lambda: len(sub.snapshot().events) == 5)
    relay.stop()
    wait_for(lambda: not sub.connected)
    relay.start()  # a fresh relay knows nothing: the publisher resends its history
    publish(relay, events)
    wait_for(lambda: sub.finished)
    assert [e["seq"] for e in sub.snapshot().events] == list(range(1, len(events) + 1))


def test_summary_of_a_run():
    view = summarize(run_events("t"))
    assert view.status == "completed" and view.finished and view.overall == 1.0
    assert [(s.name, s.state, s.step, s.total) for s in view.stages.values()] == [
        ("data", "completed", 0, None),
        ("train", "completed", 4, 4),
    ]
    assert view.log[0].endswith("STATUS   run started")
    assert view.log[-1].endswith("STATUS   run completed in 4.0s")
    assert any(line.endswith("METRIC   overall.auc = 0.56") for line in view.log)
    partial = summarize(run_events("t")[:8])
    assert partial.status == "running: train" and not partial.finished
    assert partial.overall == pytest.approx(0.6) and partial.eta == 4.0
    failed = run_events("t")[:-1] + [
        make_event("t", 99, "status", {"status": "failed", "error": "StageError: x", "interrupted": True})
    ]
    assert summarize(failed).status == "cancelled" and summarize(failed).error == "StageError: x"


def live_page() -> None:
    from qlop.gui.views import live_page

    live_page.render()


def element_texts(at: AppTest) -> str:
    """Every element's message as sent to the browser (labels, values, bodies, help texts)."""
    out: list[str] = []

    def walk(node) -> None:  # type: ignore[no-untyped-def]
        proto = getattr(node, "proto", None)
        if proto is not None:
            out.append(str(proto))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return "\n".join(out)


def test_live_page_follows_a_task_until_completed(relay: Relay, monkeypatch, tmp_path: Path):
    monkeypatch.setenv("QLOP_GUI_WS_URL", relay.url)
    monkeypatch.setenv("QLOP_WS_TOKEN", TOKEN)
    monkeypatch.setenv("QLOP_GUI_RUNS_DIR", str(tmp_path))
    events = run_events("task-live")
    at = AppTest.from_function(live_page, default_timeout=30)
    at.query_params["task"] = "task-live"
    at.run()
    assert "(no log yet)" in at.code[0].value
    publish(relay, events[:8])
    deadline = time.monotonic() + 20
    while "fold 1 done" not in at.code[0].value:
        assert time.monotonic() < deadline
        time.sleep(0.2)
        at.run()  # AppTest does not tick run_every: rerun by hand
    bars = [p.value for p in at.get("progress")]
    assert 60 <= bars[0] < 100  # overall (AppTest reports 0-100): 60% when sent, moving on since
    assert "Status:** `running: train`" in at.markdown[1].value
    publish(relay, events)
    while "run completed" not in at.code[0].value:
        assert time.monotonic() < deadline
        time.sleep(0.2)
        at.run()
    at.run()
    assert [p.value for p in at.get("progress")][:3] == [100, 100, 100]
    assert "`completed`" in at.markdown[1].value
    log = at.code[0].value.splitlines()
    assert len(log) == len([e for e in events if e["type"] != "progress"])
    assert "fold 4 done" in element_texts(at) and TOKEN not in element_texts(at)


CANCEL_CONFIG = """
name = "cancel-me"
[data]
tickers = ["AAPL", "MSFT", "JPM", "KO", "XOM", "IBM"]
start_date = "2002-01-01"
end_date = "2016-12-31"
[features]
steps = [{step_type = "returns"}, {step_type = "rsi"}]
[label]
label_type = "leverage_opportunity"
[model]
model_type = "xgboost"
[model.validation]
test_months = 3
"""


@pytest.mark.slow
def test_cancel_button_stops_a_real_run_cleanly(relay: Relay, monkeypatch, tmp_path: Path):
    """Cancel mid-train: the run exits as interrupted, no partial artefact, final status on screen."""
    from qlop.gui.configs import validate_text, write_config
    from qlop.gui.state import task_registry
    from qlop.live.protocol import read_events
    from qlop.runs import leftover_temp_files

    monkeypatch.setenv("QLOP_GUI_WS_URL", relay.url)
    monkeypatch.setenv("QLOP_WS_TOKEN", TOKEN)
    config = write_config(validate_text(CANCEL_CONFIG, "toml"), tmp_path / "cancel.json")
    run_dir = tmp_path / "runs" / "cancelled"
    task = task_registry().launch(config, run_dir, relay.url, TOKEN, task_id="cancel-task")
    at = AppTest.from_function(live_page, default_timeout=30)
    at.query_params["task"] = "cancel-task"
    at.run()
    deadline = time.monotonic() + 120
    while "train started" not in at.code[0].value:
        assert time.monotonic() < deadline and task.running, at.code[0].value
        time.sleep(0.3)
        at.run()
    at.button(key="cancel").click().run()
    assert task.cancel_requested
    while "run failed" not in at.code[0].value:
        assert time.monotonic() < deadline, at.code[0].value
        time.sleep(0.3)
        at.run()
    assert task.process.wait(timeout=30) == 130  # SIGINT was enough
    at.run()
    assert "`cancelled`" in at.markdown[1].value
    final = read_events(run_dir / "events.jsonl")[-1]
    assert final["payload"]["status"] == "failed" and final["payload"]["interrupted"] is True
    assert leftover_temp_files(run_dir) == []
    assert not (run_dir / "predictions.parquet").exists()  # train never half-finished
    assert not at.get("button") or all(b.key != "cancel" for b in at.button)


def test_live_page_reads_a_finished_task_from_its_run_dir_when_the_relay_forgot_it(
    relay: Relay, monkeypatch, tmp_path: Path
):
    """After a GUI restart the relay may have dropped the task: the run's events.jsonl still has it."""
    from qlop.gui.launcher import find_run_dir

    monkeypatch.setenv("QLOP_GUI_WS_URL", relay.url)
    monkeypatch.setenv("QLOP_WS_TOKEN", TOKEN)
    monkeypatch.setenv("QLOP_GUI_RUNS_DIR", str(tmp_path))
    task_id = "0123456789abcdef"
    run_dir = tmp_path / "20240101-000000-01234567"
    run_dir.mkdir()
    events = run_events(task_id)
    (run_dir / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    assert find_run_dir(tmp_path, task_id) == run_dir
    assert find_run_dir(tmp_path, "../etc") is None
    at = AppTest.from_function(live_page, default_timeout=30)
    at.query_params["task"] = task_id
    at.run()
    at.run()
    assert "`completed`" in at.markdown[1].value
    assert len(at.code[0].value.splitlines()) == len([e for e in events if e["type"] != "progress"])


def test_live_page_rejects_a_malformed_task_id(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("QLOP_GUI_RUNS_DIR", str(tmp_path))
    at = AppTest.from_function(live_page, default_timeout=30)
    at.query_params["task"] = "`x`/../<b>"
    at.run()
    assert at.error[0].value.startswith("Invalid task id in the URL")
    assert not at.code
