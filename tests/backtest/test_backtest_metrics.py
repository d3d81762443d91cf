"""Each metric against a hand computation of its published formula and, where empyrical defines the
same metric, against empyrical on the same returns."""

from __future__ import annotations

import json
import math
import statistics
from statistics import NormalDist

import empyrical
import numpy as np
import pandas as pd
import pytest

from qlop import metrics as m

R = [0.01, -0.02, 0.03, -0.01, 0.02, 0.0, -0.015]


def _hand_moments(x):
    mu = sum(x) / len(x)
    m2 = sum((v - mu) ** 2 for v in x) / len(x)
    m3 = sum((v - mu) ** 3 for v in x) / len(x)
    m4 = sum((v - mu) ** 4 for v in x) / len(x)
    return m3 / m2**1.5, m4 / m2**2


# ------------------------------------------------------------------------------ hand-computed cases
def test_total_return_and_cagr_by_hand():
    wealth = 1.0
    for r in R:
        wealth *= 1 + r
    assert m.total_return(R) == pytest.approx(wealth - 1, rel=1e-12)
    assert m.cagr(R, 252) == pytest.approx(wealth ** (252 / 7) - 1, rel=1e-12)
    assert m.cagr([-1.0, 0.1], 252) == -1.0


def test_volatility_sharpe_sortino_by_hand():
    mu, sd = statistics.mean(R), statistics.stdev(R)
    assert m.annual_volatility(R, 252) == pytest.approx(sd * math.sqrt(252), rel=1e-12)
    assert m.sharpe_ratio(R, periods_per_year=252) == pytest.approx(mu / sd * math.sqrt(252), rel=1e-12)
    # Sortino & Price: downside deviation over ALL periods, target 0
    dd = math.sqrt(sum(min(r, 0.0) ** 2 for r in R) / len(R)) * math.sqrt(252)
    assert m.downside_deviation(R, periods_per_year=252) == pytest.approx(dd, rel=1e-12)
    assert m.sortino_ratio(R, periods_per_year=252) == pytest.approx(mu * 252 / dd, rel=1e-12)
    assert math.isnan(m.sharpe_ratio([0.01, 0.01, 0.01], periods_per_year=252))


def test_drawdown_and_duration_by_hand():
    # wealth 1 -> 1.1 -> 0.99 -> 1.05 -> 1.12 -> 0.896 -> 0.9408
    wealth = [1.0, 1.1, 0.99, 1.05, 1.12, 0.896, 0.9408]
    r = [wealth[i + 1] / wealth[i] - 1 for i in range(6)]
    assert m.max_drawdown(r) == pytest.approx(0.896 / 1.12 - 1, rel=1e-12)
    assert m.calmar_ratio(r, 252) == pytest.approx(m.cagr(r, 252) / (1 - 0.896 / 1.12), rel=1e-12)
    # spells below a peak: 1.1 (periods 2..3, recovered at 4) and 1.12 (periods 5..6, open)
    # first spell: peak at index 0 (1.1), recovery index 3 -> 3 periods; second: peak 3 -> last 5 -> 2
    dates = pd.to_datetime(["2020-01-01", "2020-01-02", "2020-01-10", "2020-02-01", "2020-02-02", "2020-06-01"])
    n, days = m.max_drawdown_duration(r, dates)
    assert n == 3
    assert days == (pd.Timestamp("2020-02-01") - pd.Timestamp("2020-01-01")).days
    assert m.max_drawdown_duration([0.01, 0.02]) == (0, 0.0)


