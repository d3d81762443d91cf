"""The event envelope, the JSONL log and the recorder's numbering."""

from __future__ import annotations

import json

import pytest

from qlop.live.events import EventRecorder
from qlop.live.protocol import (
    MAX_EVENT_BYTES,
    decode,
    encode,
    is_final,
    make_event,
    read_events,
    valid_task_id,
)


def test_envelope_has_the_protocol_fields_and_roundtrips():
    event = make_event("task-1", 7, "progress", {"stage": "train", "step": 3, "total": 10})
    assert set(event) == {"v", "task_id", "seq", "timestamp_utc", "type", "payload"}
    assert event["timestamp_utc"].endswith("Z")
    assert decode(encode(event)) == event


@pytest.mark.parametrize(
    "bad",
    [
        "not json",
        "[]",
        '{"v":1}',
        '{"v":1,"task_id":"t","seq":0,"timestamp_utc":"x","type":"log","payload":{}}',
        '{"v":1,"task_id":"t","seq":1,"timestamp_utc":"x","type":"chat","payload":{}}',
        '{"v":1,"task_id":"t","seq":true,"timestamp_utc":"x","type":"log","payload":{}}',
    ],
)
def test_decode_rejects_malformed_events(bad):
    with pytest.raises(ValueError):
        decode(bad)


def test_unknown_type_is_refused_at_creation():
    with pytest.raises(ValueError, match="unknown event type"):
        make_event("t", 1, "chat", {})


def test_oversized_event_is_cut_to_fit_the_relay_limit():
    event = make_event("t", 1, "log", {"level": "ERROR", "message": "x" * 500_000})
    text = encode(event)
    assert len(text.encode()) <= MAX_EVENT_BYTES
    back = decode(text)
    assert back["payload"]["truncated"] is True and back["payload"]["level"] == "ERROR"
    assert back["seq"] == 1


@pytest.mark.parametrize(
    "task_id,ok", [("abc-1_2.x", True), ("", False), ("a/b", False), ("..", False), ("x" * 129, False), ("a b", False)]
)
def test_task_ids_are_url_and_file_safe(task_id, ok):
    assert valid_task_id(task_id) is ok


def test_final_status_detection():
    assert is_final(make_event("t", 1, "status", {"status": "completed"}))
    assert is_final(make_event("t", 1, "status", {"status": "failed", "error": "boom"}))
    assert not is_final(make_event("t", 1, "status", {"status": "stage_completed", "stage": "data"}))
    assert not is_final(make_event("t", 1, "log", {"status": "completed"}))


def test_recorder_numbers_logs_and_fans_out(tmp_path):
    seen = []
    rec = EventRecorder("run-a", tmp_path / "events.jsonl", sinks=[lambda e, t: seen.append((e["seq"], t))])
    for i in range(5):
        rec.emit("log", {"message": f"m{i}"})
    rec.close()
    events = read_events(tmp_path / "events.jsonl")
    assert [e["seq"] for e in events] == [1, 2, 3, 4, 5]
    assert [s for s, _ in seen] == [1, 2, 3, 4, 5]
    assert [json.loads(t) for _, t in seen] == events


def test_a_failing_sink_never_reaches_the_caller(tmp_path):
    def broken(event, text):
        raise RuntimeError("viewer gone")

    rec = EventRecorder("t", tmp_path / "e.jsonl", sinks=[broken])
    assert rec.emit("log", {"message": "still recorded"})["seq"] == 1
    rec.close()
    assert len(read_events(tmp_path / "e.jsonl")) == 1


def test_a_resumed_task_continues_its_sequence_after_a_torn_line(tmp_path):
    path = tmp_path / "events.jsonl"
    rec = EventRecorder("t", path)
    rec.emit("status", {"status": "started"})
    rec.emit("status", {"status": "failed", "error": "interrupted (SIGINT)"})
    rec.close()
    with open(path, "a", encoding="utf-8") as fh:
        fh.write('{"v":1,"task_id":"t","seq":3,"timest')  # a hard kill mid-line
    rec = EventRecorder("t", path)
    assert rec.emit("status", {"status": "started"})["seq"] == 3
    other = EventRecorder("other-task", path)
    assert other.emit("log", {"message": "x"})["seq"] == 1
    rec.close()
    other.close()
    events = read_events(path, "t")
    assert [e["seq"] for e in events] == [1, 2, 3]
    assert all(
        line.startswith("{") for line in path.read_text().splitlines() if line.strip() and '"seq":3,"timest' not in line
    )


def test_nothing_is_recorded_after_close(tmp_path):
    rec = EventRecorder("t", tmp_path / "e.jsonl")
    rec.close()
    assert rec.emit("log", {"message": "late"}) is None
