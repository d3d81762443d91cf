"""The trade terms have one home: the simulator, the label, ``[backtest]`` and the engine share
:class:`qlop.sim.terms.TradeTerms`'s fields, bounds and defaults, and a bad value is refused in one
line naming its field."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from qlop.sim.terms import TERM_FIELDS, TradeTerms

ROOT = Path(__file__).resolve().parents[2]


def _users() -> dict[str, type]:
    from qlop.backtest.engine import EngineSettings
    from qlop.config import BacktestConfig
    from qlop.sim.rules import TradeRules
    from qlop_contrib.labels.leverage import LeverageOpportunityParams

    return {
        "simulator": TradeRules,
        "label": LeverageOpportunityParams,
        "config": BacktestConfig,
        "engine": EngineSettings,
    }


@pytest.mark.parametrize("user", ["simulator", "label", "config", "engine"])
def test_every_user_shows_the_terms_fields_bounds_and_defaults(user):
    model = _users()[user]
    assert issubclass(model, TradeTerms)
    ref = TradeTerms.model_json_schema()["properties"]
    props = model.model_json_schema()["properties"]  # what `qlop config schema` and the GUI forms show
    for name in TERM_FIELDS:
        assert props[name] == ref[name], name
    assert TradeTerms.of(model()) == TradeTerms()


def test_the_defaults_reach_the_simulator_the_label_and_the_engine_unchanged():
    from qlop.backtest.candidates import ExitRules, sim_rules
    from qlop.backtest.engine import EngineSettings
    from qlop.config import BacktestConfig
    from qlop_contrib.labels.leverage import LeverageOpportunityLabel

    default = TradeTerms()
    label_rules = LeverageOpportunityLabel("leverage_opportunity", {}).trade_rules()
    settings = EngineSettings.from_config(BacktestConfig())
    assert label_rules.terms == settings.terms == settings.costs.terms == default
    assert sim_rules(settings.terms, ExitRules()).terms == default
    # what the defaults are (docs/simulator.md and docs/backtest.md state them)
    assert default.model_dump() == {
        "leverage": 1.0,
        "maintenance_margin": 0.25,
        "commission_bps": 1.0,
        "min_commission": 0.0,
        "slippage_bps": 2.0,
        "financing_rate": 0.05,
        "day_count": "act_360",
        "borrow_fee": 0.0,
        "liquidation_fee": 0.0,
        "stop_slippage_bps": 0.0,
        "risk_free": 0.0,
        "cash_rate": None,
    }


def test_terms_are_declared_in_one_module_only():
    """No other class in qlop or qlop_contrib declares a term field again (with its own default)."""
    pattern = re.compile(rf"^\s+({'|'.join(TERM_FIELDS)})\s*:\s*[^=\n]+=", re.M)
    found = {}
    for path in [*(ROOT / "qlop").rglob("*.py"), *(ROOT / "qlop_contrib").rglob("*.py")]:
        names = pattern.findall(path.read_text(encoding="utf-8"))
        if names:
            found[str(path.relative_to(ROOT))] = sorted(set(names))
    assert found == {"qlop/sim/terms.py": sorted(TERM_FIELDS)}


def test_default_label_and_default_backtest_trade_the_same_trade(caplog):
    """With every term left at its default, each backtest trade on the label's barriers returns the
    label's net return at its signal row, and the stage warns about no difference."""
    from qlop.backtest.candidates import ExitRules
    from qlop.backtest.engine import EngineSettings, run_engine
    from qlop.config import PipelineConfig
    from qlop.stages.backtest import exit_rules
    from qlop.stages.components import create
    from qlop.testing.data import load_sample_panel
    from qlop_contrib.labels.leverage import LeverageOpportunityLabel

    config = PipelineConfig.model_validate(
        {
            "label": {"label_type": "leverage_opportunity"},
            "backtest": {"strategy_type": "probability_threshold", "strategy_params": {"barriers": "label"}},
        }
    )
    strategy = create("strategy", "probability_threshold", config.backtest.strategy_params, "backtest.strategy_params")
    with caplog.at_level(logging.WARNING, logger="qlop.stages.backtest"):
        exits = exit_rules(config, strategy)
    assert not [r for r in caplog.records if "label" in r.getMessage()]

    panel = load_sample_panel(["AAPL", "JPM"], "2008-01-01", "2009-12-31")
    labels = LeverageOpportunityLabel("leverage_opportunity", {}).make_labels(panel)
    signals = pd.DataFrame(
        {"signal": (np.random.default_rng(1).random(len(panel)) < 0.3).astype(np.int8)}, index=panel.index
    )
    settings = EngineSettings.from_config(config.backtest).model_copy(update={"max_gross_leverage": 10.0})
    res = run_engine(
        panel, signals, settings, ExitRules(exits.take_profit, exits.stop_loss, exits.horizon, exit_on_signal=False)
    )
    trades = res.trades
    lab = labels.reindex(pd.MultiIndex.from_arrays([trades["ticker"], trades["signal_date"]]))
    known = lab["label"].notna().to_numpy()
    assert known.sum() > 30
    np.testing.assert_allclose(trades["return"].to_numpy()[known], lab["net_return"].to_numpy()[known], rtol=1e-12)


