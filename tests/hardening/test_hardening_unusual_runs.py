"""Valid but unusual runs complete with an answer that says what happened, instead of crashing at the end.

Zero trades (a strict entry), zero predictions, a null AUC, a single walk-forward fold, a single ticker
and labels that are NaN everywhere: each gets a plain sentence in the answer (or, when nothing can be
trained, one line naming what to change), never ``None`` formatted into a number or a traceback.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from hardening_helpers import DATA_ONLY, one_error_line, small_pipeline

from qlop.answer import answer_from, prediction_line, strategy_line
from qlop.stages.backtest import no_trade_reason

LABEL = {"label_type": "leverage_opportunity", "label_params": {"leverage": 2.0, "horizon": 5}}


def _predictions(probs: list[float]) -> pd.DataFrame:
    index = pd.MultiIndex.from_product(
        [["AAA"], pd.bdate_range("2020-01-01", periods=len(probs))], names=["ticker", "date"]
    )
    return pd.DataFrame({"prob": probs}, index=index)


def _signals(values: list[int]) -> pd.DataFrame:
    return pd.DataFrame({"signal": np.asarray(values, dtype=np.int8)})


# -- why no trade ----------------------------------------------------------------------------


def test_no_trade_reason_names_the_highest_probability_and_the_entry():
    reason = no_trade_reason(True, _predictions([0.31, 0.5, 0.47]), {"entry": 0.99}, _signals([0, 0, 0]), 0)
    assert reason == "no trade was entered: the highest predicted probability was 0.50, below the entry 0.99"
    both = no_trade_reason(True, _predictions([0.31, 0.5]), {"entry": 0.9, "short_entry": 0.2}, _signals([0, 0]), 0)
    assert both.endswith("below the entry 0.9, and the lowest was 0.31, above the short entry 0.2")


@pytest.mark.parametrize(
    ("predictions", "signals", "candidates", "expected"),
    [
        (_predictions([]), _signals([]), 0, "no trade was entered: the model made no out-of-sample prediction"),
        (
            _predictions([float("nan")] * 3),
            _signals([0, 0, 0]),
            0,
            "no trade was entered: the model made no out-of-sample prediction",
        ),
        (None, _signals([0, 0]), 0, "no trade was entered: the model made no out-of-sample prediction"),
    ],
)
def test_no_trade_reason_without_predictions(predictions, signals, candidates, expected):
    assert no_trade_reason(True, predictions, {"entry": 0.6}, signals, candidates) == expected


def test_no_trade_reason_for_strategies_without_probability_levels():
    assert (
        no_trade_reason(False, None, {}, _signals([0, 0]), 0)
        == "no trade was entered: the strategy gave no entry signal"
    )
    assert "the strategy's 3 candidate trades could not be sized" in no_trade_reason(
        False, None, {}, _signals([1, 0, 1, 1]), 3
    )
    assert "signalled on 1 rows, none of which could enter" in no_trade_reason(False, None, {}, _signals([0, 1]), 0)
    # a model that crossed the entry but whose trades could not be opened is not blamed on the threshold
    crossed = no_trade_reason(True, _predictions([0.7, 0.2]), {"entry": 0.6}, _signals([1, 0]), 1)
    assert "could not be sized" in crossed


# -- the answer's wording for unusual runs ---------------------------------------------------

ZERO_TRADES = {
    "strategy": "probability_threshold",
    "start": "2012-12-31",
    "end": "2017-11-10",
    "benchmark": "GSPC",
    "benchmark_total_return": 0.81,
    "total_return": 0.0,
    "cagr": 0.0,
    "sharpe": None,
    "sortino": None,
    "max_drawdown": 0.0,
    "n_trades": 0,
    "liquidations": 0,
    "fees_paid": 0.0,
    "financing_paid": 0.0,
    "no_trade_reason": "no trade was entered: the highest predicted probability was 0.50, below the entry 0.99",
}


def test_zero_trade_answer_says_why():
    line = strategy_line(ZERO_TRADES)
    assert line == (
        "Strategy: probability_threshold from 2012-12-31 to 2017-11-10: no trade was entered: the "
        "highest predicted probability was 0.50, below the entry 0.99; the capital stayed in cash "
        "(0.00%) vs +81.00% for GSPC."
    )


@pytest.mark.parametrize(
    ("metrics", "expected"),
    [
        (
            {"model_type": "xgboost", "n_folds": 0, "n_predictions": 0, "overall": {"n": 0, "auc": None}},
            "Prediction: xgboost made no out-of-sample prediction (0 walk-forward folds).",
        ),
        (
            {"model_type": "xgboost", "n_folds": 1, "n_predictions": 40, "overall": {"n": 0, "auc": None}},
            "Prediction: xgboost, 1 walk-forward fold, 40 out-of-sample predictions, none on a labelled day: their "
            "skill cannot be measured yet.",
        ),
        (
            {
                "model_type": "xgboost",
                "n_folds": 1,
                "n_predictions": 40,
                "overall": {"n": 40, "auc": None, "base_rate": 1.0, "log_loss": 0.1},
            },
            "Prediction: xgboost, 1 walk-forward fold, 40 out-of-sample days: no AUC, because every one of them has "
            "the same label (base rate 100.00%); log loss 0.1000.",
        ),
        (
            {
                "model_type": "xgboost",
                "n_folds": 1,
                "n_predictions": 40,
                "overall": {"n": 40, "auc": 0.61, "base_rate": 0.5, "log_loss": 0.6},
            },
            "Prediction: xgboost, 1 walk-forward fold, 40 out-of-sample days: AUC 0.610",
        ),
    ],
)
def test_prediction_answer_for_no_predictions_null_auc_and_one_fold(metrics, expected):
    assert prediction_line(metrics).startswith(expected)


def test_all_nan_labels_answer_says_no_day_could_be_labelled():
    index = pd.MultiIndex.from_product([["AAA"], pd.bdate_range("2020-01-01", periods=30)], names=["ticker", "date"])
    labels = pd.DataFrame({"label": np.nan, "exit_reason": "none"}, index=index)
    (line,) = answer_from({"label": {**LABEL, "label_params": {"horizon": 4000}}}, labels, None, None)
    assert line.startswith("Opportunities: no day could be labelled: the ")
    assert "needs 4000 bars after each day, and none of the 30 rows has them" in line


def test_every_metric_missing_never_prints_none_or_crashes():
    empty = {key: None for key in ZERO_TRADES} | {"strategy": "s", "n_trades": None}
    lines = answer_from({}, None, {"overall": {}, "n_predictions": None}, empty)
    assert lines and not any(re.search(r"\bNone\b|\bnan\b", line) for line in lines), lines


# -- end to end ------------------------------------------------------------------------------


def _answer(stdout: str) -> str:
    return " ".join(stdout.split("The answer", 1)[1].split()) if "The answer" in stdout else ""


@pytest.mark.slow
def test_zero_trade_quickstart_variant_completes_with_an_honest_answer(run_qlop, tmp_path):
    from qlop.examples import quickstart_path

    text = quickstart_path().read_text(encoding="utf-8").replace("entry = 0.55", "entry = 0.99")
    text = re.sub(r"tickers = \[.*?\]", 'tickers = ["AAPL", "MSFT", "KO", "XOM"]', text)
    text = text.replace("start_date = 2003-01-01", "start_date = 2008-01-01").replace(
        "n_estimators = 200", "n_estimators = 40"
    )
    assert "entry = 0.99" in text
    config = tmp_path / "quickstart-zero.toml"
    config.write_text(text)
    proc = run_qlop("run", "-c", config, "--run-dir", tmp_path / "run")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    answer = _answer(proc.stdout)
    assert re.search(
        r"no trade was entered: the highest predicted probability was 0\.\d\d, below the entry "
        r"0\.99; the capital stayed in cash \(0\.00%\)",
        answer,
    ), proc.stdout
    assert not re.search(r"\bNone\b|\bnan\b", proc.stdout)
    metrics = json.loads((tmp_path / "run" / "backtest" / "metrics.json").read_text())
    assert metrics["n_trades"] == 0 and metrics["no_trade_reason"].startswith("no trade was entered")
    assert "no trade was entered" in (tmp_path / "run" / "backtest" / "report.html").read_text()


@pytest.mark.slow
def test_single_ticker_single_fold_run_completes(run_qlop, tmp_path):
    config = tmp_path / "one.toml"
    config.write_text(small_pipeline(tickers='["KO"]', train_years=4.0, test_months=24))
    proc = run_qlop("run", "-c", config, "--run-dir", tmp_path / "run")
    assert proc.returncode == 0, proc.stderr[-3000:]
    answer = _answer(proc.stdout)
    assert "xgboost, 1 walk-forward fold," in answer and "Strategy: probability_threshold" in answer
    assert not re.search(r"\bNone\b|\bnan\b", proc.stdout)
    assert json.loads((tmp_path / "run" / "manifest.json").read_text())["status"] == "completed"


def test_labels_nan_everywhere(run_qlop, tmp_path):
    long_horizon = '[label]\nlabel_type = "leverage_opportunity"\nlabel_params = { horizon = 4000 }\n'
    labels_only = tmp_path / "labels.toml"
    labels_only.write_text(DATA_ONLY + '[features]\nsteps = [{ step_type = "returns" }]\n' + long_horizon)
    proc = run_qlop("run", "-c", labels_only, "--run-dir", tmp_path / "labels")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Opportunities: no day could be labelled: the 1.00x long" in _answer(proc.stdout)
    trained = tmp_path / "trained.toml"
    trained.write_text(
        small_pipeline().replace("horizon = 5,", "horizon = 4000,").replace("embargo_days = 5", "embargo_days = 4000")
    )
    line = one_error_line(run_qlop("run", "-c", trained, "--run-dir", tmp_path / "trained"))
    assert re.fullmatch(
        r"Error: label: every label is NaN \([\d,]+ rows\): the label's horizon \(4000 bars\) leaves "
        r"no day with a known outcome in the longest ticker history \(\d+ bars\); load more "
        r"history or shorten the horizon",
        line,
    ), line


def test_single_ticker_with_a_cross_sectional_feature_names_the_feature(run_qlop, tmp_path):
    config = tmp_path / "xrank.toml"
    config.write_text(
        small_pipeline(tickers='["KO"]').replace(
            '{ step_type = "rsi", step_params = { timeperiod = 14 } },',
            '{ step_type = "rsi", step_params = { timeperiod = 14 } },\n  { step_type = "xrank", step_params = '
            '{ columns = ["ret_5"] } },',
        )
    )
    line = one_error_line(run_qlop("run", "-c", config, "--run-dir", tmp_path / "run"))
    assert line.startswith(
        "Error: features: no labelled row has every feature (feature 'xrank_ret_5' is NaN on "
        "every labelled row: a cross-sectional feature needs several tickers"
    ), line
