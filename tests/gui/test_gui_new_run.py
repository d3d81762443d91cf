"""What the New run page decides without Streamlit: examples, problems by field, the ticker check."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from qlop.examples import example_configs, quickstart_path
from qlop.gui.new_run import (
    Problem,
    anchor_for,
    config_problems,
    human_path,
    listed_ticker_problems,
    plain,
    probed_ticker_problems,
    relative_message,
    starting_config,
    ticker_problem,
)


def test_the_shipped_examples_are_offered_quickstart_first_without_sweep_files():
    names = [e.name for e in example_configs()]
    assert names[0] == "quickstart"
    assert "quickstart-lstm" in names and "sweep" not in names
    assert example_configs()[0].path == quickstart_path()


def test_the_form_starts_from_the_quickstart_without_its_runs_folder():
    data = starting_config()
    assert data["name"] == "quickstart" and "runs_dir" not in data
    assert data["label"]["label_params"]["leverage"] == data["backtest"]["leverage"] == 2.5
    assert data["backtest"]["strategy_params"]["entry"] == 0.55


def test_every_problem_names_its_field():
    _, problems = config_problems(
        {"data": {"data_source_type": "sampel"}, "label": {"label_params": {"horizon": 0, "leverage": -1}}}
    )
    assert [p.path for p in problems] == [
        "data.data_source_type",
        "label.label_params.horizon",
        "label.label_params.leverage",
    ]
    assert problems[1].message == "must be between 1 and 5000 bars (got 0)"
    config, problems = config_problems({"data": {"tickers": ["AAPL"]}})
    assert problems == [] and config.data.tickers == ["AAPL"]


def test_problem_text_is_split_at_its_field_path_only():
    assert Problem.parse("data.start_date: bad: really") == Problem("data.start_date", "bad: really")
    assert Problem.parse("cannot parse TOML: line 3") == Problem("", "cannot parse TOML: line 3")


def test_a_problem_is_shown_at_the_most_specific_field_that_holds_it():
    anchors = ["data", "data.tickers", "label.label_params", "label.label_params.horizon", "model.validation.n_splits"]
    assert anchor_for("label.label_params.horizon", anchors) == "label.label_params.horizon"
    assert anchor_for("label.label_params.hurdle", anchors) == "label.label_params"
    assert anchor_for("data", anchors) == "data"
    assert anchor_for("model.validation.scheme", anchors) is None
    assert anchor_for("model.validation.scheme", [*anchors, ""]) == ""


def test_paths_and_messages_in_plain_words():
    assert human_path("features.steps.2.step_params.window") == "Features › Step 3 › Window"
    assert human_path("model.validation.embargo_days") == "Model › Validation › Embargo days"
    assert (
        plain("start_date 2015-01-01 is after end_date 2010-01-01", ["start_date", "end_date"])
        == "start date 2015-01-01 is after end date 2010-01-01"
    )
    problem = Problem("label.label_params.take_profit", "must be greater than 0 (got -1.0)")
    assert relative_message(problem, "label.label_params.take_profit") == "Must be greater than 0 (got -1.0)"
    assert relative_message(problem, "label.label_params") == "Take profit: must be greater than 0 (got -1.0)"


def test_a_source_that_lists_its_tickers_names_the_missing_ones_with_the_closest():
    found = listed_ticker_problems("sample", {}, ["AAPL", "APPL", "ZZZZ"])
    assert found == {"APPL": "not in the embedded dataset; did you mean AAPL?", "ZZZZ": "not in the embedded dataset"}
    assert ticker_problem(found, "sample") == Problem(
        "data.tickers",
        "not available from sample: APPL (not in the embedded dataset; did you mean AAPL?), "
        "ZZZZ (not in the embedded dataset)",
    )
    assert ticker_problem({}, "sample") is None
    assert listed_ticker_problems("synthetic", {}, ["ANYTHING"]) == {}


def test_a_source_that_cannot_list_is_probed_by_loading_each_ticker(tmp_path: Path):
    long = tmp_path / "long.csv"
    dates = pd.bdate_range("2015-01-01", periods=30)
    pd.DataFrame(
        {
            "date": dates.strftime("%Y-%m-%d"),
            "ticker": "KO",
            "open": 10.0,
            "high": 11.0,
            "low": 9.0,
            "close": 10.5,
            "volume": 1000.0,
        }
    ).to_csv(long, index=False)
    params = {"path": str(long)}
    assert listed_ticker_problems("csv", params, ["KO"]) is None  # one long file: it cannot tell cheaply
    found = probed_ticker_problems("csv", params, ["KO", "PEP"], "2015-01-01", "2015-03-01")
    assert list(found) == ["PEP"] and "PEP" in found["PEP"]
    assert probed_ticker_problems("csv", params, ["KO"], "2015-01-01", "2015-03-01") == {}


def test_probed_tickers_are_loaded_in_the_configured_session(tmp_path: Path) -> None:
    """The New run form's ticker check asks a source for intraday bars in the run's session, as the
    data stage does: a bar after the XNYS close passes as 24/7 but not as XNYS."""
    import pandas as pd

    stamps = ["2024-07-02T09:30:00-04:00", "2024-07-02T10:00:00-04:00", "2024-07-02T20:30:00-04:00"]
    rows = pd.DataFrame({"date": stamps, "open": 10.0, "high": 11.0, "low": 9.0, "close": 10.5, "volume": 100.0})
    rows.to_csv(tmp_path / "AAA.csv", index=False)
    params = {"path": str(tmp_path)}
    assert probed_ticker_problems("csv", params, ["AAA"], None, None, "30m", "24/7") == {}
    found = probed_ticker_problems("csv", params, ["AAA"], None, None, "30m", "XNYS")
    assert list(found) == ["AAA"] and "outside the XNYS session" in found["AAA"]
