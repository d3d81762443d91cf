"""The one progress model: measured stage weights, an overall fraction and ETAs that agree."""

from __future__ import annotations

import io
import json

import pytest

from qlop.live.progress_model import DEFAULT_STAGE_SECONDS, RunClock, RunState, measured_stage_seconds
from qlop.live.protocol import make_event
from qlop.live.tail import outcome_line, tail_pretty
from qlop.progress import ProgressUpdate


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def update(stage, kind, step, total, started=0.0, extra_total=0, extra_done=0, unit="fold"):
    return ProgressUpdate(kind, stage, step, total, unit, started, extra_total=extra_total, extra_done=extra_done)


def test_the_overall_fraction_is_elapsed_over_elapsed_plus_eta_and_the_run_eta_covers_the_stage_eta():
    t = FakeClock()
    clock = RunClock({"data": 1.0, "train": 8.0, "backtest": 1.0}, clock=t)
    clock.plan(["data", "train", "backtest"])
    clock.stage_started("data")
    t.now = 1.0
    clock.stage_done("data", 1.0)  # exactly as measured: speed stays 1
    clock.stage_started("train")
    clock.observe(update("train", "start", 0, 4, started=1.0, extra_total=1))
    t.now = 3.0
    clock.observe(update("train", "advance", 1, 4, started=1.0, extra_total=1))
    snap = clock.snapshot()
    assert snap["stage_fraction"] == pytest.approx(1 / 5)  # 1 of 4 folds + the final model
    # blend of the plan (8 s - 2 s elapsed = 6 s) and the linear estimate (2 s x 4 = 8 s), by the fraction
    assert snap["eta_stage_s"] == pytest.approx(0.2 * 8.0 + 0.8 * 6.0)
    assert snap["eta_run_s"] == pytest.approx(snap["eta_stage_s"] + 1.0)  # + backtest's measured second
    assert snap["run_fraction"] == pytest.approx(3.0 / (3.0 + snap["eta_run_s"]), abs=1e-4)


def test_sub_progress_refines_the_current_item_and_never_the_counter():
    t = FakeClock()
    clock = RunClock({"train": 10.0}, clock=t)
    clock.plan(["train"])
    clock.stage_started("train")
    clock.observe(update("train", "advance", 2, 4, extra_total=1))
    clock.observe(update("train.rounds", "start", 0, 100, unit="round"))
    clock.observe(update("train.rounds", "advance", 50, 100, unit="round"))
    assert clock.stage_fraction() == pytest.approx((2 + 0.5) / 5)
    clock.observe(update("train", "advance", 3, 4, extra_total=1))  # next fold: its rounds start over
    assert clock.stage_fraction() == pytest.approx(3 / 5)


def test_the_fraction_never_goes_back_and_is_whole_only_at_the_end():
    t = FakeClock()
    clock = RunClock({"train": 1.0}, clock=t)
    clock.plan(["train"])
    clock.stage_started("train")
    seen = []
    for step in range(1, 5):
        t.now += 5.0 if step == 3 else 0.1  # one slow fold makes the estimate jump up
        clock.observe(update("train", "advance", step, 10))
        seen.append(clock.snapshot()["run_fraction"])
    assert seen == sorted(seen) and seen[-1] < 1.0
    clock.observe(update("train", "end", 10, 10))
    assert clock.snapshot()["run_fraction"] == 1.0 and clock.snapshot()["eta_run_s"] == 0.0


def test_a_stage_that_overruns_its_plan_is_never_due_now():
    t = FakeClock()
    clock = RunClock({"backtest": 2.0}, clock=t)
    clock.plan(["backtest"])
    clock.stage_started("backtest")
    t.now = 8.0  # four times its measured cost, no progress call in between
    assert clock.snapshot()["eta_stage_s"] == pytest.approx(2.0)  # a quarter of its time so far


def test_stage_costs_are_measured_from_earlier_runs_of_the_same_config_first(tmp_path):
    def manifest(name, config_hash, train_seconds, status="completed"):
        run = tmp_path / name
        run.mkdir()
        (run / "manifest.json").write_text(
            json.dumps(
                {
                    "name": "quick",
                    "config_hash": config_hash,
                    "stages": {
                        "train": {"status": status, "seconds": train_seconds},
                        "data": {"status": "cached", "seconds": 9},
                    },
                }
            )
        )

    manifest("a", "same", 42.0)
    manifest("b", "other", 7.0)
    manifest("c", "same", 99.0, status="failed")
    seconds = measured_stage_seconds(tmp_path, "same", "quick")
    assert seconds["train"] == 42.0  # same config beats a newer run of another config; failed runs not measured
    assert seconds["data"] == DEFAULT_STAGE_SECONDS["data"]  # a cached stage measures nothing
    assert measured_stage_seconds(tmp_path / "none") == DEFAULT_STAGE_SECONDS


