"""Performance metrics of a backtest: returns, risk, drawdowns, trades, Sharpe inference, benchmark.

Every function works on plain numpy arrays (daily simple returns, or per-trade figures) and follows
one published formula, named in its docstring. Conventions, shared with empyrical so figures can be
checked against it:

- daily returns are ``equity[t] / equity[t-1] - 1`` with the initial capital as ``equity[-1]``;
- annualisation uses ``periods_per_year`` and ``sqrt(periods_per_year)``: no number is assumed here;
  :func:`performance_metrics` infers it from the dates (median bars per calendar year,
  :func:`qlop.calendar.periods_per_year`) unless the caller sets it;
- CAGR compounds over calendar time (:func:`qlop.calendar.calendar_years`) when dates are known;
- standard deviations are sample ones (``ddof=1``); the risk-free return is given per period (a
  number or one value per return: a rate that varies over time), 0 unless given.

:func:`performance_metrics` assembles the whole table written to ``backtest/metrics.json``. Values
that are undefined (a ratio over zero, too few observations) are ``None`` there, never NaN.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

import numpy as np

EULER_GAMMA = 0.5772156649015329
_NORMAL = NormalDist()


def _arr(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=np.float64).ravel()


# ----------------------------------------------------------------------------------------- returns
def returns_from_equity(equity: Any, initial_capital: float) -> np.ndarray:
    """Daily simple returns of an equity curve; the first one is against ``initial_capital``.

    Once equity reaches zero it stays there (a wiped-out book), and later returns are 0, not NaN.
    """
    eq = _arr(equity)
    prev = np.concatenate(([float(initial_capital)], eq[:-1]))
    out = np.zeros_like(eq)
    np.divide(eq, prev, out=out, where=prev > 0)
    out -= 1.0
    out[prev <= 0] = 0.0
    return out


def total_return(returns: Any) -> float:
    """Compounded return over the whole period: ``prod(1 + r) - 1``."""
    r = _arr(returns)
    return float(np.prod(1.0 + r) - 1.0) if r.size else math.nan


def cagr(returns: Any, periods_per_year: float | None = None, *, years: float | None = None) -> float:
    """Compound annual growth rate: ``(1 + total return) ** (1 / years) - 1``, ``years`` the calendar
    span when known, else ``n / periods_per_year`` (bar count)."""
    r = _arr(returns)
    if r.size < 1:
        return math.nan
    if years is None:
        if periods_per_year is None:
            raise ValueError("cagr needs the calendar span (years) or periods_per_year")
        years = r.size / periods_per_year
    if not years > 0:
        return math.nan
    growth = 1.0 + total_return(r)
    if growth <= 0:
        return -1.0
    return float(growth ** (1.0 / years) - 1.0)


def annual_volatility(returns: Any, periods_per_year: float) -> float:
    """Sample standard deviation of the returns times ``sqrt(periods_per_year)``."""
    r = _arr(returns)
    if r.size < 2:
        return math.nan
    return float(np.std(r, ddof=1) * math.sqrt(periods_per_year))


def excess_returns(returns: Any, risk_free: Any = 0.0) -> np.ndarray:
    """``r - rf``: ``risk_free`` is the risk-free return of each period (a number, or one per return)."""
    r = _arr(returns)
    rf = np.asarray(risk_free, dtype=np.float64)
    if rf.ndim and rf.size != r.size:
        raise ValueError(f"risk-free returns ({rf.size}) must be one per return ({r.size})")
    return r - (rf.ravel() if rf.ndim else float(rf))


def sharpe_ratio(returns: Any, risk_free: Any = 0.0, *, periods_per_year: float) -> float:
    """Sharpe (1966, 1994): ``mean(r - rf) / std(r - rf) * sqrt(periods_per_year)``.

    ``risk_free`` is the risk-free return per period (a number or one per return). NaN when the
    excess returns have no dispersion.
    """
    r = excess_returns(returns, risk_free)
    if r.size < 2:
        return math.nan
    sd = np.std(r, ddof=1)
    if not sd > 1e-15 * max(1.0, float(np.abs(r).max())):
        return math.nan
    return float(np.mean(r) / sd * math.sqrt(periods_per_year))


def downside_deviation(returns: Any, required_return: Any = 0.0, *, periods_per_year: float) -> float:
    """Target downside deviation: ``sqrt(mean(min(r - target, 0) ** 2)) * sqrt(periods_per_year)``.

    Every period counts in the mean (Sortino and Price 1994; Rollinger and Hoffman 2013), not only
    the losing ones. The target is per period (a number or one per return: the risk-free return).
    """
    d = excess_returns(returns, required_return)
    if d.size < 1:
        return math.nan
    d = np.minimum(d, 0.0)
    return float(math.sqrt(np.mean(d * d)) * math.sqrt(periods_per_year))


def sortino_ratio(returns: Any, required_return: Any = 0.0, *, periods_per_year: float) -> float:
    """Sortino ratio: annualised mean excess return over the target downside deviation."""
    x = excess_returns(returns, required_return)
    if x.size < 2:
        return math.nan
    dd = downside_deviation(x, periods_per_year=periods_per_year)
    if dd == 0:
        return math.nan
    return float(np.mean(x) * periods_per_year / dd)


def drawdown_series(returns: Any) -> np.ndarray:
    """Drawdown after each period, ``wealth / running peak - 1``, the starting wealth counting as a peak."""
    r = _arr(returns)
    wealth = np.cumprod(np.concatenate(([1.0], 1.0 + r)))
    peak = np.maximum.accumulate(wealth)
    dd = np.zeros_like(wealth)
    np.divide(wealth, peak, out=dd, where=peak > 0)
    return (dd - 1.0)[1:]


def max_drawdown(returns: Any) -> float:
    """Largest peak-to-trough fall of wealth, as a negative fraction (0 when wealth never fell)."""
    r = _arr(returns)
    if r.size < 1:
        return math.nan
    return float(min(0.0, drawdown_series(r).min()))


def max_drawdown_duration(returns: Any, dates: Any | None = None) -> tuple[int, float]:
    """Longest time spent below a previous peak: ``(periods, calendar days)``.

    A spell starts at the peak and ends at the first period back at or above it, or at the last
    period if wealth never recovered. Calendar days need ``dates`` (one per return); the start date
    of a spell that begins at the initial capital is the period before the first date, taken as the
    first date itself.
    """
    r = _arr(returns)
    if r.size < 1:
        return 0, 0.0
    underwater = drawdown_series(r) < -1e-15
    best_n, best_days = 0, 0.0
    d = None if dates is None else np.asarray(dates, dtype="datetime64[ns]")
    # spells are runs of True; a spell's peak is the period just before the run
    padded = np.concatenate(([False], underwater, [False]))
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    for start, stop in zip(edges[::2], edges[1::2]):  # run is underwater[start:stop]
        recovered = stop < r.size
        end = stop if recovered else stop - 1  # index of the recovery (or last) period
        peak = start - 1  # -1 means the initial capital
        n = end - peak
        days = 0.0
        if d is not None:
            t0 = d[max(peak, 0)]
            days = float((d[end] - t0) / np.timedelta64(1, "D"))
        if n > best_n or (n == best_n and days > best_days):
            best_n, best_days = int(n), days
    return best_n, best_days


def calmar_ratio(returns: Any, periods_per_year: float | None = None, *, years: float | None = None) -> float:
    """Calmar (Young 1991): CAGR over the absolute maximum drawdown (NaN without a drawdown)."""
    mdd = max_drawdown(returns)
    if not mdd < 0:
        return math.nan
    return cagr(returns, periods_per_year, years=years) / abs(mdd)


# --------------------------------------------------------------------------- Sharpe-ratio inference
def _moments(r: np.ndarray) -> tuple[float, float]:
    """Sample skewness and (non-excess) kurtosis with population moments, as in Bailey & Lopez de Prado."""
    c = r - r.mean()
    m2 = float(np.mean(c * c))
    if m2 <= 0:
        return 0.0, 3.0
    return float(np.mean(c**3) / m2**1.5), float(np.mean(c**4) / m2**2)


def sharpe_std_error(returns: Any) -> float:
    """Standard error of the per-period Sharpe estimate under non-normal returns (Mertens 2002):
    ``sqrt((1 - skew*SR + (kurt - 1)/4 * SR^2) / (n - 1))``."""
    r = _arr(returns)
    if r.size < 3:
        return math.nan
    sd = np.std(r, ddof=1)
    if sd == 0:
        return math.nan
    sr = float(np.mean(r) / sd)
    skew, kurt = _moments(r)
    var = (1.0 - skew * sr + (kurt - 1.0) / 4.0 * sr * sr) / (r.size - 1)
    return math.sqrt(var) if var > 0 else math.nan


def probabilistic_sharpe_ratio(returns: Any, benchmark_sharpe: float = 0.0) -> float:
    """PSR (Bailey and Lopez de Prado 2012): probability that the true per-period Sharpe ratio exceeds
    ``benchmark_sharpe``: ``Phi((SR - SR*) / se(SR))`` with the non-normal standard error above."""
    r = _arr(returns)
    se = sharpe_std_error(r)
    if not se > 0:
        return math.nan
    sr = float(np.mean(r) / np.std(r, ddof=1))
    return float(_NORMAL.cdf((sr - benchmark_sharpe) / se))


def expected_max_sharpe(n_trials: int, sharpe_variance: float) -> float:
    """Expected maximum of ``n_trials`` skill-less Sharpe estimates (Bailey and Lopez de Prado 2014):
    ``sqrt(V) * ((1 - g) * Phi^-1(1 - 1/N) + g * Phi^-1(1 - 1/(N e)))``, g the Euler-Mascheroni constant.
    Zero for a single trial."""
    if n_trials <= 1:
        return 0.0
    n = float(n_trials)
    z1 = _NORMAL.inv_cdf(1.0 - 1.0 / n)
    z2 = _NORMAL.inv_cdf(1.0 - 1.0 / (n * math.e))
    return math.sqrt(sharpe_variance) * ((1.0 - EULER_GAMMA) * z1 + EULER_GAMMA * z2)


def deflated_sharpe_ratio(returns: Any, n_trials: int = 1, sharpe_variance: float | None = None) -> float:
    """DSR (Bailey and Lopez de Prado 2014): the PSR against the Sharpe ratio the best of ``n_trials``
    skill-less configurations would show by luck.

    ``sharpe_variance`` is the variance of the per-period Sharpe estimates across the trials; when it
    is not known it is taken as this estimate's own sampling variance (the trials are then assumed to
    be as noisy as this one). With one trial DSR equals PSR against zero.
    """
    r = _arr(returns)
    if sharpe_variance is None:
        se = sharpe_std_error(r)
        if not se > 0:
            return math.nan
        sharpe_variance = se * se
    return probabilistic_sharpe_ratio(r, expected_max_sharpe(n_trials, sharpe_variance))


def per_period_sharpe(returns: Any) -> float:
    """The non-annualised Sharpe estimate ``mean / std`` (``ddof=1``) the DSR formulas use; NaN when
    there are fewer than two returns or no variation."""
    r = _arr(returns)
    if r.size < 2:
        return math.nan
    sd = float(np.std(r, ddof=1))
    return float(np.mean(r) / sd) if sd > 0 else math.nan


def deflated_sharpe_across_trials(trial_returns: Any) -> dict[str, Any]:
    """DSR of every trial of a set, per Bailey and Lopez de Prado (2014), with the cross-trial variance.

    ``trial_returns`` holds each trial's per-period returns. ``N`` is the number of trials and ``V`` the
    sample variance (``ddof=1``) of their per-period Sharpe estimates: the dispersion of what was tried,
    not one run's own standard error. ``SR0 = sqrt(V) ((1 - g) Phi^-1(1 - 1/N) + g Phi^-1(1 - 1/(N e)))``
    is the Sharpe the best of N skill-less trials would show by luck, and each trial's DSR is its PSR
    against ``SR0``. A trial without a Sharpe estimate (it never traded: no variation) counts as a
    trial with Sharpe 0 and has no DSR of its own.
    """
    srs = [per_period_sharpe(r) for r in trial_returns]
    defined = [s if math.isfinite(s) else 0.0 for s in srs]
    n = len(defined)
    variance = float(np.var(defined, ddof=1)) if n > 1 else 0.0
    sr0 = expected_max_sharpe(n, variance)
    dsr = [probabilistic_sharpe_ratio(r, sr0) if math.isfinite(s) else math.nan for r, s in zip(trial_returns, srs)]
    return {"n_trials": n, "sharpe_variance": variance, "sr0": sr0, "sharpe": srs, "deflated_sharpe": dsr}


# ------------------------------------------------------------------------------------- benchmark
def alpha_beta(
    returns: Any, benchmark_returns: Any, *, periods_per_year: float, risk_free_returns: Any = 0.0
) -> tuple[float, float]:
    """CAPM regression of the excess returns on the benchmark's (Jensen 1968), both over the
    risk-free return per period: ``beta = cov(r - rf, b - rf) / var(b - rf)``; ``alpha`` is the mean
    residual ``(r - rf) - beta (b - rf)`` compounded to a year, ``(1 + mean) ** ppy - 1``."""
    r, b = _arr(returns), _arr(benchmark_returns)
    if r.size != b.size:
        raise ValueError("returns and benchmark returns must be aligned")
    r, b = excess_returns(r, risk_free_returns), excess_returns(b, risk_free_returns)
    if r.size < 2:
        return math.nan, math.nan
    bc = b - b.mean()
    var = float(np.mean(bc * bc))
    if var == 0:
        return math.nan, math.nan
    beta = float(np.mean(bc * r) / var)
    alpha = float((1.0 + np.mean(r - beta * b)) ** periods_per_year - 1.0)
    return alpha, beta


def correlation(returns: Any, benchmark_returns: Any) -> float:
    """Pearson correlation of the two return series."""
    r, b = _arr(returns), _arr(benchmark_returns)
    if r.size < 2 or np.std(r) == 0 or np.std(b) == 0:
        return math.nan
    return float(np.corrcoef(r, b)[0, 1])


# ------------------------------------------------------------------------------------------ trades
def win_rate(trade_returns: Any) -> float:
    """Share of trades with a positive result."""
    x = _arr(trade_returns)
    return float(np.mean(x > 0)) if x.size else math.nan


def profit_factor(trade_pnl: Any) -> float:
    """Gross profit over gross loss (``inf`` with profits and no losses, NaN with neither)."""
    x = _arr(trade_pnl)
    gains, losses = float(x[x > 0].sum()), float(-x[x < 0].sum())
    if losses == 0:
        return math.inf if gains > 0 else math.nan
    return gains / losses


def expectancy(trade_values: Any) -> float:
    """Mean result per trade (in the units given: currency for P&L, fraction for returns)."""
    x = _arr(trade_values)
    return float(x.mean()) if x.size else math.nan


def sqn(trade_returns: Any) -> float:
    """System Quality Number (Van Tharp): ``sqrt(N) * mean(R) / std(R)`` over the trades' results."""
    x = _arr(trade_returns)
    if x.size < 2:
        return math.nan
    sd = np.std(x, ddof=1)
    return float(math.sqrt(x.size) * x.mean() / sd) if sd > 0 else math.nan


