"""The label plugins: contracts, agreement with the simulator, NaN tails and the summary table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qlop.errors import ConfigError, DataError
from qlop.plugins.manager import get_plugin_manager
from qlop.report_data import summarize_labels
from qlop.sim import REASONS, TradeRules, simulate
from qlop.testing import LabelContract


class TestLeverageOpportunityContract(LabelContract):
    component_name = "leverage_opportunity"
    params = {"horizon": 5, "leverage": 4, "take_profit": 0.04, "stop_loss": 0.02, "maintenance_margin": 0.2}


class TestLeverageOpportunityShortContract(LabelContract):
    component_name = "leverage_opportunity"
    params = {"side": "short", "horizon": 3, "take_profit": None, "borrow_fee": 0.05}


class TestForwardReturnContract(LabelContract):
    component_name = "forward_return"
    params = {"horizon": 4}


class TestForwardReturnCloseContract(LabelContract):
    component_name = "forward_return"
    params = {"horizon": 2, "basis": "close", "log": True}


def make(name, **params):
    return get_plugin_manager().create("label", name, params, "label.label_params")


def test_labels_are_the_simulated_trade_of_the_next_open(canonical_panel):
    label = make("leverage_opportunity", horizon=7, hurdle=0.01)
    out = label.make_labels(canonical_panel)
    assert list(out.columns) == ["label", "net_return", "exit_reason", "bars_held"]
    p = canonical_panel
    day = p.index.get_level_values("date").to_numpy().astype("datetime64[D]").astype(np.int64)
    sizes = p.groupby(level="ticker", sort=False).size().to_numpy()
    seg_end = np.repeat(np.cumsum(sizes) - 1, sizes)
    rows = np.flatnonzero(np.arange(len(p)) + 7 <= seg_end)
    res = simulate(p["open"], p["high"], p["low"], p["close"], day, seg_end, rows + 1, label.trade_rules())
    np.testing.assert_array_equal(out["net_return"].to_numpy()[rows], res.net_return)
    np.testing.assert_array_equal(out["label"].to_numpy()[rows], (res.net_return > 0.01).astype(float))
    np.testing.assert_array_equal(out["exit_reason"].to_numpy()[rows], np.asarray(REASONS, dtype=object)[res.reason])
    np.testing.assert_array_equal(out["bars_held"].to_numpy()[rows], res.bars_held)
    assert out["exit_reason"].dtype == object
    assert set(out["exit_reason"].dropna()) <= {"tp", "sl", "liquidation", "horizon"}


def test_the_last_horizon_rows_of_each_ticker_get_no_label(canonical_panel):
    out = make("leverage_opportunity", horizon=6).make_labels(canonical_panel)
    for _, rows in out.groupby(level="ticker"):
        assert rows["label"].iloc[-6:].isna().all() and rows["label"].iloc[:-6].notna().all()
        assert rows["exit_reason"].iloc[-6:].map(lambda r: r is None).all()
        assert rows["net_return"].iloc[-6:].isna().all() and rows["bars_held"].iloc[-6:].isna().all()
    held = out["bars_held"].dropna()
    assert held.between(1, 6).all()


def test_hand_made_panel_labels():
    """Ticker A: day-2 entry at 100 reaches +5% on its entry bar; the next row's trade is stopped."""
    idx = pd.MultiIndex.from_product([["A"], pd.date_range("2020-01-01", periods=5)], names=["ticker", "date"])
    bars = np.array(
        [[99, 100, 98, 99], [100, 106, 99.5, 104], [104, 104.5, 99, 100], [100, 101, 99, 100], [100, 101, 99, 100]],
        dtype=float,
    )
    panel = pd.DataFrame(bars, index=idx, columns=["open", "high", "low", "close"])
    out = make(
        "leverage_opportunity",
        leverage=2,
        horizon=2,
        take_profit=0.05,
        stop_loss=0.03,
        commission_bps=0,
        slippage_bps=0,
        financing_rate=0,
    ).make_labels(panel)
    assert out["label"].tolist()[:2] == [1.0, 0.0]
    assert out["exit_reason"].tolist() == ["tp", "sl", "horizon", None, None]
    assert out["net_return"].iloc[0] == pytest.approx(2 * 0.05)
    assert out["net_return"].iloc[1] == pytest.approx(2 * -0.03)
    assert out["net_return"].iloc[2] == pytest.approx(2 * (100 / 100 - 1))


def test_hurdle_and_costs_move_the_base_rate(canonical_panel):
    cheap = make("leverage_opportunity", commission_bps=0, slippage_bps=0, financing_rate=0).make_labels(
        canonical_panel
    )
    dear = make("leverage_opportunity", commission_bps=20, slippage_bps=20).make_labels(canonical_panel)
    high = make("leverage_opportunity", hurdle=0.1).make_labels(canonical_panel)
    known = cheap["label"].notna()
    assert (dear["net_return"][known] <= cheap["net_return"][known]).all()
    assert dear["label"].mean() < cheap["label"].mean()
    assert high["label"].mean() < cheap["label"].mean()