def _events(task="t"):
    payloads = [
        ("status", {"status": "started", "run_dir": "/runs/x", "stages": ["data", "train"]}),
        ("status", {"status": "stage_started", "stage": "data", "run_fraction": 0.0, "eta_run_s": 9.0}),
        (
            "progress",
            {
                "stage": "data",
                "kind": "end",
                "step": 3,
                "total": 3,
                "unit": "ticker",
                "run_fraction": 0.1,
                "eta_run_s": 8.0,
                "eta_stage_s": 0.0,
            },
        ),
        ("status", {"status": "stage_completed", "stage": "data", "seconds": 0.5, "run_fraction": 0.1}),
        ("status", {"status": "stage_started", "stage": "train"}),
        (
            "progress",
            {
                "stage": "train",
                "kind": "advance",
                "step": 2,
                "total": 4,
                "unit": "fold",
                "stage_fraction": 0.4,
                "run_fraction": 0.5,
                "eta_run_s": 4.0,
                "eta_stage_s": 4.0,
                "message": "fold 2/4 (2009-01-02 .. 2009-12-31)",
            },
        ),
        (
            "progress",
            {
                "stage": "train.rounds",
                "kind": "advance",
                "step": 10,
                "total": 30,
                "unit": "round",
                "run_fraction": 0.55,
                "eta_run_s": 3.5,
                "eta_stage_s": 0.4,
            },
        ),
    ]
    return [make_event(task, seq, t, p) for seq, (t, p) in enumerate(payloads, start=1)]


def test_the_state_takes_the_fraction_etas_and_counters_from_the_events():
    state = RunState()
    for event in _events():
        state.apply(event)
    train = state.stages["train"]
    assert (train.counter, train.fraction, train.eta) == ("2/4 fold", 0.4, 4.0)
    assert state.stages["data"].counter == "3/3 ticker" and state.stages["data"].seconds == 0.5
    assert state.overall == 0.55 and state.eta == 3.5 and state.status == "running: train"
    assert [s.name for s in state.ordered_stages()] == ["data", "train", "train.rounds"]


def test_between_events_the_run_moves_on_at_the_pace_its_eta_implies():
    state = RunState()
    for event in _events():
        state.apply(event)
    sent = state.figures_at
    assert sent is not None and state.overall == 0.55 and state.eta == 3.5
    assert state.at(sent) == (0.55, 3.5)
    elapsed = 0.55 * 3.5 / 0.45  # the elapsed time those figures imply
    fraction, eta = state.at(sent + 1.0)
    assert eta == pytest.approx(2.5)
    assert fraction == pytest.approx((elapsed + 1.0) / (elapsed + 1.0 + 2.5))
    assert state.at(sent + 60.0) == (0.99, 0.0)  # an overdue run waits at 99% for its final status
    assert state.at(sent - 5.0)[0] == 0.99  # never below a fraction shown before
    fresh = RunState()
    for event in _events():
        fresh.apply(event)
    assert fresh.at(sent - 5.0)[0] == 0.55  # nor below the last figures
    state.apply(make_event("t", 9, "status", {"status": "completed", "seconds": 5.0}))
    assert state.at(sent + 1.0) == (1.0, 0.0)


def test_a_failed_run_names_its_stage_and_error():
    events = _events() + [
        make_event("t", 8, "status", {"status": "stage_failed", "stage": "train", "error": "DataError: x"}),
        make_event("t", 9, "status", {"status": "failed", "error": "DataError: x", "seconds": 3.0}),
    ]
    state = RunState()
    for event in events:
        state.apply(event)
    assert state.finished and state.failed_stage == "train"
    assert outcome_line(state, "t") == "t failed in stage train in 3.0s: DataError: x"


def test_tail_pretty_prints_log_lines_and_the_bars():
    events = _events() + [make_event("t", 8, "status", {"status": "completed", "run_dir": "/runs/x", "seconds": 4.0})]
    out = io.StringIO()
    state = tail_pretty(events, "t", file=out)
    text = out.getvalue()
    assert "STATUS   data completed in 0.5s" in text and "STATUS   run completed in 4.0s" in text
    assert "4/4 fold" in text and "100%" in text and "t completed in 4.0s: /runs/x" in text
    assert state.finished and max(len(line) for line in text.splitlines()) <= 120
