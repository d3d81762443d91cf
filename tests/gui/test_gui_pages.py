"""Page logic with Streamlit's AppTest: New run, Plugins and Runs pages."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

TIMEOUT = 60


def new_run_page() -> None:
    from qlop.gui.views import new_page

    new_page.render()


def plugins_page() -> None:
    from qlop.gui.views import plugins_page

    plugins_page.render()


def runs_page() -> None:
    from qlop.gui.views import runs_page

    runs_page.render()


def page(fn) -> AppTest:  # type: ignore[no-untyped-def]
    at = AppTest.from_function(fn, default_timeout=TIMEOUT)
    return at


def table(at: AppTest, *columns: str):  # type: ignore[no-untyped-def]
    """The first dataframe on the page that has these columns."""
    for frame in at.dataframe:
        if set(columns) <= set(frame.value.columns):
            return frame.value
    raise AssertionError(f"no table with columns {columns}")


def options(at: AppTest, key: str) -> list[str]:
    return list(at.selectbox(key=key).options)


def test_new_run_lists_every_registry_and_builds_a_valid_config():
    from qlop.plugins.manager import get_plugin_manager

    at = page(new_run_page).run()
    assert not at.exception
    pm = get_plugin_manager()
    assert options(at, "data_source") == pm.registry("data_source").names()
    assert options(at, "label") == pm.registry("label").names()
    assert options(at, "model") == pm.registry("model").names()
    assert options(at, "strategy") == pm.registry("strategy").names()
    # the chosen plugin's params form: defaults, bounds and help from its params model
    horizon = at.number_input(key="label.leverage_opportunity.horizon")
    assert horizon.value == 10 and horizon.min == 1 and horizon.max == 5000
    assert "Allowed: >= 1, <= 5000" in horizon.help
    assert not at.error, [e.value for e in at.error]
    assert "Config valid" in at.success[0].value
    assert not at.button(key="launch").disabled


def test_out_of_range_value_gets_the_cli_message_and_blocks_launch():
    at = page(new_run_page).run()
    at.text_input(key="data.start_date").input("2015-01-01").run()
    at.text_input(key="data.end_date").input("2010-01-01").run()
    messages = [e.value for e in at.error]
    assert any(m.startswith("Error: <form>: data: ") and "start_date 2015-01-01 is after end_date 2010-01-01" in m
               for m in messages), messages
    assert at.button(key="launch").disabled


def test_feature_steps_can_be_added_and_removed(with_example_plugin):
    at = page(new_run_page).run()
    before = len([s for s in at.selectbox if s.label.startswith("Step ")])
    at.button(key="add_step").click().run()
    steps = [s for s in at.selectbox if s.label.startswith("Step ")]
    assert len(steps) == before + 1
    remove = [b for b in at.button if b.key and b.key.startswith("remove")]
    remove[-1].click().run()
    assert len([s for s in at.selectbox if s.label.startswith("Step ")]) == before
    at.button(key="add_step").click().run()
    at.button(key="add_step").click().run()
    assert len([s for s in at.selectbox if s.label.startswith("Step ")]) == before + 2
    # removing the first of several keeps the others' choices (widgets are keyed by step id, not position)
    last = [s for s in at.selectbox if s.label.startswith("Step ")][-1]
    last.set_value("range_position").run()
    [b for b in at.button if b.key and b.key.startswith("remove")][0].click().run()
    steps = [s for s in at.selectbox if s.label.startswith("Step ")]
    assert len(steps) == before + 1 and steps[-1].value == "range_position" and steps[-1].label == f"Step {before + 1}"


def test_third_party_plugin_appears_with_its_own_form(with_example_plugin):
    at = page(new_run_page).run()
    assert "numpy_logistic" in options(at, "model")
    assert "probability_band" in options(at, "strategy")
    assert "forward_return_sign" in options(at, "label")
    at.selectbox(key="model").set_value("numpy_logistic").run()
    l2 = at.number_input(key="model.numpy_logistic.l2")
    assert (l2.value, l2.min, l2.max) == (1.0, 0.0, 1e6)
    assert at.number_input(key="model.numpy_logistic.max_iter").value == 50
    at.number_input(key="model.numpy_logistic.max_iter").set_value(7).run()
    assert not at.exception
    step_keys = [s.key for s in at.selectbox if s.label.startswith("Step ")]
    if step_keys:
        at.selectbox(key=step_keys[0]).set_value("range_position").run()
        step_id = step_keys[0]
        assert at.number_input(key=f"{step_id}.range_position.window").value == 20


def test_pasted_config_is_validated_like_the_cli(tmp_path: Path):
    from click.testing import CliRunner

    from qlop.cli.main import cli

    bad = '[data]\ntickers = ["AAPL"]\n[label]\nlabel_params = {horizon = -3}\n'
    path = tmp_path / "bad.toml"
    path.write_text(bad)
    cli_line = CliRunner().invoke(cli, ["config", "validate", str(path)]).output.strip()
    at = page(new_run_page).run()
    at.radio(key="mode").set_value("Paste or upload a file").run()
    at.text_area(key="paste_text").input(bad).run()
    assert [e.value for e in at.error] == [cli_line.replace(str(path), "<pasted config>")]
    assert at.button(key="launch").disabled
    at.text_area(key="paste_text").input('[data]\ntickers = ["AAPL"]\n').run()
    assert not at.error and "Config valid (data)" in at.success[0].value


def test_plugins_page_shows_failed_and_disabled_plugins_with_reasons(with_example_plugin, monkeypatch):
    from qlop import hookimpl
    from qlop.plugins import manager

    monkeypatch.setenv("QLOP_DISABLE_PLUGINS", "example")
    manager.reset()

    class Typo:
        @hookimpl
        def qlop_register_modle(self):  # a misspelt hook
            return []

    manager.get_plugin_manager().register(Typo(), name="typo_plugin")
    at = page(plugins_page).run()
    assert not at.exception
    plugins = table(at, "name", "status", "reason").set_index("name")
    assert plugins.loc["example", "status"] == "disabled"
    assert "QLOP_DISABLE_PLUGINS" in plugins.loc["example", "reason"]
    assert plugins.loc["typo_plugin", "status"] == "incompatible"
    assert "unknown hook qlop_register_modle" in plugins.loc["typo_plugin", "reason"]
    assert plugins.loc["qlop_contrib.models", "status"] == "active"
    warnings = [w.value for w in at.warning]
    assert any(w.startswith("typo_plugin is incompatible: unknown hook") for w in warnings)


def test_runs_page_lists_runs_and_opens_one(runs_root, monkeypatch):
    monkeypatch.setenv("QLOP_GUI_RUNS_DIR", str(runs_root))
    at = page(runs_page).run()
    assert not at.exception
    assert list(at.selectbox(key="open_run").options) == ["20240301-000000-bbbb", "20240101-000000-aaaa"]
    at.selectbox(key="open_run").set_value("20240101-000000-aaaa").run()
    assert at.query_params["run"] in ("20240101-000000-aaaa", ["20240101-000000-aaaa"])
    metrics = table(at, "metric", "value")
    assert dict(zip(metrics["metric"], metrics["value"]))["Sharpe"] == "0.93"
    charts = at.get("plotly_chart")
    assert len(charts) >= 5  # equity, drawdown, monthly heatmap, exposure, importance (+ exit mix)
    assert len(table(at, "ticker", "side", "pnl")) == 4
    at.multiselect(key="f_ticker").set_value(["AAPL"]).run()
    assert list(table(at, "ticker", "side", "pnl")["pnl"]) == [120.0, 15.0]
    assert list(table(at, "fold", "auc")["auc"]) == [0.55, 0.57]
    labels = [d.label for d in at.get("download_button")]
    assert labels == ["report.html", "predictions.parquet", "ONNX bundle (zip)"]


def test_runs_page_reopens_the_run_named_in_the_url(runs_root, monkeypatch):
    monkeypatch.setenv("QLOP_GUI_RUNS_DIR", str(runs_root))
    at = page(runs_page)
    at.query_params["run"] = "20240301-000000-bbbb"
    at.run()
    assert at.selectbox(key="open_run").value == "20240301-000000-bbbb"
    assert table(at, "metric", "value") is not None


def test_a_default_outside_its_bounds_is_shown_and_rejected_by_the_model():
    def script() -> None:
        from pydantic import BaseModel, Field

        from qlop.gui import forms

        class Odd(BaseModel):
            n: int = Field(0, ge=1, description="Must be positive")

        fields = forms.schema_fields(Odd.model_json_schema())
        values, errors = forms.render_fields(fields, "odd", "x")
        import streamlit as st

        st.write(values)

    at = AppTest.from_function(script, default_timeout=TIMEOUT).run()
    assert not at.exception
    assert at.number_input(key="odd.n").value == 0 and at.number_input(key="odd.n").min is None


def test_uploaded_yaml_config_is_validated_with_its_file_name():
    at = page(new_run_page).run()
    at.radio(key="mode").set_value("Paste or upload a file").run()
    bad = b"data:\n  tickers: [AAPL]\nlabel:\n  label_params: {horizon: 0}\n"
    at.file_uploader(key="upload").set_value(("study.yaml", bad, "application/yaml")).run()
    errors = [e.value for e in at.error]
    assert len(errors) == 1
    assert errors[0].startswith("Error: study.yaml: label.label_params.horizon: must be between 1 and 5000 bars")
    good = b"data:\n  tickers: [AAPL]\n  start_date: 2010-01-01\n"
    at.file_uploader(key="upload").set_value(("study.yml", good, "application/yaml")).run()
    assert not at.error and "Config valid (data)" in at.success[0].value
