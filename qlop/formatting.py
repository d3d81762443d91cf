"""One number style and one set of human metric labels for every place QLOP shows a result.

The CLI answer, ``qlop runs list``, ``report.html`` and the GUI all format through this module, so the
same run reads the same everywhere: returns and drawdowns as percent with two decimals (returns
signed), ratios with two decimals, probabilities and skill scores with three, money with thousands
separators, counts with thousands separators, dates in ISO form (``2017-11-10``, never ``00:00:00``).

``METRICS`` names each metric once: a human label and a one-line explanation (shown as a tooltip
or a note). Import cost is the standard library only, so the CLI can use it on any path.
"""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass
from typing import Any

#: What a missing or undefined value prints as.
MISSING = "-"

#: The formats a metric can have (see :func:`format_value`).
KINDS = ("return", "pct", "ratio", "prob", "loss", "leverage", "money", "count", "days", "date", "text", "annual_rate")


def _number(value: Any) -> float | None:
    """A finite float, or None for None/NaN/inf/non-numbers (bools are not numbers here)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def pct(value: Any, digits: int = 2, signed: bool = False) -> str:
    """``0.01739`` -> ``1.74%`` (``+1.74%`` when ``signed``); shares, drawdowns, volatility."""
    v = _number(value)
    if v is None:
        return MISSING
    if round(v * 100, digits) == 0:
        return f"{0:.{digits}%}"  # no "-0.00%" or "+0.00%"
    return f"{v:+,.{digits}%}" if signed else f"{v:,.{digits}%}"


def rate(value: Any) -> str:
    """A configured rate or barrier as the shortest percent: ``0.05`` -> ``5%``, ``0.025`` -> ``2.5%``."""
    v = _number(value)
    if v is None:
        return MISSING
    text = f"{v * 100:,.4f}".rstrip("0").rstrip(".")
    return f"{'0' if text in ('-0', '') else text}%"


def annual_rate(value: Any) -> str:
    """An annual rate term: a constant as ``2% a year``, a rate series by its description (text)."""
    if isinstance(value, str):
        return value
    v = _number(value)
    return MISSING if v is None else f"{rate(v)} a year"


def bps(value: Any) -> str:
    """Basis points as configured, shortest form: ``1.0`` -> ``1 bp``, ``2`` -> ``2 bps``, ``0`` -> ``0 bps``."""
    v = _number(value)
    if v is None:
        return MISSING
    return f"{plain(v)} {'bp' if 0 < abs(v) <= 1 else 'bps'}"


def plain(value: Any, digits: int = 2) -> str:
    """A configured or inferred number in its shortest form, up to ``digits`` decimals, with thousands
    separators: ``252.0`` -> ``252``, ``365.25`` -> ``365.25``, ``1e-9`` -> ``0``."""
    v = _number(value)
    if v is None:
        return MISSING
    text = f"{v:,.{digits}f}".rstrip("0").rstrip(".") if digits else f"{v:,.0f}"
    return "0" if text in ("-0", "") else text


def ret(value: Any) -> str:
    """A return: signed percent with two decimals (``+1.74%``, ``-5.82%``)."""
    return pct(value, 2, signed=True)


def ratio(value: Any, digits: int = 2) -> str:
    """A ratio (Sharpe, profit factor, beta): two decimals."""
    v = _number(value)
    if v is None:
        return MISSING
    return f"{0:.{digits}f}" if round(v, digits) == 0 else f"{v:,.{digits}f}"


def prob(value: Any) -> str:
    """A probability or skill score (AUC, probabilistic Sharpe): three decimals."""
    return ratio(value, 3)


def loss(value: Any) -> str:
    """A log loss or Brier score: four decimals (skill shows in the third and fourth)."""
    return ratio(value, 4)


def leverage(value: Any) -> str:
    """A leverage multiple: ``2.50x``."""
    v = _number(value)
    return MISSING if v is None else f"{v:,.2f}x"


def money(value: Any) -> str:
    """An amount of money: thousands separators and cents (``94,183.85``)."""
    v = _number(value)
    return MISSING if v is None else f"{v:,.2f}"


def count(value: Any) -> str:
    """A count: an integer with thousands separators (``29,700``)."""
    v = _number(value)
    return MISSING if v is None else f"{int(round(v)):,d}"


def counted(value: Any, noun: str, plural: str | None = None) -> str:
    """A count with its noun, singular for exactly one (``1 trade``, ``2,048 trades``, ``0 trades``)."""
    v = _number(value)
    if v is None:
        return f"{MISSING} {plural or noun + 's'}"
    n = int(round(v))
    return f"{n:,d} {noun if n == 1 else plural or noun + 's'}"


def iso_date(value: Any) -> str:
    """A day as ``YYYY-MM-DD`` from a string, date, datetime, pandas Timestamp or numpy datetime64."""
    if value is None:
        return MISSING
    if isinstance(value, float) and not math.isfinite(value):
        return MISSING
    if isinstance(value, (_dt.date, _dt.datetime)) or hasattr(value, "isoformat"):
        try:
            text = value.isoformat()
        except (TypeError, ValueError):  # pandas NaT
            return MISSING
    else:
        text = str(value)
    if text in ("NaT", "nan", "None", ""):
        return MISSING
    return text[:10]


def timestamp(value: Any) -> str:
    """A moment as ``YYYY-MM-DD HH:MM`` (UTC stamps from manifests; seconds and zone dropped)."""
    if value is None or value == "":
        return MISSING
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return text[:16].replace("T", " ") if len(text) >= 16 else text


def bar_time(value: Any) -> str:
    """A bar's timestamp in messages: ``YYYY-MM-DD`` for a daily bar, ``YYYY-MM-DD HH:MM UTC`` for an
    intraday one (tz-aware, or a time of day other than midnight)."""
    import pandas as pd

    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        return str(value)
    if ts is pd.NaT:
        return MISSING
    if ts.tzinfo is None and ts == ts.normalize():
        return f"{ts:%Y-%m-%d}"
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC")
    return f"{ts:%Y-%m-%d %H:%M} UTC"


def duration(seconds: Any) -> str:
    """Elapsed or remaining time: ``4.2s`` under a minute, then ``1m05s``, then ``1h02m``."""
    v = _number(seconds)
    if v is None:
        return MISSING
    v = max(0.0, v)
    if v < 60:
        return f"{v:.1f}s"
    minutes, secs = divmod(int(round(v)), 60)
    return f"{minutes}m{secs:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


_FORMATTERS = {
    "return": ret,
    "pct": pct,
    "ratio": ratio,
    "prob": prob,
    "loss": loss,
    "leverage": leverage,
    "money": money,
    "count": count,
    "days": count,
    "date": iso_date,
    "annual_rate": annual_rate,
}


def format_value(value: Any, kind: str) -> str:
    """``value`` in the style of ``kind`` (one of :data:`KINDS`); ``text`` is ``str(value)``."""
    if kind == "text":
        return MISSING if value is None else str(value)
    try:
        return _FORMATTERS[kind](value)
    except KeyError:
        raise ValueError(f"unknown number kind {kind!r}; expected one of {', '.join(KINDS)}") from None


@dataclass(frozen=True)
class Metric:
    """A metric's human label, its number kind and a one-line explanation of what it means."""

    key: str
    label: str
    kind: str
    explain: str


