"""The answer's "Assumptions:" block (qlop.answer.assumptions_from): every row comes from the run's
resolved config and metrics.json, so a series rate, a partial benchmark, a periods-per-year override, a
margin mode or a trials ledger that outgrew n_trials each change what it says."""

from __future__ import annotations

import json

from qlop.answer import assumption_rows, assumptions_from
from qlop.sim.terms import TradeTerms

TERMS = TradeTerms().model_dump(mode="json")


def _config(**backtest) -> dict:
    label = {"label_type": "leverage_opportunity", "label_params": {"leverage": 2.0, "horizon": 5, "take_profit": 0.04}}
    bt = {
        **TERMS,
        "strategy_type": "probability_threshold",
        "leverage": 2.0,
        "max_gross_leverage": 3.0,
        "benchmark": {"data_source_type": "sample", "data_source_params": {}, "ticker": "GSPC", "kind": "price"},
        "n_trials": 1,
        "periods_per_year": None,
        **backtest,
    }
    return {"name": "exp", "runs_dir": "runs", "label": label, "backtest": bt}


def _metrics(**extra) -> dict:
    return {
        "benchmark": "GSPC",
        "benchmark_kind": "price",
        "benchmark_coverage": {
            "first": "2000-01-03",
            "last": "2010-06-30",
            "window_start": "2008-01-02",
            "window_end": "2012-12-31",
            "complete": False,
            "overlap_start": "2008-01-02",
            "overlap_end": "2010-06-30",
        },
        "years": 5.0,
        "periods_per_year": 260.0,
        "periods_per_year_source": "config",
        "n_trials": 4,
        "day_count": "act_365",
        "risk_free": "TB3MS.close from csv (percent)",
        "cash_rate": 0.01,
        "financing_rate": 0.07,
        "stop_slippage_bps": 5.0,
        "exits": {"take_profit": 0.04, "stop_loss": 0.03, "horizon": 5, "exit_on_signal": True},
        **extra,
    }


def test_every_row_states_the_runs_own_terms():
    config = _config(day_count="act_365", financing_rate=0.07, cash_rate=0.01, margin_mode="cross")
    rows = dict(assumptions_from(config, _metrics()))
    assert rows["Leverage"] == "2.00x per position, at most 3.00x gross"
    assert rows["Exits"] == (
        "take-profit 4%, stop-loss 3%, horizon 5 bars, when the signal ends (the label's barriers)"
    )
    assert rows["Costs"] == "commission 1 bp + slippage 2 bps per leg, 5 bps more on stop and liquidation fills"
    assert rows["Margin"] == (
        "cross; one account backs every position; when its equity falls to 25% of the gross exposure, "
        "the largest unrealised loss is liquidated first"
    )
    assert rows["Financing"] == (
        "7% a year (constant) on the borrowed part of a long; day count act_365 (calendar days / 365, every rate)"
    )
    assert rows["Rates"] == (
        "risk-free series TB3MS.close from csv (percent), in Sharpe, Sortino and alpha; idle cash earns "
        "1% a year (constant)"
    )
    assert rows["Annualisation"] == "260 periods per year (set in the config); CAGR over 5 calendar years"
    assert rows["Benchmark"] == (
        "GSPC from the sample source, price index (set in the config); its data (2000-01-03 to 2010-06-30) covers only "
        "2008-01-02 to 2010-06-30 of the backtest: compared over that overlap"
    )
    assert rows["Trials"] == "the deflated Sharpe counts 4 trials (backtest.n_trials)"
    # the label scored a 2x trade at act_360 and 5% financing: the difference is stated once
    assert rows["Label"] == (
        "scored its trades with financing_rate 0.05, day_count act_360: a label of 1 is not exactly a "
        "winning backtest trade"
    )


def test_costs_and_fees_that_are_set_appear_and_a_missing_benchmark_says_none():
    config = _config(min_commission=1.5, liquidation_fee=0.01, borrow_fee=0.02, benchmark=None)
    rows = dict(assumptions_from(config, _metrics(benchmark=None, exits=None)))
    assert rows["Costs"].endswith(", at least 1.50 commission per leg, liquidation fee 1% of notional")
    assert "borrow fee 2% a year on a short's notional" in rows["Financing"]
    assert rows["Benchmark"] == "none"
    assert "Exits" not in rows  # a run made before metrics.json recorded its exits: nothing is guessed
    custom = {"take_profit": None, "stop_loss": 0.1, "horizon": None, "exit_on_signal": False}
    assert dict(assumptions_from(config, _metrics(exits=custom)))["Exits"] == "stop-loss 10%"
    signal_only = {"take_profit": None, "stop_loss": None, "horizon": None, "exit_on_signal": True}
    assert dict(assumptions_from(config, _metrics(exits=signal_only)))["Exits"] == "when the signal ends"


def test_the_ledger_warns_only_when_it_holds_more_trials_than_the_deflated_sharpe_counts():
    config, metrics = _config(), _metrics()
    assert dict(assumptions_from(config, metrics, ledger_trials=4))["Trials"].endswith("(backtest.n_trials)")
    assert dict(assumptions_from(config, metrics, ledger_trials=9))["Trials"] == (
        "the deflated Sharpe counts 4 trials (backtest.n_trials); the trials ledger holds 9 distinct configs "
        "named 'exp': set backtest.n_trials = 9 to deflate for all of them"
    )


def test_a_run_that_only_labelled_states_its_labels_trade():
    config = _config()
    del config["backtest"]
    rows = dict(assumptions_from(config, None))
    assert list(rows) == ["Leverage", "Exits", "Costs", "Margin", "Financing"]
    assert rows["Leverage"] == "2.00x long (the label's trade)"
    assert rows["Exits"] == "take-profit 4%, stop-loss 3%, horizon 5 bars"
    assert "day count act_360" in rows["Financing"]
    assert assumptions_from({"label": {"label_type": "no_such_label"}}, None) == []


def test_assumption_rows_read_the_run_directory_and_its_ledger(tmp_path):
    from qlop.trials import record_trials

    runs = tmp_path / "runs"
    run_dir = runs / "one" / "backtest"
    run_dir.mkdir(parents=True)
    config = _config()
    (runs / "one" / "config.json").write_text(json.dumps(config))
    (run_dir / "metrics.json").write_text(json.dumps(_metrics()))
    assert dict(assumption_rows(runs / "one"))["Trials"] == "the deflated Sharpe counts 4 trials (backtest.n_trials)"
    record_trials(runs, "exp", [{"config_hash": str(i), "run_dir": "", "source": "run"} for i in range(6)])
    assert "the trials ledger holds 6 distinct configs named 'exp'" in dict(assumption_rows(runs / "one"))["Trials"]