def test_psr_and_dsr_by_hand():
    x = R * 5
    n = len(x)
    sr = statistics.mean(x) / statistics.stdev(x)
    skew, kurt = _hand_moments(x)
    se = math.sqrt((1 - skew * sr + (kurt - 1) / 4 * sr**2) / (n - 1))
    assert m.probabilistic_sharpe_ratio(x) == pytest.approx(NormalDist().cdf(sr / se), rel=1e-12)
    assert m.probabilistic_sharpe_ratio(x, 0.05) == pytest.approx(NormalDist().cdf((sr - 0.05) / se), rel=1e-12)
    # expected maximum Sharpe of N skill-less trials, Bailey & Lopez de Prado (2014) eq. for SR0
    g = 0.5772156649015329
    n_trials = 100
    sr0 = se * (
        (1 - g) * NormalDist().inv_cdf(1 - 1 / n_trials) + g * NormalDist().inv_cdf(1 - 1 / (n_trials * math.e))
    )
    assert m.expected_max_sharpe(n_trials, se**2) == pytest.approx(sr0, rel=1e-12)
    assert m.deflated_sharpe_ratio(x, n_trials) == pytest.approx(NormalDist().cdf((sr - sr0) / se), rel=1e-12)
    assert m.deflated_sharpe_ratio(x, 1) == pytest.approx(m.probabilistic_sharpe_ratio(x), rel=1e-12)
    assert m.deflated_sharpe_ratio(x, 50) < m.deflated_sharpe_ratio(x, 2) < m.deflated_sharpe_ratio(x, 1)


def test_alpha_beta_correlation_by_hand():
    b = [0.01, -0.02, 0.015, 0.0, -0.005, 0.02]
    r = [2 * v + 0.001 for v in b]
    alpha, beta = m.alpha_beta(r, b, periods_per_year=252)
    assert beta == pytest.approx(2.0, rel=1e-12)
    assert alpha == pytest.approx(1.001**252 - 1, rel=1e-9)
    assert m.correlation(r, b) == pytest.approx(1.0, rel=1e-12)
    noisy = [v + e for v, e in zip(r, [0.003, -0.001, 0.0, 0.002, -0.004, 0.001])]
    mb, mr = statistics.mean(b), statistics.mean(noisy)
    cov = sum((x - mb) * (y - mr) for x, y in zip(b, noisy)) / len(b)
    var = sum((x - mb) ** 2 for x in b) / len(b)
    assert m.alpha_beta(noisy, b, periods_per_year=252)[1] == pytest.approx(cov / var, rel=1e-12)
    assert m.correlation(noisy, b) == pytest.approx(statistics.correlation(noisy, b), rel=1e-12)


def test_trade_statistics_by_hand():
    pnl = [100.0, -50.0, 30.0, -20.0, 0.0, 40.0]
    ret = [0.10, -0.05, 0.03, -0.02, 0.0, 0.04]
    assert m.win_rate(pnl) == pytest.approx(3 / 6)
    assert m.profit_factor(pnl) == pytest.approx(170 / 70)
    assert m.profit_factor([1.0, 2.0]) == math.inf
    assert m.expectancy(pnl) == pytest.approx(100 / 6)
    assert m.sqn(ret) == pytest.approx(math.sqrt(6) * statistics.mean(ret) / statistics.stdev(ret), rel=1e-12)
    w = 3 / 6
    avg_win, avg_loss = (0.10 + 0.03 + 0.04) / 3, (0.05 + 0.02) / 2
    assert m.kelly_fraction(ret) == pytest.approx(w - (1 - w) / (avg_win / avg_loss), rel=1e-12)
    assert math.isnan(m.kelly_fraction([0.1, 0.2]))


def test_returns_from_equity_start_at_initial_capital_and_stop_at_zero():
    r = m.returns_from_equity([110.0, 99.0, 0.0, 0.0], 100.0)
    np.testing.assert_allclose(r, [0.1, -0.1, -1.0, 0.0])


# --------------------------------------------------------------------------------- vs empyrical
@pytest.fixture(scope="module")
def returns():
    rng = np.random.default_rng(7)
    r = rng.standard_t(4, size=1500) * 0.01 + 0.0004
    b = 0.6 * r + rng.normal(0, 0.008, size=1500)
    return r, b