def _m(key: str, label: str, kind: str, explain: str) -> tuple[str, Metric]:
    return key, Metric(key, label, kind, explain)


#: Every metric QLOP shows, keyed as in ``backtest/metrics.json`` and ``train_metrics.json``; the order
#: is the order of the backtest metrics table.
METRICS: dict[str, Metric] = dict(
    [
        _m("start", "Start", "date", "First day of the backtest (the first out-of-sample prediction)."),
        _m("end", "End", "date", "Last day of the backtest."),
        _m("years", "Years", "ratio", "Calendar span of the backtest in years of 365.25 days (CAGR's denominator)."),
        _m(
            "periods_per_year",
            "Periods per year",
            "ratio",
            "Bars per year used to annualise: the median bars per calendar year of the backtest's dates "
            "(252 for US stocks, 365 for a 7-day calendar), unless the config sets it.",
        ),
        _m("initial_capital", "Initial capital", "money", "Capital the backtest starts with."),
        _m("final_equity", "Final equity", "money", "Equity on the last day, after every cost."),
        _m("total_return", "Total return", "return", "Final equity over initial capital, minus one."),
        _m(
            "cagr",
            "CAGR",
            "return",
            "Compound annual growth rate: the total return as a yearly rate over calendar time.",
        ),
        _m(
            "annual_volatility",
            "Annual volatility",
            "pct",
            "Standard deviation of daily returns, annualised (x sqrt of the periods per year).",
        ),
        _m("sharpe", "Sharpe", "ratio", "Annualised mean daily return above the risk-free rate, over its volatility."),
        _m("sortino", "Sortino", "ratio", "Like Sharpe, but only downside volatility counts as risk."),
        _m("calmar", "Calmar", "ratio", "CAGR over the maximum drawdown's size."),
        _m("max_drawdown", "Max drawdown", "pct", "Largest fall of equity from a previous peak."),
        _m(
            "max_drawdown_duration_days",
            "Max drawdown duration (days)",
            "days",
            "Longest time, in calendar days, spent below a previous equity peak.",
        ),
        _m(
            "probabilistic_sharpe",
            "Probabilistic Sharpe",
            "prob",
            "Probability that the true Sharpe is above 0, given the sample's length, skew and kurtosis.",
        ),
        _m(
            "deflated_sharpe",
            "Deflated Sharpe",
            "prob",
            "Probabilistic Sharpe against the best Sharpe that many skill-less trials would reach; "
            "with 1 trial it equals the probabilistic Sharpe.",
        ),
        _m("exposure_time", "Time in market", "pct", "Share of days with at least one open position."),
        _m(
            "avg_gross_leverage",
            "Average exposure (gross leverage)",
            "leverage",
            "Open positions' gross value over equity, averaged over every day, idle days included: "
            "how much of the capital worked on average, not the leverage of each trade.",
        ),
        _m(
            "max_gross_leverage",
            "Peak exposure (gross leverage)",
            "leverage",
            "Highest gross value of open positions over equity on any day.",
        ),
        _m(
            "annual_turnover",
            "Annual turnover",
            "ratio",
            "Value traded per year (entries and exits, halved) over average equity.",
        ),
        _m("n_trades", "Trades", "count", "Number of closed trades."),
        _m("win_rate", "Win rate", "pct", "Share of trades with a positive P&L after costs."),
        _m("profit_factor", "Profit factor", "ratio", "Gross profits over gross losses (above 1 makes money)."),
        _m("expectancy", "Expectancy per trade", "money", "Average P&L of a trade, after costs."),
        _m(
            "expectancy_return",
            "Expectancy per trade (return)",
            "return",
            "Average return on margin of a trade, after costs.",
        ),
        _m(
            "sqn",
            "SQN",
            "ratio",
            "System quality number: sqrt(trades) x mean over standard deviation of trade returns.",
        ),
        _m(
            "kelly_fraction",
            "Kelly fraction",
            "prob",
            "Share of capital the Kelly criterion would stake per trade, from the win rate and payoff ratio.",
        ),
        _m("liquidations", "Liquidations", "count", "Trades closed by the broker at the maintenance margin."),
        _m("margin_calls", "Margin calls", "count", "Positions a cross-margin account closed to restore maintenance."),
        _m(
            "isolated_liquidations",
            "Isolated liquidations",
            "count",
            "Positions of a target-weight book closed at their own maintenance margin.",
        ),
        _m("bust_date", "Bust", "text", "The close at which the account's equity reached zero and it stopped trading."),
        _m("interest_earned", "Interest earned", "money", "Interest the account's idle cash earned."),
        _m("traded_notional", "Traded notional", "money", "Notional of every fill of a target-weight book."),
        _m("fees_paid", "Fees paid", "money", "Commission, slippage and liquidation fees over every trade."),
        _m(
            "financing_paid",
            "Financing paid",
            "money",
            "Interest on the borrowed part of leveraged positions (and short borrow fees).",
        ),
        _m(
            "benchmark_total_return",
            "Benchmark return",
            "return",
            "The benchmark's return over the same days (over the dates it covers when it covers only part); "
            "a price index leaves dividends out, a total-return series reinvests them.",
        ),
        _m(
            "alpha",
            "Alpha (annual)",
            "return",
            "Annualised return not explained by the benchmark (regression intercept).",
        ),
        _m("beta", "Beta", "ratio", "Sensitivity of daily returns to the benchmark's."),
        _m("correlation", "Correlation", "ratio", "Correlation of daily returns with the benchmark's."),
        _m(
            "risk_free",
            "Risk-free rate",
            "annual_rate",
            "Rate subtracted in Sharpe, Sortino and alpha: a constant or a rate series.",
        ),
        _m("risk_free_return", "Risk-free return", "return", "What the risk-free rate earned over the backtest."),
        _m("cash_rate", "Interest on idle cash", "annual_rate", "Rate the cash not committed as margin earns."),
        _m("financing_rate", "Financing rate", "annual_rate", "Rate paid on the borrowed part of leveraged longs."),
        _m(
            "day_count", "Day count", "text", "Every rate accrues per calendar day over 360 (act_360) or 365 (act_365)."
        ),
        _m(
            "margin_mode",
            "Margin mode",
            "text",
            "isolated: a position loses at most its margin; cross: one account equity backs every position.",
        ),
        _m("sizing", "Sizing", "text", "fixed: the strategy's size; vol_target: sized to a target volatility."),
        _m(
            "stop_slippage_bps",
            "Stop slippage (bps)",
            "ratio",
            "Extra slippage of stop-loss and liquidation fills, in bps of the exit notional.",
        ),
        # model skill (train_metrics.json, overall and per fold)
        _m(
            "auc",
            "AUC",
            "prob",
            "Chance the model ranks a random paying day above a random non-paying one (0.5 = no skill).",
        ),
        _m("log_loss", "Log loss", "loss", "Penalty for confident wrong probabilities (lower is better)."),
        _m(
            "base_rate_log_loss",
            "Log loss of the base rate",
            "loss",
            "Log loss of always predicting the base rate: the score to beat.",
        ),
        _m("brier", "Brier score", "loss", "Mean squared error of the probabilities (lower is better)."),
        _m("base_rate", "Base rate", "pct", "Share of labelled days on which the trade paid off."),
        _m("mean_prob", "Mean predicted probability", "prob", "Average predicted probability of a paying trade."),
        _m("precision", "Precision", "pct", "Share of days predicted to pay that did (at the model's threshold)."),
        _m("recall", "Recall", "pct", "Share of paying days the model predicted (at the model's threshold)."),
        _m(
            "positive_rate",
            "Predicted positive rate",
            "pct",
            "Share of days predicted to pay (at the model's threshold).",
        ),
        _m("ic", "IC", "prob", "Rank correlation of predictions with realised outcomes (regression)."),
        _m("n", "Out-of-sample rows", "count", "Labelled rows scored by a model that never saw them."),
        _m("n_folds", "Folds", "count", "Walk-forward folds that produced out-of-sample predictions."),
        # the exits the backtest used (backtest/metrics.json "exits")
        _m(
            "take_profit",
            "Take-profit",
            "pct",
            "Distance of the take-profit from the entry price, as a fraction of it.",
        ),
        _m("stop_loss", "Stop-loss", "pct", "Distance of the stop from the entry price, as a fraction of it."),
        _m("horizon", "Horizon (bars)", "count", "Bars a position is held at most, the entry bar included."),
    ]
)


