"""What a run's results say, as tables and series: the view models of report.html and the GUI's run page.

Data preparation only (no plotting, no HTML, no Streamlit): each function takes frames a run left and
returns a frame, a series or rows; ``qlop.report`` draws them into report.html and the GUI's Runs page
draws the same ones, so both explain a run the same way. Numbers stay numbers here; :func:`display`
formats a table in the one number style (:mod:`qlop.formatting`).

Sections: the three-part answer, a config summary, per-fold model skill, label statistics per ticker,
P&L per ticker, prices with entries and exits, the predicted probability against the strategy's
thresholds (and a per-year table that shows why a strategy sat idle), monthly returns (blank for months
without a position) and gross / net leverage.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qlop.formatting import bps, count, format_value, leverage, money, rate

if TYPE_CHECKING:
    import pandas as pd

EXIT_REASONS = ("tp", "sl", "liquidation", "horizon", "signal", "end")
#: Human names of the exit reasons the simulator and the engine record.
EXIT_NAMES = {
    "tp": "take-profit",
    "sl": "stop-loss",
    "liquidation": "liquidation",
    "horizon": "horizon",
    "signal": "signal",
    "end": "end of data",
    "session": "session close",
}


@dataclass
class RunData:
    """The artefacts of one run that the views read; None where the run has none."""

    run_dir: Path | None = None
    config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] | None = None
    train_metrics: dict[str, Any] | None = None
    folds: list[dict[str, Any]] | None = None
    equity: "pd.DataFrame | None" = None
    trades: "pd.DataFrame | None" = None
    labels: "pd.DataFrame | None" = None
    predictions: "pd.DataFrame | None" = None
    panel: "pd.DataFrame | None" = None


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _parquet(path: Path, columns: list[str] | None = None) -> Any:
    import pandas as pd

    if not path.is_file():
        return None
    try:
        return pd.read_parquet(path, columns=columns)
    except (OSError, ValueError, KeyError):
        return None


def load_run(run_dir: str | Path, **given: Any) -> RunData:
    """Read a run directory's artefacts; ``given`` ones (the backtest stage's in-memory results) win."""
    from qlop.layout import RunLayout

    layout = RunLayout(run_dir)
    data = RunData(run_dir=layout.root)
    loaders = {
        "config": lambda: _json(layout.config) or {},
        "metrics": lambda: _json(layout.backtest_metrics),
        "train_metrics": lambda: _json(layout.train_metrics),
        "folds": lambda: _json(layout.folds),
        "equity": lambda: _parquet(layout.equity),
        "trades": lambda: _parquet(layout.trades),
        "labels": lambda: _parquet(layout.labels),
        "predictions": lambda: _parquet(layout.predictions),
        "panel": lambda: _parquet(layout.data, ["close"]),
    }
    for name, load in loaders.items():
        value = given[name] if name in given else load()
        setattr(data, name, utc_naive(value) if name in _FRAMES else value)
    return data


_FRAMES = ("equity", "trades", "labels", "predictions", "panel")


def has_times(dates: Any) -> bool:
    """Intraday bar times (any time of day other than midnight) rather than dates."""
    import pandas as pd

    values = pd.DatetimeIndex(dates)
    return bool(len(values)) and bool((values != values.normalize()).any())


def utc_naive(frame: Any) -> Any:
    """``frame`` with intraday bar times (tz-aware index levels and columns) as naive UTC timestamps:
    the views compare, group by month and draw them like daily dates, and label them UTC."""
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        return frame

    def naive(values: Any) -> Any:
        return values.tz_convert("UTC").tz_localize(None) if getattr(values, "tz", None) is not None else values

    index = frame.index
    if isinstance(index, pd.MultiIndex):
        levels = [naive(lv) if isinstance(lv, pd.DatetimeIndex) else lv for lv in index.levels]
        changed = any(a is not b for a, b in zip(levels, index.levels))
        new_index: Any = index.set_levels(levels, verify_integrity=False) if changed else index
    else:
        new_index = naive(index) if isinstance(index, pd.DatetimeIndex) else index
    aware = [c for c in frame.columns if isinstance(frame[c].dtype, pd.DatetimeTZDtype)]
    if new_index is index and not aware:
        return frame
    out = frame.copy()
    out.index = new_index
    for c in aware:
        out[c] = out[c].dt.tz_convert("UTC").dt.tz_localize(None)
    return out


# ------------------------------------------------------------------------------------ config


def config_summary(config: dict[str, Any], n_folds: int | None = None) -> list[tuple[str, str, str]]:
    """``(section, item, value)`` rows: universe, the labelled trade, model and folds, backtest terms."""
    rows: list[tuple[str, str, str]] = []
    data = config.get("data") or {}
    if data:
        tickers = list(data.get("tickers") or [])
        shown = ", ".join(tickers[:12]) + (f" and {len(tickers) - 12} more" if len(tickers) > 12 else "")
        rows += [
            ("Universe", "Tickers", f"{shown} ({len(tickers)})"),
            ("Universe", "Dates", f"{data.get('start_date') or 'first'} to {data.get('end_date') or 'last'}"),
            ("Universe", "Source", str(data.get("data_source_type"))),
        ]
    label = config.get("label") or {}
    if label:
        from qlop.answer import label_trade_rules

        rows.append(("Label", "Type", str(label.get("label_type"))))
        rules = label_trade_rules(label)  # the label's own account of its trade, whatever its params
        if rules is not None:
            rows += [
                ("Label", "Trade", f"{rules.side} at {leverage(rules.leverage)}, held up to {rules.horizon} bars"),
                ("Label", "Barriers", f"take-profit {rate(rules.take_profit)}, stop-loss {rate(rules.stop_loss)}"),
            ]
            rows += _terms_rows("Label", rules.model_dump())
        hurdle = (label.get("label_params") or {}).get("hurdle")
        if isinstance(hurdle, (int, float)):
            rows.append(("Label", "Pays off when", f"net return on margin > {rate(hurdle)}"))
    model = config.get("model") or {}
    if model:
        v = model.get("validation") or {}
        rows.append(("Model", "Type", str(model.get("model_type"))))
        scheme = v.get("scheme", "walk_forward")
        if scheme == "walk_forward":
            text = (
                f"walk-forward, {v.get('window', 'expanding')} window, {v.get('train_years')} years to train, "
                f"{v.get('test_months')} months per test"
            )
        else:
            text = f"{scheme}, {v.get('n_splits')} splits"
        rows.append(("Model", "Validation", text))
        if scheme == "walk_forward":  # no training row comes after a test period: nothing to embargo
            rows.append(
                (
                    "Model",
                    "Purging",
                    "training rows whose label window reaches the test period are dropped; "
                    "no embargo is needed (no training row follows a test period)",
                )
            )
        else:
            rows.append(
                (
                    "Model",
                    "Purging and embargo",
                    f"overlapping labels purged, then {v.get('embargo_days') if v.get('embargo_days') is not None else 'horizon'}"
                    " bars after each test period embargoed",
                )
            )
        if n_folds is not None:
            rows.append(("Model", "Folds", count(n_folds)))
    bt = config.get("backtest") or {}
    if bt:
        sp = bt.get("strategy_params") or {}
        rows.append(
            (
                "Backtest",
                "Strategy",
                f"{bt.get('strategy_type')}"
                + (
                    f" ({', '.join(f'{k} {v}' for k, v in sp.items() if isinstance(v, (int, float, str)))})"
                    if sp
                    else ""
                ),
            )
        )
        rows.append(("Backtest", "Capital", money(bt.get("initial_capital"))))
        if bt.get("leverage") is not None:
            rows.append(
                (
                    "Backtest",
                    "Leverage",
                    f"{leverage(bt['leverage'])} per position, at most {leverage(bt.get('max_gross_leverage'))} gross",
                )
            )
        if bt.get("position_size") is not None:
            rows.append(
                (
                    "Backtest",
                    "Sizing",
                    f"{rate(bt['position_size'])} of equity as margin per position, "
                    f"at most {bt.get('max_positions')} positions",
                )
            )
        if bt.get("margin_mode") is not None:
            mode = (
                "cross: one account equity backs every position, margin calls close the largest loss first"
                if bt["margin_mode"] == "cross"
                else "isolated: a position loses at most its margin"
            )
            rows.append(("Backtest", "Margin mode", mode))
        if bt.get("sizing") == "vol_target":
            rows.append(
                (
                    "Backtest",
                    "Volatility target",
                    f"{rate(bt.get('target_vol'))} a year per position over {bt.get('vol_lookback')} bars, "
                    f"at most {leverage(bt.get('max_leverage'))} each",
                )
            )
        rows += _terms_rows("Backtest", bt)
        bench = bt.get("benchmark")
        if isinstance(bench, dict):
            bench = f"{bench.get('ticker')} ({bench.get('source') or bench.get('data_source_type') or 'data'})"
        rows.append(("Backtest", "Benchmark", str(bench or "none")))
    return rows


def _terms_rows(section: str, p: dict[str, Any]) -> list[tuple[str, str, str]]:
    rows = []
    if "commission_bps" in p or "slippage_bps" in p:
        rows.append(
            (
                section,
                "Costs",
                f"commission {bps(p.get('commission_bps', 0))} + slippage {bps(p.get('slippage_bps', 0))} per leg",
            )
        )
    if "financing_rate" in p or "maintenance_margin" in p:
        rows.append(
            (
                section,
                "Rates",
                f"financing {rate(p.get('financing_rate', 0))} a year on the borrowed part, "
                f"maintenance margin {rate(p.get('maintenance_margin'))}",
            )
        )
    return rows


# ------------------------------------------------------------------------------- the model


def fold_skill(train_metrics: dict[str, Any] | None) -> "pd.DataFrame | None":
    """One row per walk-forward fold: test dates, rows, AUC, log loss against the base rate's, base rate."""
    import pandas as pd

    folds = (train_metrics or {}).get("folds")
    if not folds:
        return None
    frame = pd.DataFrame(folds)
    if "base_rate" in frame.columns:
        frame["base_rate_log_loss"] = [base_rate_log_loss(b) for b in frame["base_rate"]]
    keep = [
        c
        for c in ("fold", "test_start", "test_end", "n", "auc", "log_loss", "base_rate_log_loss", "base_rate", "ic")
        if c in frame.columns
    ]
    frame = frame[keep].copy()
    if "fold" in frame.columns:
        frame["fold"] = frame["fold"].astype(int) + 1  # folds read from 1, as in "fold 3/10"
    return frame


