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


def config_on_page(at: AppTest) -> dict:
    """The validated config the page shows under "Config as JSON"."""
    import json

    value = at.json[0].value
    return json.loads(value) if isinstance(value, str) else value


def test_new_run_lists_every_registry_and_builds_a_valid_config():
    from qlop.plugins.manager import get_plugin_manager

    at = page(new_run_page).run()
    assert not at.exception
    pm = get_plugin_manager()
    assert options(at, "form.data_source") == pm.registry("data_source").names()
    assert options(at, "form.label") == pm.registry("label").names()
    assert options(at, "form.model") == pm.registry("model").names()
    assert options(at, "form.strategy") == pm.registry("strategy").names()
    # the chosen plugin's params form: defaults, bounds and help from its params model
    horizon = at.number_input(key="form.label.leverage_opportunity.horizon")
    assert horizon.value == 10 and horizon.min == 1 and horizon.max == 5000
    assert "Allowed: >= 1, <= 5000" in horizon.help
    assert not at.error, [e.value for e in at.error]
    assert "Config valid" in at.success[0].value
    assert not at.button(key="form.launch").disabled


def test_the_form_starts_as_the_quickstart_exactly():
    """Launched unchanged, the form's config is examples/quickstart.toml (same config, same cache keys)."""
    from qlop.config import load_config
    from qlop.examples import quickstart_path

    at = page(new_run_page).run()
    expected = load_config(quickstart_path()).model_dump(mode="json")
    assert config_on_page(at) == expected
    # the essentials are up front, before the Launch button and the other sections
    assert at.text_input(key="form.data.tickers").value.startswith("AAPL, MSFT, AMZN")
    assert at.number_input(key="form.leverage").value == 2.5
    assert at.number_input(key="form.strategy.probability_threshold.entry").value == 0.55
    assert at.text_input(key="form.label.leverage_opportunity.take_profit").value == "0.05"
    assert at.selectbox(key="form.model").value == "xgboost"


def test_load_example_starts_the_form_over_from_that_file(tmp_path: Path, monkeypatch):
    import shutil

    from qlop import examples

    folder = tmp_path / "examples"
    folder.mkdir()
    shutil.copy(examples.quickstart_path(), folder / "quickstart.toml")
    (folder / "small.toml").write_text(
        '# A small study\nname = "small"\n[data]\ntickers = ["KO", "PG"]\nstart_date = 2010-01-01\n'
        'end_date = 2012-12-31\n[label]\nlabel_type = "leverage_opportunity"\n'
        "[label.label_params]\nleverage = 1.5\nhorizon = 5\n"
    )
    (folder / "sweep.toml").write_text('base = "quickstart.toml"\n[[axes]]\npath = "seed"\nvalues = [1, 2]\n')
    monkeypatch.setattr(examples, "examples_dir", lambda: folder)
    at = page(new_run_page).run()
    assert options(at, "example") == ["quickstart", "small"]  # a sweep file is not a pipeline config
    at.text_input(key="form.run_name").input("edited").run()
    at.selectbox(key="example").set_value("small").run()
    at.button(key="load_example").click().run()
    assert not at.exception
    assert at.text_input(key="form1.run_name").value == "small"
    assert at.text_input(key="form1.data.tickers").value == "KO, PG"
    assert at.number_input(key="form1.label.leverage_opportunity.leverage").value == 1.5  # no backtest: no link
    config = config_on_page(at)
    assert config["label"]["label_params"] == {"leverage": 1.5, "horizon": 5}
    assert config["model"] is None and config["backtest"] is None  # sections the example leaves out


def test_label_and_backtest_leverage_are_linked_until_unlinked():
    at = page(new_run_page).run()
    at.number_input(key="form.leverage").set_value(3.0).run()
    config = config_on_page(at)
    assert config["label"]["label_params"]["leverage"] == 3.0 and config["backtest"]["leverage"] == 3.0
    at.checkbox(key="form.link_leverage").uncheck().run()
    backtest = at.number_input(key="form.backtest_unlinked.leverage")
    assert backtest.value == 3.0  # starts at the linked value
    backtest.set_value(1.5).run()
    config = config_on_page(at)
    assert config["label"]["label_params"]["leverage"] == 3.0 and config["backtest"]["leverage"] == 1.5


def test_problems_are_shown_at_their_field_in_plain_words():
    at = page(new_run_page).run()
    at.text_input(key="form.data.start_date").input("2015-01-01").run()
    at.text_input(key="form.data.end_date").input("2010-01-01").run()
    messages = [e.value for e in at.error]
    assert "Start date 2015-01-01 is after end date 2010-01-01" in messages, messages
    assert not any("<form>" in m or "start_date" in m for m in messages), messages
    assert any(
        m.startswith("1 problem to fix") and "**Data**: start date 2015-01-01 is after end date" in m for m in messages
    ), messages
    assert at.button(key="form.launch").disabled


def test_unknown_tickers_are_caught_before_launch():
    at = page(new_run_page).run()
    at.text_input(key="form.data.tickers").input("AAPL, APPL, ZZZZ").run()
    messages = [e.value for e in at.error]
    assert any(
        m.startswith(
            "Not available from sample: APPL (not in the embedded dataset; did you mean AAPL?), "
            "ZZZZ (not in the embedded dataset)"
        )
        for m in messages
    ), messages
    assert at.button(key="form.launch").disabled
    at.text_input(key="form.data.tickers").input("AAPL, MSFT").run()
    assert not at.error and not at.button(key="form.launch").disabled


def test_out_of_range_value_blocks_launch_with_the_cli_message():
    at = page(new_run_page).run()
    at.number_input(key="form.label.leverage_opportunity.horizon").set_value(5000).run()
    at.text_input(key="form.label.leverage_opportunity.take_profit").input("-1").run()
    messages = [e.value for e in at.error]
    assert any("must be" in m and "(got -1.0)" in m for m in messages), messages
    assert at.button(key="form.launch").disabled


