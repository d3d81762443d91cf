"""``run_pipeline``: order, skipping, the content-hash cache, resume, manifests, hooks and events.

The stages are replaced by small runners that write real files through :mod:`qlop.atomic`, so these
tests pin the orchestration alone; tests/e2e runs the real stages.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from qlop import hookimpl
from qlop.atomic import atomic_dir, write_json, write_text
from qlop.config import config_from_data
from qlop.errors import StageError
from qlop.live.protocol import read_events
from qlop.live.session import RunSession
from qlop.plugins.manager import get_plugin_manager
from qlop.progress import stage_progress
from qlop.stages.pipeline import run_pipeline

BASE = {
    "name": "t",
    "data": {"data_source_type": "sample", "tickers": ["AAPL"]},
    "features": {"steps": [{"step_type": "returns", "step_params": {"windows": [1]}}]},
    "label": {"label_type": "leverage_opportunity"},
    "model": {"model_type": "xgboost"},
    "backtest": {"strategy_type": "probability_threshold", "leverage": 2.0},
    "export": {"format_name": "onnx"},
}


def cfg(**changes):
    data = json.loads(json.dumps(BASE))
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return config_from_data(data)


class FakeStages:
    """Runners that derive each artefact from the one upstream, and count their calls."""

    def __init__(self):
        self.calls = Counter()
        self.fail: dict[str, BaseException] = {}

    def _enter(self, stage):
        self.calls[stage] += 1
        if stage in self.fail:
            raise self.fail[stage]

    def data(self, config, run_dir):
        self._enter("data")
        with stage_progress("data", total=2, unit="ticker") as p:
            p.advance(message="AAPL")
            p.advance(message="MSFT")
        return {"data": write_text(run_dir / "data.txt", ",".join(config.data.tickers))}

    def features(self, config, run_dir):
        self._enter("features")
        base = (run_dir / "data.txt").read_text()
        steps = json.dumps(config.model_dump(mode="json")["features"])
        return {
            "features": write_text(run_dir / "features.txt", base + steps),
            "labels": write_text(run_dir / "labels.txt", base + "label"),
        }

    def train(self, config, run_dir):
        self._enter("train")
        with atomic_dir(run_dir / "model") as tmp:
            (tmp / "model.bin").write_text((run_dir / "features.txt").read_text())
        return {
            "model": run_dir / "model",
            "train_metrics": write_json(run_dir / "train_metrics.json", {"overall": {"auc": 0.61}}),
        }

    def backtest(self, config, run_dir):
        self._enter("backtest")
        metrics = {"sharpe": 1.25, "cagr": 0.1, "nested": {"win_rate": 0.5}, "label": "text is ignored"}
        return {
            "metrics": write_json(run_dir / "backtest" / "metrics.json", metrics),
            "report": write_text(run_dir / "backtest" / "report.html", f"<p>{config.backtest.leverage}</p>"),
        }

    def export(self, config, run_dir):
        self._enter("export")
        return {"onnx": write_text(run_dir / "export" / "model.onnx", (run_dir / "model" / "model.bin").read_text())}

    @property
    def runners(self):
        return {s: getattr(self, s) for s in ("data", "features", "train", "backtest", "export")}


def run(config, run_dir, fake, **kw):
    with RunSession(run_dir) as session:
        return run_pipeline(config, run_dir, observer=session, runners=fake.runners, **kw)


def test_a_full_run_writes_every_artefact_a_manifest_and_its_events(tmp_path):
    fake = FakeStages()
    run_dir = tmp_path / "runs" / "r1"
    result = run(cfg(), run_dir, fake)
    assert result.status == "completed"
    assert result.stages == {s: "completed" for s in ("data", "features", "train", "backtest", "export")}
    assert json.loads((run_dir / "config.json").read_text())["backtest"]["leverage"] == 2.0

    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "completed" and manifest["qlop_version"]
    assert manifest["libraries"]["pandas"] and manifest["libraries"]["websockets"]
    assert {"name": "qlop_contrib.models", "source": "builtin"}.items() <= {
        **next(p for p in manifest["plugins"] if p["name"] == "qlop_contrib.models")
    }.items()
    assert set(manifest["timings"]) == {"data", "features", "train", "backtest", "export"}
    features = manifest["stages"]["features"]
    assert features["inputs"] == {"data": manifest["stages"]["data"]["outputs"]["data"]["sha256"]}
    # the bundled plugins' code: their version, plus a hash of their files when QLOP is installed editable
    assert sorted(features["plugins"]) == ["qlop_contrib.features", "qlop_contrib.labels"]
    from qlop import __version__
    from qlop.plugins.fingerprint import is_editable

    for value in features["plugins"].values():
        if is_editable("qlop"):
            assert value.startswith(f"{__version__}+sha256:") and len(value) == len(__version__) + 72
        else:
            assert value == __version__
    assert manifest["stages"]["train"]["outputs"]["model"]["path"] == "model"
    assert manifest["outputs"]["onnx"] == manifest["stages"]["export"]["outputs"]["onnx"]["sha256"]

    events = read_events(run_dir / "events.jsonl")
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["payload"]["status"] == "started"
    assert events[-1]["type"] == "status" and events[-1]["payload"]["status"] == "completed"
    statuses = [(e["payload"]["status"], e["payload"].get("stage")) for e in events if e["type"] == "status"]
    assert ("stage_started", "train") in statuses and ("stage_completed", "export") in statuses
    artefacts = {e["payload"]["name"]: e["payload"]["path"] for e in events if e["type"] == "artifact_path"}
    assert Path(artefacts["report"]) == (run_dir / "backtest" / "report.html").resolve()
    metrics = {
        (e["payload"]["stage"], e["payload"]["name"]): e["payload"]["value"] for e in events if e["type"] == "metric"
    }
    assert metrics == {
        ("train", "overall.auc"): 0.61,
        ("backtest", "sharpe"): 1.25,
        ("backtest", "cagr"): 0.1,
        ("backtest", "nested.win_rate"): 0.5,
    }
    progress = [e["payload"] for e in events if e["type"] == "progress"]
    assert progress[0]["kind"] == "start" and progress[-1]["kind"] == "end"
    assert {"stage", "step", "total", "unit", "eta_stage_s", "eta_run_s", "run_fraction"} <= set(progress[-1])
    assert progress[-1]["eta_stage_s"] == 0.0 and progress[-1]["stage"] == "data"
    assert 0 < progress[-1]["run_fraction"] < 1  # data is one stage of five


def test_a_rerun_with_the_same_config_skips_every_finished_stage(tmp_path):
    fake = FakeStages()
    run_dir = tmp_path / "runs" / "r1"
    run(cfg(), run_dir, fake)
    result = run(cfg(), run_dir, fake)
    assert set(result.stages.values()) == {"cached"}
    assert sum(fake.calls.values()) == 5
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["attempts"] == 2 and manifest["stages"]["train"]["cached_from"] is None
    statuses = [e["payload"] for e in read_events(run_dir / "events.jsonl") if e["type"] == "status"]
    cached = [s for s in statuses if s["status"] == "stage_cached" and s["stage"] == "train"]
    assert len(cached) == 1 and 0 < cached[0]["run_fraction"] <= 1  # the overall bar moves past cached stages
    assert statuses[-1]["status"] == "completed"


def test_a_change_to_qlops_own_code_reruns_every_stage(tmp_path, monkeypatch):
    import qlop.runs

    fake = FakeStages()
    run_dir = tmp_path / "runs" / "r1"
    run(cfg(), run_dir, fake)
    monkeypatch.setattr(qlop.runs, "code_fingerprint", lambda: "an edited source tree")
    result = run(cfg(), run_dir, fake)
    assert set(result.stages.values()) == {"completed"}
    assert sum(fake.calls.values()) == 10


def test_the_source_hash_follows_code_edits_but_not_the_gui(tmp_path):
    from qlop.runs import source_tree_hash

    pkg = tmp_path / "pkg"
    (pkg / "stages").mkdir(parents=True)
    (pkg / "gui").mkdir()
    (pkg / "stages" / "train.py").write_text("X = 1\n")
    (pkg / "gui" / "app.py").write_text("Y = 1\n")
    before = source_tree_hash({"pkg": pkg})
    (pkg / "gui" / "app.py").write_text("Y = 2\n")
    assert source_tree_hash({"pkg": pkg}) == before
    (pkg / "stages" / "train.py").write_text("X = 2\n")
    assert source_tree_hash({"pkg": pkg}) != before


def test_a_new_run_dir_reuses_stages_of_an_earlier_run_in_the_same_runs_folder(tmp_path):
    fake = FakeStages()
    run(cfg(), tmp_path / "runs" / "a", fake)
    result = run(cfg(), tmp_path / "runs" / "b", fake)
    assert set(result.stages.values()) == {"cached"} and sum(fake.calls.values()) == 5
    for rel in ("data.txt", "model/model.bin", "backtest/report.html", "export/model.onnx"):
        assert (tmp_path / "runs" / "b" / rel).read_bytes() == (tmp_path / "runs" / "a" / rel).read_bytes()
    manifest = json.loads((tmp_path / "runs" / "b" / "manifest.json").read_text())
    assert manifest["stages"]["data"]["cached_from"].endswith("a")


def test_a_changed_feature_config_reruns_from_features_on(tmp_path):
    fake = FakeStages()
    run_dir = tmp_path / "runs" / "r"
    run(cfg(), run_dir, fake)
    result = run(cfg(features={"steps": [{"step_type": "returns", "step_params": {"windows": [5]}}]}), run_dir, fake)
    assert result.stages == {
        "data": "cached",
        "features": "completed",
        "train": "completed",
        "backtest": "completed",
        "export": "completed",
    }
    assert "[5]" in (run_dir / "export" / "model.onnx").read_text()


def test_a_changed_backtest_reruns_only_the_backtest(tmp_path):
    fake = FakeStages()
    run_dir = tmp_path / "runs" / "r"
    run(cfg(), run_dir, fake)
    backtest = dict(BASE["backtest"], leverage=3.0)
    result = run(cfg(backtest=backtest), run_dir, fake)
    assert result.stages == {
        "data": "cached",
        "features": "cached",
        "train": "cached",
        "backtest": "completed",
        "export": "cached",
    }
    assert (run_dir / "backtest" / "report.html").read_text() == "<p>3.0</p>"


def test_absent_sections_are_skipped_and_their_stale_artefacts_removed(tmp_path):
    fake = FakeStages()
    run_dir = tmp_path / "runs" / "r"
    run(cfg(), run_dir, fake)
    result = run(cfg(export=None, backtest=None), run_dir, fake)
    assert result.stages["export"] == "skipped" and result.stages["backtest"] == "skipped"
    assert not (run_dir / "export" / "model.onnx").exists()
    assert not (run_dir / "backtest" / "report.html").exists()
    assert (run_dir / "model" / "model.bin").exists()
    only_data = run(
        cfg(features=None, label=None, model=None, backtest=None, export=None), tmp_path / "runs" / "d", fake
    )
    assert only_data.stages == {
        "data": "cached",
        "features": "skipped",
        "train": "skipped",
        "backtest": "skipped",
        "export": "skipped",
    }


def test_a_tampered_artefact_is_not_trusted(tmp_path):
    fake = FakeStages()
    run_dir = tmp_path / "runs" / "r"
    run(cfg(), run_dir, fake)
    (run_dir / "features.txt").write_text("edited by hand")
    result = run(cfg(), run_dir, fake)
    assert result.stages["data"] == "cached" and result.stages["features"] == "completed"


def test_a_failing_stage_fails_the_run_and_the_rerun_resumes_there(tmp_path):
    fake = FakeStages()
    fake.fail["train"] = StageError("train: model 'xgboost' (plugin 'qlop_contrib.models' 0.1.0) failed: boom")
    run_dir = tmp_path / "runs" / "r"
    with pytest.raises(StageError):
        run(cfg(), run_dir, fake)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "failed" and "boom" in manifest["error"]
    assert manifest["stages"]["train"]["status"] == "failed"
    assert manifest["stages"]["backtest"]["status"] == "pending"
    last = read_events(run_dir / "events.jsonl")[-1]
    assert last["payload"]["status"] == "failed" and "boom" in last["payload"]["error"]
    del fake.fail["train"]
    result = run(cfg(), run_dir, fake)
    assert result.stages["features"] == "cached" and result.stages["train"] == "completed"
    assert fake.calls["features"] == 1 and fake.calls["train"] == 2


def test_an_interrupted_run_is_marked_and_resumes(tmp_path):
    fake = FakeStages()
    fake.fail["backtest"] = KeyboardInterrupt()
    run_dir = tmp_path / "runs" / "r"
    with pytest.raises(KeyboardInterrupt):
        run(cfg(), run_dir, fake)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    assert manifest["stages"]["backtest"]["status"] == "interrupted"
    last = read_events(run_dir / "events.jsonl")[-1]
    assert last["payload"] == {**last["payload"], "status": "failed", "interrupted": True}
    del fake.fail["backtest"]
    result = run(cfg(), run_dir, fake)
    assert [s for s, st in result.stages.items() if st == "cached"] == ["data", "features", "train"]
    seqs = [e["seq"] for e in read_events(run_dir / "events.jsonl")]
    assert seqs == list(range(1, len(seqs) + 1))  # one task, one sequence across both attempts


def test_force_reruns_everything(tmp_path):
    fake = FakeStages()
    run(cfg(), tmp_path / "r", fake)
    result = run(cfg(), tmp_path / "r", fake, force=True)
    assert set(result.stages.values()) == {"completed"}


class Observer:
    def __init__(self):
        self.calls = []

    @hookimpl
    def qlop_before_stage(self, stage, run_dir, config):
        self.calls.append(("before", stage, config["name"]))

    @hookimpl
    def qlop_after_stage(self, stage, run_dir, outputs, seconds):
        self.calls.append(("after", stage, sorted(outputs)))
        assert all(Path(p).exists() for p in outputs.values()) and seconds >= 0

    @hookimpl
    def qlop_on_stage_error(self, stage, run_dir, error):
        self.calls.append(("error", stage, str(error)))


def test_observer_hooks_see_executed_stages_and_errors(tmp_path):
    pm = get_plugin_manager()
    observer = Observer()
    pm.register(observer, name="test-observer")
    fake = FakeStages()
    fake.fail["backtest"] = StageError("backtest: no trades")
    with pytest.raises(StageError):
        run(cfg(export=None), tmp_path / "r", fake)
    assert observer.calls == [
        ("before", "data", "t"),
        ("after", "data", ["data"]),
        ("before", "features", "t"),
        ("after", "features", ["features", "labels"]),
        ("before", "train", "t"),
        ("after", "train", ["model", "train_metrics"]),
        ("before", "backtest", "t"),
        ("error", "backtest", "backtest: no trades"),
    ]


def test_a_broken_observer_does_not_stop_the_run(tmp_path):
    class Broken:
        @hookimpl
        def qlop_after_stage(self, stage, run_dir, outputs, seconds):
            raise RuntimeError("observer bug")

    get_plugin_manager().register(Broken(), name="broken-observer")
    result = run(cfg(model=None, backtest=None, export=None), tmp_path / "r", FakeStages())
    assert result.status == "completed"
    logs = [e["payload"]["message"] for e in read_events(tmp_path / "r" / "events.jsonl") if e["type"] == "log"]
    assert any("observer bug" in m for m in logs)
