"""The one number style: every place that shows a result formats through qlop.formatting."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from qlop import formatting as f


def test_each_kind_has_its_style():
    assert f.ret(-0.0582) == "-5.82%" and f.ret(0.7586) == "+75.86%"
    assert f.pct(-0.25918) == "-25.92%" and f.pct(0.4752, 0) == "48%"
    assert f.ratio(-0.0412) == "-0.04" and f.ratio(1234.5) == "1,234.50"
    assert f.prob(0.45512) == "0.455" and f.loss(0.69421) == "0.6942"
    assert f.money(94183.851) == "94,183.85" and f.count(29700) == "29,700"
    assert f.leverage(0.0812) == "0.08x" and f.rate(0.025) == "2.5%" and f.rate(0.05) == "5%"


def test_a_count_with_its_noun_is_singular_for_exactly_one():
    assert f.counted(1, "trade") == "1 trade" and f.counted(0, "trade") == "0 trades"
    assert f.counted(2048, "trade") == "2,048 trades" and f.counted(1.0, "forced close") == "1 forced close"
    assert f.counted(None, "trade") == f"{f.MISSING} trades"


def test_rounding_to_zero_drops_the_sign():
    assert f.ret(-0.00001) == "0.00%" and f.ratio(-0.001) == "0.00" and f.pct(0.00004) == "0.00%"


@pytest.mark.parametrize(
    "value",
    [
        "2017-11-10",
        "2017-11-10T00:00:00",
        pd.Timestamp("2017-11-10"),
        np.datetime64("2017-11-10"),
        dt.date(2017, 11, 10),
        dt.datetime(2017, 11, 10),
    ],
)
def test_dates_are_iso_days_without_a_time(value):
    assert f.iso_date(value) == "2017-11-10"


def test_missing_values_print_the_same_everywhere():
    for fn in (f.ret, f.pct, f.ratio, f.prob, f.money, f.count, f.leverage, f.iso_date):
        assert fn(None) == f.MISSING
    assert f.ratio(float("nan")) == f.MISSING and f.iso_date(pd.NaT) == f.MISSING and f.pct(True) == f.MISSING


def test_every_metric_has_a_label_a_known_kind_and_an_explanation():
    for key, m in f.METRICS.items():
        assert m.key == key and m.kind in f.KINDS and m.label and m.explain.endswith(".")
    assert set(f.BACKTEST_KEYS) <= set(f.METRICS) and set(f.HEADLINE_KEYS) <= set(f.METRICS)


def test_the_deflated_sharpe_names_its_trials():
    assert f.metric_label("deflated_sharpe", {"n_trials": 1}) == "Deflated Sharpe (1 trial)"
    assert f.metric_label("deflated_sharpe", {"n_trials": 24}) == "Deflated Sharpe (24 trials)"
    assert f.metric_label("deflated_sharpe") == "Deflated Sharpe"


def test_metric_rows_follow_the_table_order_and_skip_absent_metrics():
    rows = f.metric_rows({"sharpe": 0.5209, "total_return": 0.01739, "n_trials": 1, "deflated_sharpe": 0.7})
    assert [(label, value) for label, value, _ in rows] == [
        ("Total return", "+1.74%"),
        ("Sharpe", "0.52"),
        ("Deflated Sharpe (1 trial)", "0.700"),
    ]
    assert "idle days included" in f.metric_help("avg_gross_leverage")


def test_unknown_keys_and_kinds():
    assert f.metric_label("my_score") == "My score" and f.format_metric("my_score", 0.123) == "0.12"
    with pytest.raises(ValueError, match="unknown number kind 'bogus'"):
        f.format_value(1.0, "bogus")


def test_durations():
    assert [f.duration(s) for s in (0.04, 4.24, 75, 3725, None)] == ["0.0s", "4.2s", "1m15s", "1h02m", f.MISSING]
    assert f.timestamp("2026-12-02T15:24:14.123+00:00") == "2026-12-02 15:24"


def test_configured_numbers_print_in_their_shortest_form():
    assert [f.bps(v) for v in (1.0, 2, 0.5, 0, 1500, None)] == ["1 bp", "2 bps", "0.5 bp", "0 bps", "1,500 bps", "-"]
    assert [f.plain(v) for v in (252.0, 365.25, 1e-9, -0.001, 1234.5, float("nan"))] == [
        "252",
        "365.25",
        "0",
        "0",
        "1,234.5",
        "-",
    ]