def base_rate_log_loss(base: Any) -> float:
    """Log loss of always predicting the base rate: what a model must beat."""
    try:
        b = float(base)
    except (TypeError, ValueError):
        return math.nan
    if not 0 < b < 1:
        return math.nan
    return -(b * math.log(b) + (1 - b) * math.log(1 - b))


# ------------------------------------------------------------------------------- the labels


#: Exit reasons a label can carry, in display order.
LABEL_REASONS: tuple[str, ...] = ("tp", "sl", "liquidation", "horizon")
#: The columns of :func:`summarize_labels` that are not exit-reason shares.
SUMMARY_COLUMNS = ("n_rows", "n_labelled", "base_rate", "mean_net_return")


def summarize_labels(labels: "pd.DataFrame", total: bool = True) -> "pd.DataFrame":
    """One row per ticker (plus ``ALL`` when ``total``), columns:

    ``n_rows``, ``n_labelled`` (non-NaN ``label``), ``base_rate`` (mean label over labelled rows: the
    positive rate of a classification label, the mean of a regression one), ``mean_net_return`` when
    the frame has ``net_return``, and when it has ``exit_reason`` the share of labelled rows per
    reason (``tp``, ``sl``, ``liquidation``, ``horizon``, then any other reason present).
    """
    import numpy as np
    import pandas as pd

    if "label" not in labels.columns:
        raise ValueError("summarize_labels: the frame has no 'label' column")
    tickers = labels.index.get_level_values(0) if labels.index.nlevels > 1 else pd.Index(["ALL"] * len(labels))
    label = labels["label"].to_numpy(dtype=np.float64)
    known = ~np.isnan(label)
    work = pd.DataFrame(
        {"ticker": np.asarray(tickers, dtype=object), "known": known, "label": np.where(known, label, np.nan)}
    )
    if "net_return" in labels.columns:
        work["net_return"] = labels["net_return"].to_numpy(dtype=np.float64)
    reasons: list[str] = []
    if "exit_reason" in labels.columns:
        raw = labels["exit_reason"].to_numpy(dtype=object)
        present = {r for r in pd.unique(raw[known]) if isinstance(r, str)}
        reasons = list(LABEL_REASONS)
        reasons += sorted(
            present - set(reasons), key=lambda r: EXIT_REASONS.index(r) if r in EXIT_REASONS else len(EXIT_REASONS)
        )
        for r in reasons:
            work[r] = known & (raw == r)

    def _agg(frame: "pd.DataFrame") -> "pd.DataFrame":
        g = frame.groupby("ticker", sort=True)
        out = pd.DataFrame({"n_rows": g.size(), "n_labelled": g["known"].sum()})
        out["base_rate"] = g["label"].mean()
        if "net_return" in frame.columns:
            out["mean_net_return"] = g["net_return"].mean()
        for r in reasons:
            out[r] = g[r].sum() / out["n_labelled"].where(out["n_labelled"] > 0)
        return out

    out = _agg(work)
    if total and len(work):
        out = pd.concat([out, _agg(work.assign(ticker="ALL"))])
    out.index.name = "ticker"
    out["n_rows"] = out["n_rows"].astype(np.int64)
    out["n_labelled"] = out["n_labelled"].astype(np.int64)
    return out


