"""The Sweeps page with Streamlit's AppTest: the launch form validates every variant as ``qlop sweep`` does;
watching a sweep, the grid over two axes fills in from its events and ``sweep.json``, and a finished
variant's run page is one link away (the Runs page lists a sweep's variant runs with ``?sweep=``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from qlop.errors import ConfigError
from qlop.gui import sweeps

TIMEOUT = 60
BASE = """
name = "gui-sweep"
seed = 7
[data]
data_source_type = "sample"
tickers = ["AAPL", "MSFT"]
start_date = 2008-01-01
end_date = 2012-12-31
[features]
steps = [{ step_type = "returns", step_params = { windows = [1, 5] } }]
[label]
label_type = "leverage_opportunity"
label_params = { leverage = 2.0, horizon = 5 }
[model]
model_type = "xgboost"
model_params = { n_estimators = 10, nthread = 1 }
validation = { train_years = 2.0, test_months = 12, embargo_days = 5 }
[backtest]
strategy_type = "probability_threshold"
strategy_params = { entry = 0.55 }
"""


def sweeps_page() -> None:
    from qlop.gui.views import sweeps_page

    sweeps_page.render()


def runs_page() -> None:
    from qlop.gui.views import runs_page

    runs_page.render()


def _event(seq: int, type_: str, payload: dict) -> dict:
    return {
        "v": 1,
        "task_id": "sweep-t1",
        "seq": seq,
        "timestamp_utc": f"2026-01-01T00:00:{seq:02d}Z",
        "type": type_,
        "payload": payload,
    }


def write_sweep_dir(runs_dir: Path, make_run_dir, name: str = "lev") -> Path:
    """A 2 x 2 sweep as ``qlop sweep`` leaves it while running: sweep.json written at the start (every
    variant pending), then events; v001 finished with a run directory, v002 failed, v003 running."""
    root = runs_dir / "sweeps" / name
    (root / "runs").mkdir(parents=True)
    variants = []
    for i, (lev, entry) in enumerate([(1.5, 0.52), (1.5, 0.55), (2.0, 0.52), (2.0, 0.55)], 1):
        variants.append(
            {
                "id": f"v00{i}",
                "values": {"label.label_params.leverage": lev, "backtest.strategy_params.entry": entry},
                "run_dir": str(root / "runs" / f"v00{i}-abc"),
                "status": "pending",
                "metrics": {},
            }
        )
    summary = {
        "name": name,
        "status": "running",
        "task_id": "sweep-t1",
        "n_variants": 4,
        "axes": [
            {"path": "label.label_params.leverage", "values": [1.5, 2.0]},
            {"path": "backtest.strategy_params.entry", "values": [0.52, 0.55]},
        ],
        "counts": {"completed": 0, "failed": 0, "interrupted": 0, "pending": 4},
        "variants": variants,
    }
    (root / "sweep.json").write_text(json.dumps(summary))
    make_run_dir(root / "runs", "v001-abc", "2026-01-01T00:00:00+00:00")
    events = [
        _event(
            1,
            "status",
            {"variant": None, "status": "started", "n_variants": 4, "variants": ["v001", "v002", "v003", "v004"]},
        ),
        _event(2, "status", {"variant": "v001", "status": "stage_started", "stage": "data"}),
        _event(
            3,
            "status",
            {
                "status": "variant_completed",
                "variant": "v001",
                "run_dir": str(root / "runs" / "v001-abc"),
                "metrics": {"sharpe": 1.234, "auc": 0.56},
            },
        ),
        _event(
            4,
            "status",
            {
                "status": "variant_failed",
                "variant": "v002",
                "error": "data: sample: ticker NOPE: not in the embedded dataset",
            },
        ),
        _event(5, "status", {"variant": "v003", "status": "stage_started", "stage": "train"}),
    ]
    (root / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    return root


def finish(root: Path) -> None:
    """The rest of the sweep: v003 and v004 complete, the final status arrives, sweep.json is final."""
    with (root / "events.jsonl").open("a") as fh:
        for seq, vid, sharpe in ((6, "v003", 0.5), (7, "v004", -0.25)):
            fh.write(
                json.dumps(
                    _event(
                        seq,
                        "status",
                        {
                            "status": "variant_completed",
                            "variant": vid,
                            "run_dir": str(root / "runs" / f"{vid}-abc"),
                            "metrics": {"sharpe": sharpe},
                        },
                    )
                )
                + "\n"
            )
        fh.write(
            json.dumps(_event(8, "status", {"variant": None, "status": "failed", "error": "1 of 4 variants failed"}))
            + "\n"
        )
    summary = json.loads((root / "sweep.json").read_text())
    summary["status"] = "some_failed"
    sharpe = {"v001": 1.234, "v003": 0.5, "v004": -0.25}
    for v in summary["variants"]:
        v["status"] = "failed" if v["id"] == "v002" else "completed"
        v["metrics"] = {"sharpe": sharpe.get(v["id"])}
        v["deflated_sharpe"] = 0.4 if v["id"] == "v001" else None
    (root / "sweep.json").write_text(json.dumps(summary))


def grid_cells(at: AppTest) -> dict[tuple[str, str], str]:
    frame = next(t.value for t in at.table if t.value.index.name == "label.label_params.leverage")
    return {(str(r), str(c)): frame.loc[r, c] for r in frame.index for c in frame.columns}


# -- the pure part --------------------------------------------------------------------------------


def test_axes_values_are_toml_arrays_and_plugins_dir_is_refused():
    assert sweeps.parse_values("x", "[1.5, 2]") == [1.5, 2]
    assert sweeps.parse_values("x", '["a", "b"]') == ["a", "b"]
    with pytest.raises(ConfigError, match=r"axes: label.label_params.leverage: values '1.5, 2' are not a TOML"):
        sweeps.parse_values("label.label_params.leverage", "1.5, 2")
    with pytest.raises(ConfigError, match="non-empty"):
        sweeps.parse_values("x", "[]")
    with pytest.raises(ConfigError, match="plugins_dir: not accepted"):
        sweeps.sweep_data({}, [("plugins_dir", '["/tmp"]')], name="s")
    with pytest.raises(ConfigError, match="name: '../x'"):
        sweeps.sweep_data({}, [("seed", "[1]")], name="../x")


def test_the_grid_fills_in_from_events_over_sweep_json(tmp_path, run_dir_factory):
    root = write_sweep_dir(tmp_path, run_dir_factory)
    from qlop.live.protocol import read_events

    view = sweeps.sweep_view(sweeps.read_sweep_json(root), read_events(root / "events.jsonl"))
    assert [v.status for v in view.variants] == ["completed", "failed", "running", "pending"]
    assert not view.finished and view.done == 2
    ra, ca, rows, cols, cells = sweeps.grid(view)
    assert (ra, ca, rows, cols) == (
        "label.label_params.leverage",
        "backtest.strategy_params.entry",
        ["1.5", "2.0"],
        ["0.52", "0.55"],
    )
    assert cells == [["1.23", "failed"], ["running...", "pending"]]
    finish(root)
    view = sweeps.sweep_view(sweeps.read_sweep_json(root), read_events(root / "events.jsonl"))
    assert view.finished and view.status == "some_failed"
    assert sweeps.grid(view)[4] == [["1.23", "failed"], ["0.50", "-0.25"]]
    table = sweeps.variant_table(view)
    assert table[0]["Deflated Sharpe"] != "" and table[1]["error"].startswith("data: sample: ticker NOPE")


# -- the page -------------------------------------------------------------------------------------


def test_launch_form_validates_every_variant_like_qlop_sweep(tmp_path, monkeypatch):
    monkeypatch.setenv("QLOP_GUI_RUNS_DIR", str(tmp_path / "runs"))
    at = AppTest.from_function(sweeps_page, default_timeout=TIMEOUT).run()
    assert not at.exception
    at.radio(key="sweep_base_mode").set_value("Paste or upload").run()
    at.text_area(key="sweep_paste_text").input(BASE).run()
    assert not at.error, [e.value for e in at.error]
    assert at.success[0].value.startswith("4 variant(s) valid")
    assert not at.button(key="sweep_launch").disabled
    assert len(at.dataframe[0].value) == 4 and list(at.dataframe[0].value["variant"]) == [
        "v001",
        "v002",
        "v003",
        "v004",
    ]
    # a bad value is reported per variant, naming the axis, and blocks the launch
    at.text_area(key="sweep_axes").input("backtest.strategy_params.entry = [0.55, 1.5]").run()
    messages = [e.value for e in at.error]
    assert len(messages) == 1 and "1 of 2 variant(s) invalid" in messages[0]
    assert "v002 (backtest.strategy_params.entry = 1.5)" in messages[0]
    assert at.button(key="sweep_launch").disabled
    at.text_area(key="sweep_axes").input("backtest.strategy_params.entry").run()
    assert "write dotted.path = [value, value, ...]" in at.error[0].value


def test_watching_a_sweep_the_grid_fills_in_and_a_variant_opens(tmp_path, monkeypatch, run_dir_factory):
    runs_dir = tmp_path / "runs"
    root = write_sweep_dir(runs_dir, run_dir_factory)
    monkeypatch.setenv("QLOP_GUI_RUNS_DIR", str(runs_dir))
    monkeypatch.setenv("QLOP_GUI_WS_URL", "ws://127.0.0.1:9")  # no relay: the page reads events.jsonl
    at = AppTest.from_function(sweeps_page, default_timeout=TIMEOUT)
    at.query_params["sweep"] = "lev"
    at.run()
    assert not at.exception, at.exception
    assert grid_cells(at) == {
        ("1.5", "0.52"): "1.23",
        ("1.5", "0.55"): "failed",
        ("2.0", "0.52"): "running...",
        ("2.0", "0.55"): "pending",
    }
    assert "2/4 variants done" in at.get("progress")[0].proto.text
    assert list(at.selectbox(key="sweep_open").options) == [
        "v001: label.label_params.leverage=1.5, backtest.strategy_params.entry=0.52"
    ]
    finish(root)
    at.run()  # the fragment's next poll
    assert grid_cells(at) == {
        ("1.5", "0.52"): "1.23",
        ("1.5", "0.55"): "failed",
        ("2.0", "0.52"): "0.50",
        ("2.0", "0.55"): "-0.25",
    }
    assert "`some_failed`" in at.markdown[0].value or any("some_failed" in m.value for m in at.markdown)
    assert [o.split(":")[0] for o in at.selectbox(key="sweep_open").options] == ["v001", "v003", "v004"]
    link = next(p for p in at.get("page_link") if p.label == "Open v001's run page")
    assert link.proto.query_string == "sweep=lev&run=v001-abc"
    at.selectbox(key="sweep_metric").set_value("auc").run()
    assert grid_cells(at)[("1.5", "0.52")] == "0.560"


def test_the_sweep_list_and_a_variants_run_page(tmp_path, monkeypatch, run_dir_factory):
    runs_dir = tmp_path / "runs"
    write_sweep_dir(runs_dir, run_dir_factory)
    monkeypatch.setenv("QLOP_GUI_RUNS_DIR", str(runs_dir))
    at = AppTest.from_function(sweeps_page, default_timeout=TIMEOUT).run()
    assert any(link.label.startswith("lev: running, 4 variants") for link in at.get("page_link"))
    runs = AppTest.from_function(runs_page, default_timeout=TIMEOUT)
    runs.query_params["sweep"] = "lev"
    runs.query_params["run"] = "v001-abc"
    runs.run()
    assert not runs.exception
    assert runs.selectbox(key="open_run").value == "v001-abc"
    assert runs.header[0].value == "v001-abc"
    bad = AppTest.from_function(runs_page, default_timeout=TIMEOUT)
    bad.query_params["sweep"] = "../etc"
    bad.run()
    assert bad.error[0].value.startswith("Invalid sweep name in the URL")


def test_a_finished_runs_config_is_a_base(tmp_path, monkeypatch):
    from qlop.config import parse_config_text
    from qlop.gui.configs import validate_data

    run = tmp_path / "runs" / "20260101-000000-abcd1234"
    run.mkdir(parents=True)
    config = validate_data(parse_config_text(BASE, "toml", "base"), "base").model_dump(mode="json")
    (run / "config.json").write_text(json.dumps(config))
    (run / "manifest.json").write_text(json.dumps({"status": "completed", "name": "gui-sweep"}))
    monkeypatch.setenv("QLOP_GUI_RUNS_DIR", str(tmp_path / "runs"))
    at = AppTest.from_function(sweeps_page, default_timeout=TIMEOUT).run()
    assert not at.exception
    assert list(at.selectbox(key="sweep_base_run").options) == ["20260101-000000-abcd1234 (gui-sweep)"]
    assert at.text_input(key="sweep_name").value == "gui-sweep-sweep"
    assert at.success[0].value.startswith("4 variant(s) valid; they go to " + str(tmp_path / "runs" / "sweeps"))