def test_feature_steps_can_be_added_and_removed(with_example_plugin):
    at = page(new_run_page).run()
    before = len([s for s in at.selectbox if s.label.startswith("Step ")])
    at.button(key="form.add_step").click().run()
    steps = [s for s in at.selectbox if s.label.startswith("Step ")]
    assert len(steps) == before + 1
    remove = [b for b in at.button if b.key and b.key.startswith("form.remove")]
    remove[-1].click().run()
    assert len([s for s in at.selectbox if s.label.startswith("Step ")]) == before
    at.button(key="form.add_step").click().run()
    at.button(key="form.add_step").click().run()
    assert len([s for s in at.selectbox if s.label.startswith("Step ")]) == before + 2
    # removing the first of several keeps the others' choices (widgets are keyed by step id, not position)
    last = [s for s in at.selectbox if s.label.startswith("Step ")][-1]
    last.set_value("range_position").run()
    [b for b in at.button if b.key and b.key.startswith("form.remove")][0].click().run()
    steps = [s for s in at.selectbox if s.label.startswith("Step ")]
    assert len(steps) == before + 1 and steps[-1].value == "range_position" and steps[-1].label == f"Step {before + 1}"


def test_third_party_plugin_appears_with_its_own_form(with_example_plugin):
    at = page(new_run_page).run()
    assert "numpy_logistic" in options(at, "form.model")
    assert "probability_band" in options(at, "form.strategy")
    assert "forward_return_sign" in options(at, "form.label")
    at.selectbox(key="form.model").set_value("numpy_logistic").run()
    l2 = at.number_input(key="form.model.numpy_logistic.l2")
    assert (l2.value, l2.min, l2.max) == (1.0, 0.0, 1e6)
    assert at.number_input(key="form.model.numpy_logistic.max_iter").value == 50
    at.number_input(key="form.model.numpy_logistic.max_iter").set_value(7).run()
    assert not at.exception
    assert config_on_page(at)["model"]["model_params"]["max_iter"] == 7
    step_keys = [s.key for s in at.selectbox if s.label.startswith("Step ")]
    at.selectbox(key=step_keys[0]).set_value("range_position").run()
    assert at.number_input(key=f"{step_keys[0]}.range_position.window").value == 20


def test_pasted_config_is_validated_like_the_cli(tmp_path: Path):
    from click.testing import CliRunner

    from qlop.cli.main import cli

    bad = '[data]\ntickers = ["AAPL"]\n[label]\nlabel_params = {horizon = -3}\n'
    path = tmp_path / "bad.toml"
    path.write_text(bad)
    cli_line = CliRunner().invoke(cli, ["config", "validate", str(path)]).output.strip()
    assert cli_line.endswith("label.label_params.horizon: must be between 1 and 5000 bars (got -3)")
    at = page(new_run_page).run()
    at.radio(key="mode").set_value("Paste or upload a file").run()
    at.text_area(key="paste_text").input(bad).run()
    messages = [e.value for e in at.error]
    assert len(messages) == 1 and "**Label › Horizon**: must be between 1 and 5000 bars (got -3)" in messages[0]
    assert at.button(key="paste_launch").disabled
    at.text_area(key="paste_text").input('[data]\ntickers = ["AAPL"]\n').run()
    assert not at.error and "Config valid (data)" in at.success[0].value
    at.text_area(key="paste_text").input('[data]\ntickers = ["AAPL", "MSFTT"]\n').run()
    assert "did you mean MSFT?" in at.error[0].value and at.button(key="paste_launch").disabled


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
    listed = table(at, "run", "started (UTC)")
    assert not [t for t in listed["started (UTC)"] if len(t) != len("2024-01-01 00:00")]
    at.selectbox(key="open_run").set_value("20240101-000000-aaaa").run()
    assert at.query_params["run"] in ("20240101-000000-aaaa", ["20240101-000000-aaaa"])
    metrics = at.table[2].value
    assert dict(zip(metrics["Metric"], metrics["Value"]))["Sharpe"] == "0.93"
    assert (
        len(at.get("plotly_chart")) == 7
    )  # equity+drawdown, probability, prices, monthly, leverage, results, importance
    assert len(table(at, "Ticker", "Side", "P&L")) == 4
    at.multiselect(key="f_ticker").set_value(["AAPL"]).run()
    assert list(table(at, "Ticker", "Side", "P&L")["P&L"]) == ["120.00", "15.00"]
    labels = [d.label for d in at.get("download_button")]
    assert labels == ["report.html", "predictions.parquet", "ONNX bundle (zip)"]


def test_runs_page_reopens_the_run_named_in_the_url(runs_root, monkeypatch):
    monkeypatch.setenv("QLOP_GUI_RUNS_DIR", str(runs_root))
    at = page(runs_page)
    at.query_params["run"] = "20240301-000000-bbbb"
    at.run()
    assert at.selectbox(key="open_run").value == "20240301-000000-bbbb"
    assert at.header[0].value == "20240301-000000-bbbb" and at.subheader[1].value == "The answer"


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
    assert "**Label › Horizon**: must be between 1 and 5000 bars (got 0)" in errors[0]
    broken = b"data: [unclosed\n"
    at.file_uploader(key="upload").set_value(("study.yaml", broken, "application/yaml")).run()
    assert "cannot parse YAML" in at.error[0].value
    good = b"data:\n  tickers: [AAPL]\n  start_date: 2010-01-01\n"
    at.file_uploader(key="upload").set_value(("study.yml", good, "application/yaml")).run()
    assert not at.error and "Config valid (data)" in at.success[0].value