def label_stats(labels: "pd.DataFrame | None") -> "pd.DataFrame | None":
    """Per ticker (and all): labelled days, base rate (share that paid off) and the exit mix; the
    report's and the GUI's view of :func:`summarize_labels`."""
    import pandas as pd

    if labels is None or "label" not in labels.columns:
        return None
    per = summarize_labels(labels, total=False)
    per = per[per["n_labelled"] > 0]
    if per.empty:
        return None
    overall = summarize_labels(labels.reset_index(drop=True), total=False).iloc[0]
    reasons = [c for c in per.columns if c not in SUMMARY_COLUMNS and overall[c] > 0]
    reasons = [r for r in EXIT_REASONS if r in reasons] + [r for r in reasons if r not in EXIT_REASONS]
    out = pd.DataFrame({"days": per["n_labelled"], "base_rate": per["base_rate"], **{r: per[r] for r in reasons}})
    total = pd.DataFrame(
        [{"days": int(overall["n_labelled"]), "base_rate": overall["base_rate"], **{r: overall[r] for r in reasons}}],
        index=pd.Index(["All tickers"], name="ticker"),
    )
    return pd.concat([out, total])


# ------------------------------------------------------------------------------- the trades


def ticker_pnl(trades: "pd.DataFrame | None") -> "pd.DataFrame | None":
    """Per ticker (best first, then all): trades, win rate, P&L after costs, fees, financing, mean return."""
    import pandas as pd

    if trades is None or trades.empty:
        return None
    g = trades.groupby("ticker")
    out = pd.DataFrame(
        {
            "trades": g.size(),
            "win_rate": g["pnl"].apply(lambda s: float((s > 0).mean())),
            "pnl": g["pnl"].sum(),
            "fees": g["fees"].sum(),
            "financing": g["financing"].sum(),
            "mean_return": g["return"].mean(),
        }
    ).sort_values("pnl", ascending=False)
    total = {
        "trades": len(trades),
        "win_rate": float((trades["pnl"] > 0).mean()),
        "pnl": float(trades["pnl"].sum()),
        "fees": float(trades["fees"].sum()),
        "financing": float(trades["financing"].sum()),
        "mean_return": float(trades["return"].mean()),
    }
    out.index.name = "ticker"
    return pd.concat([out, pd.DataFrame([total], index=pd.Index(["All tickers"], name="ticker"))])