def test_trade_rules_carry_the_label_params():
    label = make("leverage_opportunity", side="short", leverage=2, horizon=4, take_profit=0.1, hurdle=0.02)
    rules = label.trade_rules()
    assert type(rules) is TradeRules
    assert (rules.side, rules.leverage, rules.horizon, rules.take_profit, rules.stop_loss) == ("short", 2, 4, 0.1, 0.03)
    assert label.horizon == 4 and label.task == "classification"
    fwd = make("forward_return", horizon=3)
    assert fwd.task == "regression" and fwd.horizon == 3 and fwd.trade_rules().horizon == 3


def test_insolvent_label_params_are_refused_with_the_field_path():
    with pytest.raises(ConfigError) as err:
        make("leverage_opportunity", leverage=5, maintenance_margin=0.25)
    message = str(err.value)
    assert "\n" not in message
    assert message == (
        "label.label_params.maintenance_margin: leverage 5 x maintenance_margin 0.25 = 1.25 >= 1: "
        "the position would be liquidated at entry"
    )
    with pytest.raises(ConfigError, match="label.label_params.min_commission: a label's return is per unit of margin"):
        make("leverage_opportunity", min_commission=1.0)
    with pytest.raises(ConfigError, match="label.label_params.stop_los"):
        make("leverage_opportunity", stop_los=0.1)


def test_params_schema_is_complete_for_forms():
    from qlop_contrib.labels.forward import ForwardReturnParams
    from qlop_contrib.labels.leverage import LeverageOpportunityParams

    for model in (LeverageOpportunityParams, ForwardReturnParams):
        for name, prop in model.model_json_schema()["properties"].items():
            assert prop.get("description"), f"{model.__name__}.{name} has no description"
            assert "default" in prop, f"{model.__name__}.{name} has no default"


def test_unsorted_panel_is_refused(canonical_panel):
    shuffled = canonical_panel.iloc[::-1]
    with pytest.raises(DataError, match="dates not strictly increasing"):
        make("leverage_opportunity").make_labels(shuffled)
    interleaved = canonical_panel.sort_index(level="date")
    with pytest.raises(DataError, match="not grouped by ticker"):
        make("forward_return").make_labels(interleaved)


@pytest.mark.parametrize("basis", ["next_open", "close"])
@pytest.mark.parametrize("log", [False, True])
def test_forward_return_matches_pandas(canonical_panel, basis, log):
    out = make("forward_return", horizon=5, basis=basis, log=log).make_labels(canonical_panel)
    g = canonical_panel.groupby(level="ticker")
    start = g["open"].shift(-1) if basis == "next_open" else canonical_panel["close"]
    ratio = g["close"].shift(-5) / start
    expected = np.log(ratio) if log else ratio - 1
    pd.testing.assert_series_equal(out["label"], expected.rename("label"), check_exact=False, rtol=1e-12)


def test_forward_return_is_the_price_return_of_its_trade(canonical_panel):
    label = make("forward_return", horizon=3)
    out = label.make_labels(canonical_panel)
    p = canonical_panel
    sizes = p.groupby(level="ticker", sort=False).size().to_numpy()
    seg_end = np.repeat(np.cumsum(sizes) - 1, sizes)
    rows = np.flatnonzero(out["label"].notna().to_numpy())
    res = simulate(
        p["open"], p["high"], p["low"], p["close"], np.zeros(len(p), np.int64), seg_end, rows + 1, label.trade_rules()
    )
    np.testing.assert_allclose(out["label"].to_numpy()[rows], res.price_return, rtol=1e-12)


def test_summarize_labels_counts_by_hand():
    idx = pd.MultiIndex.from_tuples([("A", 1), ("A", 2), ("A", 3), ("B", 1), ("B", 2)], names=["ticker", "date"])
    labels = pd.DataFrame(
        {
            "label": [1.0, 0.0, np.nan, 1.0, np.nan],
            "net_return": [0.1, -0.05, np.nan, 0.2, np.nan],
            "exit_reason": pd.Series(["tp", "sl", None, "horizon", None], index=idx, dtype=object),
        },
        index=idx,
    )
    out = summarize_labels(labels)
    assert out.index.tolist() == ["A", "B", "ALL"]
    assert out.loc["A", ["n_rows", "n_labelled"]].tolist() == [3, 2]
    assert out.loc["A", "base_rate"] == 0.5 and out.loc["B", "base_rate"] == 1.0
    assert out.loc["ALL", "base_rate"] == pytest.approx(2 / 3)
    assert out.loc["A", "mean_net_return"] == pytest.approx(0.025)
    assert out.loc["A", ["tp", "sl", "liquidation", "horizon"]].tolist() == [0.5, 0.5, 0.0, 0.0]
    assert out.loc["ALL", "horizon"] == pytest.approx(1 / 3)
    regression = summarize_labels(labels[["label"]], total=False)
    assert list(regression.columns) == ["n_rows", "n_labelled", "base_rate"]