def test_against_empyrical(returns):
    r, b = returns
    assert m.cagr(r, 252) == pytest.approx(empyrical.annual_return(r), rel=1e-10)
    assert m.annual_volatility(r, 252) == pytest.approx(empyrical.annual_volatility(r), rel=1e-10)
    assert m.sharpe_ratio(r, periods_per_year=252) == pytest.approx(empyrical.sharpe_ratio(r), rel=1e-10)
    assert m.downside_deviation(r, periods_per_year=252) == pytest.approx(empyrical.downside_risk(r), rel=1e-10)
    assert m.sortino_ratio(r, periods_per_year=252) == pytest.approx(empyrical.sortino_ratio(r), rel=1e-10)
    assert m.max_drawdown(r) == pytest.approx(empyrical.max_drawdown(r), rel=1e-10)
    assert m.calmar_ratio(r, 252) == pytest.approx(empyrical.calmar_ratio(r), rel=1e-10)
    assert m.total_return(r) == pytest.approx(empyrical.cum_returns_final(r), rel=1e-10)
    alpha, beta = m.alpha_beta(r, b, periods_per_year=252)
    e_alpha, e_beta = empyrical.alpha_beta_aligned(r, b)
    assert beta == pytest.approx(e_beta, rel=1e-10)
    assert alpha == pytest.approx(e_alpha, rel=1e-10)
    np.testing.assert_allclose(m.drawdown_series(r), empyrical.stats.drawdown_series(r), rtol=1e-10, atol=1e-14)


# ------------------------------------------------------------------------------------ the table
def test_performance_metrics_is_json_safe_and_consistent(returns):
    r, b = returns
    equity = 1000.0 * np.cumprod(1 + r)
    dates = pd.bdate_range("2010-01-01", periods=r.size)
    trades = pd.DataFrame(
        {
            "pnl": [10.0, -5.0, 3.0],
            "return": [0.1, -0.05, 0.03],
            "fees": [1.0, 1.0, 1.0],
            "financing": [0.5, 0.0, 0.2],
            "exit_reason": ["tp", "liquidation", "signal"],
            "entry_notional": [100.0, 100.0, 100.0],
            "exit_notional": [110.0, 95.0, 103.0],
        }
    )
    b_with_gap = b.copy()
    b_with_gap[0] = np.nan
    out = m.performance_metrics(
        equity,
        1000.0,
        dates=dates,
        gross_exposure=np.full(r.size, 500.0),
        trades=trades,
        benchmark_returns=b_with_gap,
        n_trials=10,
    )
    json.dumps(out, allow_nan=False)
    # a business-day calendar without holidays: 261 bars in each full calendar year
    assert (out["periods_per_year"], out["periods_per_year_source"]) == (261.0, "inferred")
    ppy = out["periods_per_year"]
    assert out["total_return"] == pytest.approx(equity[-1] / 1000.0 - 1, rel=1e-10)
    assert out["sharpe"] == pytest.approx(empyrical.sharpe_ratio(r, annualization=ppy), rel=1e-10)
    assert out["beta"] == pytest.approx(empyrical.beta_aligned(r[1:], b[1:]), rel=1e-10)
    assert out["liquidations"] == 1 and out["n_trades"] == 3
    assert out["fees_paid"] == 3.0 and out["financing_paid"] == pytest.approx(0.7)
    assert out["avg_gross_leverage"] == pytest.approx(np.mean(500.0 / equity))
    assert out["exposure_time"] == 1.0
    years = ((dates[-1] - dates[0]).days + 1) / 365.25  # calendar time, the first bar counting one day
    assert out["years"] == pytest.approx(years, rel=1e-12)
    assert out["cagr"] == pytest.approx((equity[-1] / 1000.0) ** (1 / years) - 1, rel=1e-10)
    assert out["annual_turnover"] == pytest.approx((300 + 308) / 2 / equity.mean() / years)
    assert out["deflated_sharpe"] < out["probabilistic_sharpe"]
    assert out["start"] == "2010-01-01"
    empty = m.performance_metrics(np.full(3, 1000.0), 1000.0, trades=trades.iloc[:0], periods_per_year=252)
    json.dumps(empty, allow_nan=False)
    assert empty["sharpe"] is None and empty["n_trades"] == 0