def price_with_trades(
    panel: "pd.DataFrame | None", trades: "pd.DataFrame | None", ticker: str, start: Any = None
) -> dict[str, Any] | None:
    """A ticker's closes (from ``start``) with its entries and exits: ``{"close", "entries", "exits"}``.

    Entries are at the entry bar's open price (the fill), exits at the exit price, with the reason
    and the trade's P&L for the hover text.
    """
    import pandas as pd

    if panel is None or "close" not in panel.columns or ticker not in panel.index.get_level_values("ticker"):
        return None
    close = panel.xs(ticker, level="ticker")["close"]
    if start is not None:
        close = close[close.index >= pd.Timestamp(start)]
    mine = trades[trades["ticker"] == ticker] if trades is not None and len(trades) else None
    entries = pd.DataFrame(columns=["date", "price", "side"])
    exits = pd.DataFrame(columns=["date", "price", "reason", "pnl"])
    if mine is not None and len(mine):
        entries = pd.DataFrame(
            {
                "date": pd.to_datetime(mine["entry_date"]).to_numpy(),
                "price": mine["entry_price"].to_numpy(),
                "side": mine["side"].to_numpy(),
            }
        )
        exits = pd.DataFrame(
            {
                "date": pd.to_datetime(mine["exit_date"]).to_numpy(),
                "price": mine["exit_price"].to_numpy(),
                "reason": mine["exit_reason"].to_numpy(),
                "pnl": mine["pnl"].to_numpy(),
            }
        )
    return {"close": close, "entries": entries, "exits": exits}