def metric(key: str) -> Metric:
    """The :class:`Metric` for ``key``; an unknown key gets its key as label, a plain number kind."""
    found = METRICS.get(key)
    if found is not None:
        return found
    return Metric(key, key.replace("_", " ").capitalize(), "ratio", "")


def metric_label(key: str, metrics: dict[str, Any] | None = None) -> str:
    """The human label; the deflated Sharpe names its number of trials (``Deflated Sharpe (1 trial)``), the
    benchmark's return its ticker, kind and any partial coverage (``Benchmark return (SPY, total return)``)."""
    label = metric(key).label
    if key == "benchmark_total_return" and metrics is not None and metrics.get("benchmark"):
        label = f"{label} ({benchmark_text(metrics)})"
    if key == "periods_per_year" and metrics is not None and metrics.get("periods_per_year_source"):
        label = f"{label} ({metrics['periods_per_year_source']})"
    if key == "deflated_sharpe" and metrics is not None:
        trials = _number(metrics.get("n_trials"))
        if trials is not None:
            n = int(trials)
            label = f"{label} ({n:,d} trial{'' if n == 1 else 's'})"
    return label


#: How a benchmark's kind reads (``benchmark_kind`` in metrics.json).
BENCHMARK_KINDS = {"price": "price index", "total_return": "total return"}


