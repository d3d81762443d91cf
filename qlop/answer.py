"""The three-part answer a run gives, in plain words: opportunities, prediction, strategy.

``qlop run`` and ``qlop demo`` print it above the metrics table, so a researcher reads the result
without opening any file: how often the leveraged trade paid off, whether the model beats the best
constant guess out of sample, and what trading the predictions earned after every cost.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _pct(x: float | None, signed: bool = False) -> str:
    if x is None or not math.isfinite(x):
        return "n/a"
    return f"{x:+.2%}" if signed else f"{x:.1%}"


def opportunities_line(run_dir: Path, config: dict[str, Any]) -> str | None:
    """Share of labelled days on which the configured leveraged trade cleared its hurdle."""
    path = run_dir / "labels.parquet"
    label = config.get("label") or {}
    if not path.is_file() or label.get("label_type") != "leverage_opportunity":
        return None
    import pandas as pd

    labels = pd.read_parquet(path, columns=["label", "exit_reason"]).dropna(subset=["label"])
    if labels.empty:
        return None
    p = label.get("label_params") or {}
    mix = labels["exit_reason"].value_counts(normalize=True)
    reasons = ", ".join(f"{r} {mix.get(r, 0.0):.0%}" for r in ("tp", "sl", "liquidation", "horizon"))
    trade = (f"{p.get('leverage', '?')}x {p.get('side', 'long')}, take-profit {p.get('take_profit')}, "
             f"stop {p.get('stop_loss')}, {p.get('horizon', '?')} bars")
    return (f"Opportunities: the {trade} paid off on {labels['label'].mean():.1%} of "
            f"{len(labels):,} labelled days (exits: {reasons}).")


def prediction_line(run_dir: Path) -> str | None:
    """Out-of-sample skill against the best constant guess (the base rate)."""
    metrics = _read_json(run_dir / "train_metrics.json")
    if not metrics or "overall" not in metrics:
        return None
    overall = metrics["overall"]
    model = metrics.get("model_type", "the model")
    if metrics.get("task") == "regression" or overall.get("auc") is None:
        ic = overall.get("ic")
        return f"Prediction: {model}, {overall.get('n', 0):,} out-of-sample rows, IC {ic:.3f}." if ic is not None else None
    base = overall.get("base_rate")
    base_ll = None
    if base is not None and 0 < base < 1:
        base_ll = -(base * math.log(base) + (1 - base) * math.log(1 - base))
    versus = f" vs {base_ll:.4f} for the constant base rate" if base_ll is not None else ""
    return (f"Prediction: {model}, {metrics.get('n_folds', '?')} walk-forward folds, {overall.get('n', 0):,} "
            f"out-of-sample days: AUC {overall['auc']:.3f} (0.5 = no skill), log loss "
            f"{overall.get('log_loss', float('nan')):.4f}{versus}.")


def strategy_line(run_dir: Path) -> str | None:
    """What the strategy earned, net of leverage, margin, financing and costs, against the benchmark."""
    m = _read_json(run_dir / "backtest" / "metrics.json")
    if not m:
        return None
    bench = (f" vs {m['benchmark']} {_pct(m.get('benchmark_total_return'), True)}"
             if m.get("benchmark") else "")
    return (f"Strategy: {m.get('strategy')} from {m.get('start')} to {m.get('end')} earned "
            f"{_pct(m.get('total_return'), True)} (CAGR {_pct(m.get('cagr'), True)}){bench}; Sharpe "
            f"{m.get('sharpe', float('nan')):.2f}, max drawdown {_pct(m.get('max_drawdown'))}, "
            f"{m.get('n_trades', 0):,} trades, {m.get('liquidations', 0)} liquidations, after "
            f"{m.get('fees_paid', 0):,.0f} fees and {m.get('financing_paid', 0):,.0f} financing.")


def answer_lines(run_dir: str | Path) -> list[str]:
    """The parts of the answer this run has artefacts for (stages that did not run are left out)."""
    run_dir = Path(run_dir)
    config = _read_json(run_dir / "config.json") or {}
    lines = [opportunities_line(run_dir, config), prediction_line(run_dir), strategy_line(run_dir)]
    return [line for line in lines if line]