def traded_tickers(trades: "pd.DataFrame | None", panel: "pd.DataFrame | None") -> list[str]:
    """Tickers in order of trade count (most first), then those that never traded."""
    names = list(dict.fromkeys(panel.index.get_level_values("ticker"))) if panel is not None else []
    if trades is None or trades.empty:
        return names
    counts = trades["ticker"].value_counts()
    return list(counts.index) + [t for t in names if t not in counts.index]


# -------------------------------------------------------------------------- the predictions


def probability_path(predictions: "pd.DataFrame | None") -> "pd.DataFrame | None":
    """Per date: the highest and the median out-of-sample probability across tickers."""
    if predictions is None or "prob" not in predictions.columns:
        return None
    by_date = predictions["prob"].groupby(level="date")
    out = by_date.agg(["max", "median"]).rename(columns={"max": "highest", "median": "median"})
    return out.sort_index()


def idle_by_year(
    predictions: "pd.DataFrame | None",
    thresholds: dict[str, float] | None,
    trades: "pd.DataFrame | None",
    equity: "pd.DataFrame | None",
) -> "pd.DataFrame | None":
    """Per year: the highest predicted probability, ticker-days at or above the entry, trades entered,
    time in market and the strategy's return: why a strategy traded, or sat idle, that year."""
    import pandas as pd

    if predictions is None or "prob" not in predictions.columns:
        return None
    prob = predictions["prob"]
    years = prob.index.get_level_values("date").year
    out = pd.DataFrame({"highest_prob": prob.groupby(years).max()})
    entry = (thresholds or {}).get("entry")
    if entry is not None:
        out["days_at_entry"] = (prob >= entry).groupby(years).sum().astype(int)
    if trades is not None:
        entered = pd.to_datetime(trades["entry_date"]).dt.year.value_counts() if len(trades) else pd.Series(dtype=int)
        out["trades"] = entered.reindex(out.index).fillna(0).astype(int)
    if equity is not None and len(equity):
        eq = equity["equity"]
        in_market = (equity["n_positions"] > 0) if "n_positions" in equity.columns else (equity["gross_exposure"] > 0)
        out["time_in_market"] = in_market.groupby(equity.index.year).mean().reindex(out.index)
        year_end = eq.groupby(eq.index.year).last()
        prev = year_end.shift(1)
        prev.iloc[0] = eq.iloc[0]
        out["return"] = (year_end / prev - 1.0).reindex(out.index)
    out.index.name = "year"
    return out


# ------------------------------------------------------------------------------ the equity


def initial_capital(metrics: dict[str, Any] | None, equity: "pd.DataFrame | None") -> float:
    """The book before the first bar: ``initial_capital`` of ``backtest/metrics.json``, else the first
    equity value. The first month's return (and the drawdown) are measured against it."""
    value = (metrics or {}).get("initial_capital")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value:
        return float(value)
    return float(equity["equity"].iloc[0]) if equity is not None and len(equity) else 1.0