def benchmark_text(metrics: dict[str, Any]) -> str:
    """The benchmark as the answer and the report name it: ``SPY, total return``, and
    ``, 2005-02-25 to 2017-11-10 only`` when it covers only part of the backtest (``none`` without one)."""
    name = metrics.get("benchmark")
    if not name:
        return "none"
    parts = [str(name)]
    kind = metrics.get("benchmark_kind")
    if kind:
        parts.append(BENCHMARK_KINDS.get(str(kind), str(kind)))
    cov = metrics.get("benchmark_coverage") or {}
    if cov and not cov.get("complete", True):
        parts.append(f"{iso_date(cov.get('overlap_start'))} to {iso_date(cov.get('overlap_end'))} only")
    return ", ".join(parts)


def metric_help(key: str) -> str:
    """The one-line explanation of ``key`` (empty for an unknown key)."""
    return metric(key).explain


def format_metric(key: str, value: Any) -> str:
    """``value`` formatted as metric ``key`` is everywhere (``format_metric("cagr", -0.0061)`` -> ``-0.61%``)."""
    kind = metric(key).kind
    if kind == "ratio" and key not in METRICS and isinstance(value, str):
        return value
    return format_value(value, kind)


#: The backtest metrics, in table order, that the answer, the report and the GUI show.
BACKTEST_KEYS: tuple[str, ...] = (
    "start",
    "end",
    "final_equity",
    "total_return",
    "cagr",
    "annual_volatility",
    "sharpe",
    "sortino",
    "calmar",
    "max_drawdown",
    "max_drawdown_duration_days",
    "probabilistic_sharpe",
    "deflated_sharpe",
    "exposure_time",
    "avg_gross_leverage",
    "max_gross_leverage",
    "annual_turnover",
    "n_trades",
    "win_rate",
    "profit_factor",
    "expectancy",
    "sqn",
    "kelly_fraction",
    "liquidations",
    "margin_calls",
    "isolated_liquidations",
    "bust_date",
    "traded_notional",
    "fees_paid",
    "financing_paid",
    "interest_earned",
    "benchmark_total_return",
    "alpha",
    "beta",
    "correlation",
    "years",
    "periods_per_year",
    "risk_free",
    "risk_free_return",
    "cash_rate",
    "financing_rate",
    "day_count",
    "stop_slippage_bps",
    "margin_mode",
    "sizing",
)

#: The few figures a one-line summary shows (``qlop runs list``, the GUI's headline).
HEADLINE_KEYS: tuple[str, ...] = ("total_return", "cagr", "sharpe", "max_drawdown", "n_trades")


def metric_rows(metrics: dict[str, Any], keys: tuple[str, ...] = BACKTEST_KEYS) -> list[tuple[str, str, str]]:
    """``(label, formatted value, explanation)`` for each of ``keys`` present in ``metrics``, in order."""
    return [(metric_label(k, metrics), format_metric(k, metrics.get(k)), metric_help(k)) for k in keys if k in metrics]