def kelly_fraction(trade_returns: Any) -> float:
    """Kelly (1956) for a two-outcome bet: ``W - (1 - W) / R``, W the win rate and R the mean win over
    the mean loss (of the per-trade returns on margin). NaN without both wins and losses."""
    x = _arr(trade_returns)
    wins, losses = x[x > 0], x[x < 0]
    if wins.size == 0 or losses.size == 0:
        return math.nan
    w = wins.size / x.size
    ratio = wins.mean() / -losses.mean()
    return float(w - (1.0 - w) / ratio)


# ------------------------------------------------------------------------------------ the whole table
def _clean(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return v if math.isfinite(v) else None
    return value


def bar_periods_per_year(panel: Any, configured: float | None = None) -> tuple[float | None, str]:
    """Bars per year for annualising a backtest on ``panel``, and where the figure comes from: the
    configured value (``config``); for intraday bars the interval and session the panel records
    (``qlop.sessions.periods_per_year``: 24/7 hourly 8,760, XNYS hourly 1,764), named like ``1h 24/7``;
    for daily bars None (inferred from the dates by :func:`performance_metrics`)."""
    if configured is not None:
        return float(configured), "config"
    attrs = getattr(panel, "attrs", {}) or {}
    interval, session = attrs.get("interval"), attrs.get("session")
    if interval and session and interval != "1d":
        from qlop.sessions import periods_per_year

        return periods_per_year(interval, session), f"{interval} {session}"
    return None, "inferred"


def performance_metrics(
    equity: Any,
    initial_capital: float,
    *,
    dates: Any | None = None,
    gross_exposure: Any | None = None,
    trades: Any | None = None,
    benchmark_returns: Any | None = None,
    n_trials: int = 1,
    periods_per_year: float | None = None,
    risk_free_returns: Any = 0.0,
    periods_per_year_source: str = "config",
) -> dict[str, Any]:
    """Every headline metric of a backtest as JSON-safe values (``None`` where undefined).

    ``equity`` and ``gross_exposure`` are daily marks at the close; ``trades`` is the trade table
    (columns ``pnl``, ``return``, ``fees``, ``financing``, ``exit_reason``, ``entry_notional``,
    ``exit_notional``); ``benchmark_returns`` are the benchmark's daily returns on the same dates
    (NaN where it has no bar; those dates are left out of the regression). ``periods_per_year`` is
    inferred from ``dates`` when not given (``periods_per_year_source`` says which: ``config``, the
    interval and session of intraday bars such as ``1h 24/7`` (:func:`bar_periods_per_year`), or
    ``inferred``); ``dates`` may be bar times (datetime64, UTC);
    ``risk_free_returns`` is the risk-free return of each period (a number or one per mark), subtracted in Sharpe, Sortino,
    the Sharpe inference and alpha.
    """
    from qlop.calendar import calendar_years
    from qlop.calendar import periods_per_year as infer_periods

    eq = _arr(equity)
    r = returns_from_equity(eq, initial_capital)
    n = r.size
    source = periods_per_year_source
    if periods_per_year is None:
        if dates is None:
            raise ValueError("performance_metrics needs the dates or periods_per_year")
        periods_per_year, source = infer_periods(dates), "inferred"
    years = calendar_years(dates) if dates is not None and n else (n / periods_per_year if n else math.nan)
    x = excess_returns(r, risk_free_returns)
    mdd_n, mdd_days = max_drawdown_duration(r, dates)
    out: dict[str, Any] = {
        "start": None if dates is None or n == 0 else str(np.datetime_as_string(np.asarray(dates, "datetime64[D]")[0])),
        "end": None if dates is None or n == 0 else str(np.datetime_as_string(np.asarray(dates, "datetime64[D]")[-1])),
        "days": n,
        "initial_capital": float(initial_capital),
        "final_equity": float(eq[-1]) if n else float(initial_capital),
        "years": years,
        "periods_per_year": float(periods_per_year),
        "periods_per_year_source": source,
        "total_return": total_return(r),
        "cagr": cagr(r, periods_per_year, years=years),
        "annual_volatility": annual_volatility(r, periods_per_year),
        "risk_free_return": total_return(np.broadcast_to(np.asarray(risk_free_returns, dtype=np.float64), r.shape))
        if n
        else None,
        "sharpe": sharpe_ratio(x, periods_per_year=periods_per_year),
        "sortino": sortino_ratio(x, periods_per_year=periods_per_year),
        "calmar": calmar_ratio(r, periods_per_year, years=years),
        "max_drawdown": max_drawdown(r),
        "max_drawdown_duration_bars": mdd_n,
        "max_drawdown_duration_days": mdd_days,
        "probabilistic_sharpe": probabilistic_sharpe_ratio(x),
        "deflated_sharpe": deflated_sharpe_ratio(x, n_trials),
        "n_trials": int(n_trials),
    }
    if gross_exposure is not None and n:
        gross = _arr(gross_exposure)
        lev = np.zeros_like(gross)
        np.divide(gross, eq, out=lev, where=eq > 0)
        out["exposure_time"] = float(np.mean(gross > 0))
        out["avg_gross_leverage"] = float(lev.mean())
        out["max_gross_leverage"] = float(lev.max())
    if trades is not None:
        pnl = _arr(trades["pnl"]) if len(trades) else np.zeros(0)
        ret = _arr(trades["return"]) if len(trades) else np.zeros(0)
        traded = 0.0
        if len(trades):
            traded = float(np.sum(_arr(trades["entry_notional"])) + np.sum(_arr(trades["exit_notional"])))
        mean_eq = float(eq.mean()) if n else math.nan
        out.update(
            {
                "n_trades": int(pnl.size),
                "win_rate": win_rate(pnl),
                "profit_factor": profit_factor(pnl),
                "expectancy": expectancy(pnl),
                "expectancy_return": expectancy(ret),
                "sqn": sqn(ret),
                "kelly_fraction": kelly_fraction(ret),
                "annual_turnover": (traded / 2.0 / mean_eq / years) if n and mean_eq > 0 else math.nan,
                "liquidations": int(np.sum(np.asarray(trades["exit_reason"]) == "liquidation")) if len(trades) else 0,
                "fees_paid": float(np.sum(_arr(trades["fees"]))) if len(trades) else 0.0,
                "financing_paid": float(np.sum(_arr(trades["financing"]))) if len(trades) else 0.0,
            }
        )
    if benchmark_returns is not None and n:
        b = _arr(benchmark_returns)
        ok = np.isfinite(b)
        rf = np.broadcast_to(np.asarray(risk_free_returns, dtype=np.float64), r.shape)
        alpha, beta = alpha_beta(r[ok], b[ok], periods_per_year=periods_per_year, risk_free_returns=rf[ok])
        out.update(
            {
                "benchmark_total_return": total_return(b[ok]),
                "alpha": alpha,
                "beta": beta,
                "correlation": correlation(r[ok], b[ok]),
            }
        )
    return {k: _clean(v) for k, v in out.items()}