def monthly_returns(equity: "pd.DataFrame | None", initial_capital: float) -> "pd.DataFrame | None":
    """Year x month compounded returns; NaN (a blank cell) for a month without any position.

    The one monthly table: report.html and the GUI's Runs page both draw their heatmap from it."""
    import pandas as pd

    if equity is None or not len(equity):
        return None
    eq = equity["equity"]
    month_end = eq.resample("ME").last().dropna()
    prev = month_end.shift(1)
    prev.iloc[0] = initial_capital
    ret = month_end / prev - 1.0
    if "n_positions" in equity.columns or "gross_exposure" in equity.columns:
        held = equity["n_positions"] > 0 if "n_positions" in equity.columns else equity["gross_exposure"] > 0
        active = held.resample("ME").max().reindex(ret.index).fillna(False).astype(bool)
        # a trade opened and closed inside one day leaves no close with a position, but moves equity
        active |= ret.abs() > 1e-12
        ret = ret.where(active)
    table = pd.DataFrame({"year": ret.index.year, "month": ret.index.month, "ret": ret.to_numpy()})
    return table.pivot(index="year", columns="month", values="ret").reindex(columns=range(1, 13))


def drawdown(equity: "pd.DataFrame | None", initial_capital: float) -> "pd.Series | None":
    """Daily fall of equity from its running peak, the initial capital counting as the first peak: the
    series whose low is ``max_drawdown`` in ``backtest/metrics.json`` (:func:`qlop.metrics.drawdown_series`)."""
    import pandas as pd

    from qlop.metrics import drawdown_series, returns_from_equity

    if equity is None or not len(equity):
        return None
    series = drawdown_series(returns_from_equity(equity["equity"].to_numpy(dtype=float), initial_capital))
    return pd.Series(series, index=equity.index, name="drawdown")


def leverage_path(equity: "pd.DataFrame | None") -> "pd.DataFrame | None":
    """Daily gross and net leverage (exposure over equity) and open positions."""
    import numpy as np
    import pandas as pd

    if equity is None or not len(equity):
        return None
    eq = equity["equity"].to_numpy()
    out = pd.DataFrame(index=equity.index)
    for name, column in (("gross", "gross_exposure"), ("net", "net_exposure")):
        if column in equity.columns:
            out[name] = np.divide(equity[column].to_numpy(), eq, out=np.zeros(len(eq)), where=eq > 0)
    if "n_positions" in equity.columns:
        out["positions"] = equity["n_positions"].to_numpy()
    return out


# ------------------------------------------------------------------------------ the trade list


#: Columns of :func:`trade_list`, in the order they are shown.
TRADE_COLUMNS = (
    "ticker",
    "side",
    "signal_date",
    "entry_date",
    "entry_price",
    "exit_date",
    "exit_price",
    "exit_reason",
    "bars_held",
    "leverage",
    "margin",
    "pnl",
    "return",
    "fees",
    "financing",
)


def trade_list(trades: "pd.DataFrame | None") -> "pd.DataFrame | None":
    """The trades, one row each, with the columns people read (exit reasons named in words)."""
    if trades is None:
        return None
    frame = trades.reset_index(drop=True) if "ticker" in trades.columns else trades.reset_index()
    out = frame[[c for c in TRADE_COLUMNS if c in frame.columns]].copy()
    if "exit_reason" in out.columns:
        out["exit_reason"] = [EXIT_NAMES.get(str(r), str(r)) for r in out["exit_reason"]]
    return out


# ------------------------------------------------------------------------- the whole results


