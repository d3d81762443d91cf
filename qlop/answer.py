"""The three-part answer a run gives, in plain words: opportunities, prediction, strategy.

``qlop run`` and ``qlop demo`` print it above the metrics table, and report.html and the GUI's run
page open with it, so a researcher reads the result without opening any file: how often the leveraged
trade paid off, whether the model beats the best constant guess out of sample, and what trading the
predictions earned after every cost. Every number goes through :mod:`qlop.formatting`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qlop.artifacts import read_json
from qlop.formatting import benchmark_text, count, format_metric, leverage, pct, rate
from qlop.layout import RunLayout

if TYPE_CHECKING:
    import pandas as pd


def opportunities_line(labels: "pd.DataFrame | None", config: dict[str, Any]) -> str | None:
    """Share of labelled days on which the label's trade cleared its hurdle.

    Shown for a label that simulates a trade: its frame has an ``exit_reason`` column beside a 0/1
    ``label`` (the bundled ``leverage_opportunity`` does; so may any plugin's). The trade is described
    by the label's own ``trade_rules()``.
    """
    if labels is None or not {"label", "exit_reason"} <= set(labels.columns):
        return None
    rows = len(labels)
    labels = labels.dropna(subset=["label"])
    if labels.empty:
        label = config.get("label") or {}
        return (
            f"Opportunities: no day could be labelled: the {_trade_text(label)} needs "
            f"{_horizon_text(label)} after each day, and none of the {count(rows)} rows has them (load "
            "more history or shorten the horizon)."
        )
    if not labels["label"].isin((0.0, 1.0)).all():
        return None
    mix = labels["exit_reason"].value_counts(normalize=True)
    shown = ("tp", "sl", "liquidation", "horizon") + (("session",) if "session" in mix.index else ())
    reasons = ", ".join(f"{r} {pct(mix.get(r, 0.0), 0)}" for r in shown)
    return (
        f"Opportunities: the {_trade_text(config.get('label') or {})} paid off on "
        f"{format_metric('base_rate', labels['label'].mean())} of {count(len(labels))} labelled {row_unit(config)} "
        f"(exits: {reasons})."
    )


def label_trade_rules(label: dict[str, Any]) -> Any:
    """The :class:`~qlop.sim.rules.TradeRules` a label's config scores, or None when it cannot say."""
    if not label.get("label_type"):
        return None
    try:
        from qlop.plugins.manager import get_plugin_manager

        component = get_plugin_manager().create(
            "label", label["label_type"], label.get("label_params") or {}, "label.label_params"
        )
        return component.trade_rules()
    except Exception:  # noqa: BLE001 - a description only: the figures stand without it
        return None


def _trade_text(label: dict[str, Any]) -> str:
    """``2.50x long, take-profit 5%, stop 3%, 10 bars`` from the label's trade rules, or a generic name
    when the label cannot say."""
    rules = label_trade_rules(label)
    if rules is None:
        return "labelled trade"
    return (
        f"{leverage(rules.leverage)} {rules.side}, take-profit {rate(rules.take_profit)}, "
        f"stop {rate(rules.stop_loss)}, {rules.horizon} bars"
    )


def _horizon_text(label: dict[str, Any]) -> str:
    rules = label_trade_rules(label)
    return f"{rules.horizon} bars" if rules is not None else "bars"


def _folds(n: Any) -> str:
    return f"{count(n)} walk-forward fold{'' if n == 1 else 's'}"


def row_unit(config: dict[str, Any]) -> str:
    """What a row is called in the answer: ``days`` for daily bars, ``bars`` for intraday ones."""
    interval = str((config.get("data") or {}).get("resample") or (config.get("data") or {}).get("interval") or "1d")
    return "bars" if interval[-1] in "mh" else "days"


def prediction_line(metrics: dict[str, Any] | None, unit: str = "days") -> str | None:
    """Out-of-sample skill against the best constant guess (the base rate)."""
    if not metrics or not isinstance(metrics.get("overall"), dict):
        return None
    overall = metrics["overall"]
    model = metrics.get("model_type", "the model")
    if metrics.get("n_predictions") == 0:
        return f"Prediction: {model} made no out-of-sample prediction ({_folds(metrics.get('n_folds'))})."
    if not overall.get("n"):
        return (
            f"Prediction: {model}, {_folds(metrics.get('n_folds'))}, {count(metrics.get('n_predictions'))} "
            f"out-of-sample predictions, none on a labelled {unit[:-1]}: their skill cannot be measured yet."
        )
    if metrics.get("task") != "regression" and overall.get("auc") is None:
        return (
            f"Prediction: {model}, {_folds(metrics.get('n_folds'))}, {count(overall.get('n'))} out-of-sample "
            f"{unit}: no AUC, because every one of them has the same label (base rate "
            f"{format_metric('base_rate', overall.get('base_rate'))}); log loss "
            f"{format_metric('log_loss', overall.get('log_loss'))}."
        )
    if metrics.get("task") == "regression":
        ic = overall.get("ic")
        return (
            f"Prediction: {model}, {count(overall.get('n', 0))} out-of-sample rows, IC {format_metric('ic', ic)}."
            if ic is not None
            else None
        )
    base = overall.get("base_rate")
    base_ll = None
    if base is not None and 0 < base < 1:
        base_ll = -(base * math.log(base) + (1 - base) * math.log(1 - base))
    versus = f" vs {format_metric('log_loss', base_ll)} for the constant base rate" if base_ll is not None else ""
    return (
        f"Prediction: {model}, {_folds(metrics.get('n_folds'))}, {count(overall.get('n', 0))} "
        f"out-of-sample {unit}: AUC {format_metric('auc', overall['auc'])} (0.5 = no skill), log loss "
        f"{format_metric('log_loss', overall.get('log_loss'))}{versus}."
    )


def strategy_line(m: dict[str, Any] | None) -> str | None:
    """What the strategy earned, net of leverage, margin, financing and costs, against the benchmark."""
    if not m:
        return None

    def f(key: str) -> str:
        return format_metric(key, m.get(key))

    bench = f" vs {f('benchmark_total_return')} for {benchmark_text(m)}" if m.get("benchmark") else ""
    if not m.get("n_trades") and m.get("no_trade_reason"):
        return (
            f"Strategy: {m.get('strategy')} from {f('start')} to {f('end')}: {m['no_trade_reason']}; the "
            f"capital stayed in cash ({f('total_return')}){bench}."
        )
    return (
        f"Strategy: {m.get('strategy')} from {f('start')} to {f('end')} earned "
        f"{f('total_return')} (CAGR {f('cagr')}){bench}; Sharpe {f('sharpe')}, max drawdown "
        f"{f('max_drawdown')}, {f('n_trades')} trades, {f('liquidations')} liquidations, after "
        f"{f('fees_paid')} fees and {f('financing_paid')} financing."
    )


def answer_from(
    config: dict[str, Any],
    labels: "pd.DataFrame | None",
    train_metrics: dict[str, Any] | None,
    backtest_metrics: dict[str, Any] | None,
) -> list[str]:
    """The parts of the answer these artefacts support (stages that did not run are left out)."""
    lines = [
        opportunities_line(labels, config),
        prediction_line(train_metrics, row_unit(config)),
        strategy_line(backtest_metrics),
    ]
    return [line for line in lines if line]


def answer_lines(run_dir: str | Path) -> list[str]:
    """The answer of the run in ``run_dir``, from its own artefacts."""
    run_dir = Path(run_dir)
    layout = RunLayout(run_dir)
    config = read_json(layout.config) or {}
    labels = None
    if layout.labels.is_file():
        import pandas as pd

        labels = pd.read_parquet(layout.labels)
    return answer_from(config, labels, read_json(layout.train_metrics), read_json(layout.backtest_metrics))