def test_trade_term_differences_leave_the_book_terms_out():
    """A label's trade and a backtest's differ only in trade terms: money minimums and the book's rates
    are the book's (the warning and the answer's assumptions read the same differences)."""
    from qlop.sim.terms import BOOK_TERMS, RateSeries, trade_term_differences

    label = TradeTerms(leverage=2.5, day_count="act_360")
    book = {**TradeTerms().model_dump(), "leverage": 2.0, "day_count": "act_365", "min_commission": 1.0}
    book["risk_free"] = 0.03
    assert trade_term_differences(label, book) == [("leverage", 2.5, 2.0), ("day_count", "act_360", "act_365")]
    assert set(BOOK_TERMS) <= set(TERM_FIELDS)
    assert trade_term_differences(label, {**label.model_dump(), "commission_bps": 1.0 + 1e-12}) == []
    series = RateSeries(ticker="FF", units="percent")
    diff = trade_term_differences(TradeTerms(financing_rate=series), TradeTerms())
    assert diff == [("financing_rate", series.model_dump(), 0.05)]


def test_insolvent_terms_are_refused_in_one_line_naming_the_field():
    for model in _users().values():
        with pytest.raises(ValidationError) as err:
            model(leverage=5)
        (problem,) = err.value.errors()
        assert problem["loc"] == ("maintenance_margin",)
        assert problem["msg"].endswith(
            "leverage 5 x maintenance_margin 0.25 = 1.25 >= 1: the position would be liquidated at entry"
        )


@pytest.mark.parametrize(
    ("section", "value", "message"),
    [
        (
            "backtest",
            {"leverage": 8, "maintenance_margin": 0.2},
            "backtest.maintenance_margin: leverage 8 x maintenance_margin 0.2 = 1.6 >= 1: the position would be "
            "liquidated at entry",
        ),
        (
            "backtest",
            {"day_count": "act_366"},
            "backtest.day_count: Input should be 'act_365' or 'act_360' (got 'act_366')",
        ),
        (
            "backtest",
            {"financing_rate": 5},
            "backtest.financing_rate: must be between 0 and 1 (annual fraction) (got 5)",
        ),
        (
            "label",
            {"leverage": 200},
            "label.label_params.leverage: must be greater than 0 and at most 100 x margin (got 200)",
        ),
        (
            "label",
            {"leverage": 5},
            "label.label_params.maintenance_margin: leverage 5 x maintenance_margin 0.25 = 1.25 >= 1: the position "
            "would be liquidated at entry",
        ),
    ],
)
def test_config_errors_in_the_terms_name_the_field(qlop_cli, tmp_path, section, value, message):
    data = {
        "data": {"tickers": ["AAPL"]},
        "label": {"label_type": "leverage_opportunity"},
        "backtest": {"strategy_type": "buy_and_hold", "benchmark": None},
    }
    if section == "label":
        data["label"]["label_params"] = value
    else:
        data["backtest"].update(value)
    path = tmp_path / "c.json"
    path.write_text(json.dumps(data))
    result = qlop_cli.invoke(["config", "validate", str(path)])
    assert result.exit_code == 2
    assert [line for line in result.stderr.splitlines() if line.startswith("Error")] == [f"Error: {path}: {message}"]


def test_terms_and_configs_validate_without_numpy():
    code = (
        "import sys, qlop.sim.terms, qlop.sim.rules, qlop.config\n"
        "print(sorted(m for m in ('numpy', 'pandas') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "[]", out.stderr