#: Heading and one-line note of each section, as report.html and the GUI's run page both title them.
SECTIONS: dict[str, tuple[str, str]] = {
    "answer": ("The answer", "Out of sample, after leverage, margin, financing and costs."),
    "config": ("Configuration", ""),
    "metrics": ("Metrics", ""),
    "equity": (
        "Equity against the benchmark, and drawdown",
        "Drawdown is the fall from the running peak, the initial capital counting as the first peak: its "
        "low is the max drawdown above. The two charts share their dates.",
    ),
    "probability": (
        "Predicted probability against the strategy's thresholds",
        "The model's out-of-sample probability of a paying trade, per day.",
    ),
    "folds": (
        "Model skill per fold",
        "Each fold is scored by a model trained only on earlier data, purged of labels that reach into the "
        "test period. AUC 0.5 is no skill; a log loss below the base rate's beats always predicting the "
        "base rate.",
    ),
    "per_ticker": ("Per ticker", ""),
    "labels": (
        "Labels",
        "Share of labelled days on which the leveraged trade paid off (base rate) and how the simulated trades ended.",
    ),
    "pnl": ("Trades", "P&L after costs, best first."),
    "prices": (
        "Prices, entries and exits",
        "Triangles: entries (filled at the next open after the signal). Crosses: exits, green for a gain, "
        "red for a loss. Pick a ticker in the menu.",
    ),
    "monthly": ("Monthly returns", "Blank: no position at all that month."),
    "leverage": (
        "Exposure and leverage",
        "Gross leverage: open positions' value over equity (shaded); net: long minus short (dotted). Each "
        "position runs at the configured leverage; these lines show the whole book.",
    ),
    "trade_results": ("Trade results by exit reason", ""),
}


def headline(metrics: dict[str, Any] | None) -> list[tuple[str, str]]:
    """(label, formatted value) of the headline figures present: those of ``qlop runs list`` and the
    benchmark's return."""
    from qlop.formatting import HEADLINE_KEYS, format_metric, metric_label

    data = metrics or {}
    keys = (*HEADLINE_KEYS, "benchmark_total_return")
    return [
        (metric_label(k, data), format_metric(k, data[k]))
        for k in keys
        if isinstance(data.get(k), (int, float)) and not isinstance(data.get(k), bool)
    ]


def idle_note(table: "pd.DataFrame | None", thresholds: dict[str, float]) -> str:
    """One sentence naming the years in which the model never reached the entry threshold."""
    entry = thresholds.get("entry")
    if entry is None or table is None or "highest_prob" not in table.columns:
        return ""
    idle = [(int(y), p) for y, p in table["highest_prob"].items() if math.isfinite(p) and p < entry]
    if not idle:
        return (
            f"The model reached the {entry:.2f} entry threshold in every year; the days at or above it are "
            "the ticker-days the strategy could enter (capital and open positions permitting)."
        )
    listed = ", ".join(f"{y} (highest {p:.2f})" for y, p in idle)
    return (
        f"No entry was possible in {listed}: the highest predicted probability stayed below the "
        f"{entry:.2f} entry threshold, so the strategy sat in cash."
    )


@dataclass
class RunView:
    """Every section of a run's results, computed once from its artefacts: report.html and the GUI's
    run page draw this, so they cannot disagree. None (or empty) where the run has nothing to show."""

    run: RunData
    answer: list[str]
    assumptions: list[tuple[str, str]]
    config_rows: list[tuple[str, str, str]]
    metric_rows: list[tuple[str, str, str]]
    headline: list[tuple[str, str]]
    subtitle: str
    capital: float
    thresholds: dict[str, float]
    start: Any
    equity: "pd.DataFrame | None"
    drawdown: "pd.Series | None"
    probability: "pd.DataFrame | None"
    idle: "pd.DataFrame | None"
    idle_note: str
    folds: "pd.DataFrame | None"
    labels: "pd.DataFrame | None"
    pnl: "pd.DataFrame | None"
    price_tickers: list[str]
    monthly: "pd.DataFrame | None"
    leverage: "pd.DataFrame | None"
    trades: "pd.DataFrame | None"

    def prices(self, ticker: str) -> dict[str, Any] | None:
        """:func:`price_with_trades` of one ticker over the backtest's dates."""
        return price_with_trades(self.run.panel, self.run.trades, ticker, self.start)


#: Tickers the price section offers at most (those with the most trades first).
MAX_PRICE_TICKERS = 24


