"""Deflated Sharpe across trials against a reference written here from Bailey & Lopez de Prado (2014).

The reference follows the paper's formulas with scipy, independently of qlop.metrics:
    SR0 = sqrt(V[SR_n]) * ((1 - gamma) * Z^-1(1 - 1/N) + gamma * Z^-1(1 - 1/(N e)))      (eq. 2)
    DSR = Z((SR - SR0) * sqrt(T - 1) / sqrt(1 - g3 SR + (g4 - 1) / 4 SR^2))               (eq. 1)
with SR the non-annualised Sharpe estimate of each trial, V the variance of those estimates across the
N trials, g3/g4 the skewness and (non-excess) kurtosis of a trial's returns and T its length.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from qlop.metrics import deflated_sharpe_across_trials, expected_max_sharpe

GAMMA = 0.5772156649015329


def reference_sr0(n: int, variance: float) -> float:
    return math.sqrt(variance) * (
        (1 - GAMMA) * stats.norm.ppf(1 - 1 / n) + GAMMA * stats.norm.ppf(1 - 1 / (n * math.e))
    )


def reference_dsr_from_moments(sr: float, sr0: float, t: int, skew: float, kurt: float) -> float:
    return float(stats.norm.cdf((sr - sr0) * math.sqrt(t - 1) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr * sr)))


def reference(trials: list[np.ndarray]) -> tuple[float, float, list[float]]:
    srs = [float(np.mean(r) / np.std(r, ddof=1)) for r in trials]
    variance = float(np.var(srs, ddof=1))
    sr0 = reference_sr0(len(trials), variance)
    dsr = [
        reference_dsr_from_moments(
            sr, sr0, len(r), float(stats.skew(r, bias=True)), float(stats.kurtosis(r, fisher=False, bias=True))
        )
        for sr, r in zip(srs, trials)
    ]
    return variance, sr0, dsr


def test_the_reference_reproduces_the_papers_numerical_example() -> None:
    # Section "A numerical example": N = 100, V = 1/2 annualised, SR = 2.5 annualised, T = 1250 daily,
    # skewness -3, kurtosis 10: E[max SR] = 0.1132 and DSR = 0.9004 (250 days a year in the paper).
    sr0 = reference_sr0(100, 0.5 / 250)
    assert sr0 == pytest.approx(0.1132, abs=5e-5)
    assert expected_max_sharpe(100, 0.5 / 250) == pytest.approx(sr0, rel=1e-12)
    assert reference_dsr_from_moments(2.5 / math.sqrt(250), sr0, 1250, -3.0, 10.0) == pytest.approx(0.9004, abs=5e-4)


def _hand_made_trials() -> list[list[np.ndarray]]:
    rng = np.random.default_rng(20140101)
    gaussian = [rng.normal(mu, 0.01, 750) for mu in (0.0, 0.0002, 0.0005, -0.0003, 0.0008)]
    skewed = [np.exp(rng.normal(mu, 0.012, 500)) - 1.0 - 0.0001 * k for k, mu in enumerate((0.0, 0.0004, 0.001))]
    fat = [rng.standard_t(3, 1000) * 0.006 + mu for mu in (0.0001, 0.0003, 0.0006, 0.0, -0.0002, 0.0009, 0.0004)]
    two = [rng.normal(0.0004, 0.01, 300), rng.normal(0.0001, 0.02, 300)]
    return [gaussian, skewed, fat, two]


@pytest.mark.parametrize("trials", _hand_made_trials(), ids=["gaussian5", "skewed3", "fat-tailed7", "two"])
def test_dsr_of_every_trial_matches_the_reference(trials: list[np.ndarray]) -> None:
    variance, sr0, dsr = reference(trials)
    got = deflated_sharpe_across_trials(trials)
    assert got["n_trials"] == len(trials)
    assert got["sharpe_variance"] == pytest.approx(variance, rel=1e-10)
    assert got["sr0"] == pytest.approx(sr0, rel=1e-10)
    assert got["deflated_sharpe"] == pytest.approx(dsr, rel=1e-9, abs=1e-12)


def test_the_threshold_comes_from_the_spread_across_trials_not_one_runs_error() -> None:
    rng = np.random.default_rng(7)
    base = rng.normal(0.0005, 0.01, 1000)
    alike = [base + rng.normal(0, 1e-5, 1000) for _ in range(10)]  # ten near-copies: little spread
    spread = [rng.normal(mu, 0.01, 1000) for mu in np.linspace(-0.001, 0.001, 10)]
    assert deflated_sharpe_across_trials(alike)["sr0"] < 0.1 * deflated_sharpe_across_trials(spread)["sr0"]
    # more trials of the same spread raise the bar
    sr0_10 = reference_sr0(10, 1e-3)
    assert reference_sr0(100, 1e-3) > sr0_10 > 0


def test_a_trial_that_never_traded_counts_with_sharpe_zero_and_has_no_dsr() -> None:
    rng = np.random.default_rng(3)
    traded = [rng.normal(mu, 0.01, 400) for mu in (0.0002, 0.0007)]
    got = deflated_sharpe_across_trials([*traded, np.zeros(400)])
    srs = [float(np.mean(r) / np.std(r, ddof=1)) for r in traded] + [0.0]
    assert got["n_trials"] == 3
    assert got["sharpe_variance"] == pytest.approx(float(np.var(srs, ddof=1)), rel=1e-12)
    assert math.isnan(got["deflated_sharpe"][2]) and all(0 < d < 1 for d in got["deflated_sharpe"][:2])
