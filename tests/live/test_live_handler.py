"""The publisher never blocks or fails its caller; logging and progress become events."""

from __future__ import annotations

import logging
import socket

from relayproc import TEST_TOKEN as TOKEN  # noqa: E402

from qlop.live.client import subscribe
from qlop.live.events import EventRecorder
from qlop.live.handler import EventLogHandler, RelayPublisher
from qlop.live.protocol import read_events
from qlop.live.session import RunSession
from qlop.progress import stage_progress


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_with_no_relay_publishing_never_blocks_and_close_gives_up(tmp_path):
    warnings = []
    publisher = RelayPublisher(f"ws://127.0.0.1:{_closed_port()}", "t", TOKEN, warn=warnings.append)
    rec = EventRecorder("t", tmp_path / "e.jsonl", sinks=[publisher])
    for i in range(5000):
        rec.emit("log", {"message": f"m{i}"})
    rec.status("completed")
    assert publisher.close(timeout=2.0) is False
    assert not publisher._thread.is_alive()
    assert publisher.dropped == 0 and publisher.acked == 0
    assert len(warnings) == 1 and "unreachable" in warnings[0]  # one line, not one per retry
    assert len(read_events(tmp_path / "e.jsonl")) == 5001


def test_a_refused_token_stops_streaming_with_one_warning(relay):
    warnings = []
    publisher = RelayPublisher(relay.url, "t", "wrong-token", warn=warnings.append)
    rec = EventRecorder("t", None, sinks=[publisher])
    rec.emit("log", {"message": "x"})
    rec.status("completed")
    assert publisher.close(timeout=2.0) is False
    assert publisher.refused == "HTTP 401"
    assert len(warnings) == 1 and "401" in warnings[0]


def test_close_waits_for_the_final_status_to_be_acknowledged(relay):
    publisher = RelayPublisher(relay.url, "ack", TOKEN)
    rec = EventRecorder("ack", None, sinks=[publisher])
    for i in range(300):
        rec.emit("progress", {"stage": "train", "step": i, "total": 300})
    rec.status("completed")
    assert publisher.close(timeout=5.0) is True
    assert publisher.acked == 301
    seqs = [e["seq"] for e in subscribe(relay.url, "ack", TOKEN)]
    assert seqs == list(range(1, 302))


def test_info_records_of_the_qlop_logger_become_log_events(tmp_path):
    rec = EventRecorder("t", tmp_path / "e.jsonl")
    logger = logging.getLogger("qlop.test")
    handler = EventLogHandler(rec)
    root = logging.getLogger("qlop")
    old = root.level
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    try:
        logger.debug("not recorded")
        logger.info("fold %d of %d", 3, 10)
        try:
            raise ValueError("bad")
        except ValueError:
            logger.exception("failed")
    finally:
        root.removeHandler(handler)
        root.setLevel(old)
    rec.close()
    payloads = [e["payload"] for e in read_events(tmp_path / "e.jsonl")]
    assert payloads[0] == {"level": "INFO", "logger": "qlop.test", "message": "fold 3 of 10"}
    assert payloads[1]["level"] == "ERROR" and payloads[1]["error"] == "ValueError: bad"
    assert len(payloads) == 2


def test_a_session_always_ends_with_a_final_status_and_nothing_after_it(tmp_path):
    try:
        with RunSession(tmp_path / "run") as session:
            session.run_started(tmp_path / "run", ["data"], {})
            with stage_progress("data", total=3) as p:
                p.advance()
            raise RuntimeError("crash outside the pipeline")
    except RuntimeError:
        pass
    events = read_events(tmp_path / "run" / "events.jsonl")
    assert events[-1]["payload"]["status"] == "failed"
    assert "crash outside the pipeline" in events[-1]["payload"]["error"]
    assert sum(1 for e in events if e["type"] == "status" and e["payload"]["status"] in ("completed", "failed")) == 1


def test_progress_events_are_throttled_but_keep_start_last_step_and_end(tmp_path):
    with RunSession(tmp_path / "run", progress_interval=60.0) as session:
        session.run_started(tmp_path / "run", ["train"], {})
        session.stage_started("train")
        with stage_progress("train", total=1000, unit="tree") as p:
            for _ in range(1000):
                p.advance()
        session.stage_finished("train", 1.0)
    progress = [e["payload"] for e in read_events(tmp_path / "run" / "events.jsonl") if e["type"] == "progress"]
    assert [(p["kind"], p["step"]) for p in progress] == [("start", 0), ("advance", 1000), ("end", 1000)]
    assert progress[-1]["run_fraction"] == 1.0 and progress[-1]["eta_run_s"] == 0.0
    assert progress[-1]["unit"] == "tree" and progress[-1]["pipeline_stage"] == "train"


def test_the_counter_reaching_its_total_is_sent_even_with_extra_work_following(tmp_path):
    """Folds that complete together on a cluster, then a quick final model: the events still show 5/5."""
    with RunSession(tmp_path / "run", progress_interval=60.0) as session:
        session.run_started(tmp_path / "run", ["train"], {})
        session.stage_started("train")
        with stage_progress("train", total=5, unit="fold", extra_work=1) as p:
            for _ in range(5):
                p.advance()
            p.advance(0, message="final model (every row)")
            p.work(message="final model done")
        session.stage_finished("train", 1.0)
    progress = [e["payload"] for e in read_events(tmp_path / "run" / "events.jsonl") if e["type"] == "progress"]
    advances = [(p["step"], p.get("message")) for p in progress if p["kind"] == "advance"]
    assert advances == [(5, None), (5, "final model done")]