def run_view(run: RunData) -> RunView:
    """The view of every section of ``run`` (see :class:`RunView`)."""
    from qlop.answer import answer_from, assumptions_from
    from qlop.formatting import benchmark_text, counted, iso_date, metric_rows

    metrics = run.metrics or {}
    equity, trades = run.equity, run.trades
    if equity is not None and not len(equity):
        equity = None
    capital = initial_capital(metrics, equity)
    thresholds = {str(k): float(v) for k, v in (metrics.get("probability_thresholds") or {}).items()}
    start = metrics.get("start")
    path = probability_path(run.predictions)
    if path is not None and start is not None:
        import pandas as pd

        path = path[path.index >= pd.Timestamp(start)]
    if path is not None and not len(path):
        path = None
    idle = idle_by_year(run.predictions, thresholds, trades, equity) if path is not None else None
    monthly = monthly_returns(equity, capital)
    subtitle = (
        f"{iso_date(metrics.get('start'))} to {iso_date(metrics.get('end'))} · "
        f"{counted(metrics.get('n_trades', 0), 'trade')} · benchmark {benchmark_text(metrics)}"
    )
    return RunView(
        run=run,
        answer=answer_from(run.config, run.labels, run.train_metrics, metrics),
        assumptions=assumptions_from(run.config, run.metrics) if run.config else [],
        config_rows=config_summary(run.config, (run.train_metrics or {}).get("n_folds")),
        metric_rows=metric_rows(metrics),
        headline=headline(metrics),
        subtitle=subtitle,
        capital=capital,
        thresholds=thresholds,
        start=start,
        equity=equity,
        drawdown=drawdown(equity, capital),
        probability=path,
        idle=idle,
        idle_note=idle_note(idle, thresholds) if path is not None else "",
        folds=fold_skill(run.train_metrics),
        labels=label_stats(run.labels),
        pnl=ticker_pnl(trades),
        price_tickers=traded_tickers(trades, run.panel)[:MAX_PRICE_TICKERS] if run.panel is not None else [],
        monthly=monthly if monthly is not None and monthly.size else None,
        leverage=leverage_path(equity),
        trades=trades if trades is not None and len(trades) else None,
    )


# ---------------------------------------------------------------------------- formatting


#: Number kind and human heading of the columns the tables above produce.
COLUMNS: dict[str, tuple[str, str]] = {
    "fold": ("count", "Fold"),
    "test_start": ("date", "Test from"),
    "test_end": ("date", "Test to"),
    "n": ("count", "Rows"),
    "auc": ("prob", "AUC"),
    "log_loss": ("loss", "Log loss"),
    "base_rate_log_loss": ("loss", "Base-rate log loss"),
    "base_rate": ("pct", "Base rate"),
    "ic": ("prob", "IC"),
    "days": ("count", "Labelled days"),
    "trades": ("count", "Trades"),
    "win_rate": ("pct", "Win rate"),
    "pnl": ("money", "P&L"),
    "fees": ("money", "Fees"),
    "financing": ("money", "Financing"),
    "mean_return": ("return", "Mean return on margin"),
    "highest_prob": ("prob", "Highest probability"),
    "days_at_entry": ("count", "Ticker-days at entry"),
    "time_in_market": ("pct", "Time in market"),
    "return": ("return", "Return"),
    **{r: ("pct", f"Exit: {EXIT_NAMES[r]}") for r in EXIT_REASONS},
    "ticker": ("text", "Ticker"),
    "side": ("text", "Side"),
    "signal_date": ("date", "Signal"),
    "entry_date": ("date", "Entry"),
    "entry_price": ("money", "Entry price"),
    "exit_date": ("date", "Exit"),
    "exit_price": ("money", "Exit price"),
    "exit_reason": ("text", "Exit reason"),
    "bars_held": ("count", "Bars held"),
    "leverage": ("leverage", "Leverage"),
    "margin": ("money", "Margin"),
}


def display(table: "pd.DataFrame", index_name: str | None = None) -> "pd.DataFrame":
    """``table`` as strings in the one number style with human column headings (index kept as a column)."""
    frame = table.reset_index() if index_name is not None or table.index.name else table.copy()
    if index_name is not None:
        frame = frame.rename(columns={frame.columns[0]: index_name})
    out = frame.copy().astype(object)
    for column in frame.columns:
        kind, _ = COLUMNS.get(str(column), ("text", str(column)))
        out[column] = [format_value(v, kind) for v in frame[column]]
    return out.rename(
        columns={c: COLUMNS.get(str(c), ("", str(c).replace("_", " ").capitalize()))[1] for c in out.columns}
    )
