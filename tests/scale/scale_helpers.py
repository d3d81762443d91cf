"""Small configs and sweep files for the scale tests (3 tickers, a few years: seconds per variant)."""

from __future__ import annotations

from pathlib import Path

#: A complete pipeline small enough for a sweep of several variants in a test.
SMALL_BASE = """
name = "sweeptest"
seed = 7
runs_dir = "{runs_dir}"
[data]
data_source_type = "sample"
tickers = ["AAPL", "MSFT", "KO"]
start_date = 2008-01-01
end_date = 2013-12-31
[features]
steps = [
  {{ step_type = "returns", step_params = {{ windows = [1, 5, 20] }} }},
  {{ step_type = "rsi", step_params = {{ timeperiod = 14 }} }},{extra_steps}
]
[label]
label_type = "leverage_opportunity"
label_params = {{ leverage = 2.0, horizon = 5, take_profit = 0.04, stop_loss = 0.03 }}
[model]
model_type = "xgboost"
model_params = {{ n_estimators = 20, max_depth = 3, nthread = 1 }}
validation = {{ train_years = 3.0, test_months = 12, embargo_days = 5 }}
[backtest]
strategy_type = "probability_threshold"
strategy_params = {{ entry = 0.55 }}
leverage = 2.0
"""


def write_base(path: Path, runs_dir: Path, extra_steps: str = "") -> Path:
    path.write_text(SMALL_BASE.format(runs_dir=runs_dir, extra_steps=extra_steps), encoding="utf-8")
    return path


def write_sweep(path: Path, base: str, axes: list[tuple[str, str]], head: str = "") -> Path:
    """``axes``: (dotted path, TOML list of values)."""
    lines = [f'base = "{base}"', head]
    for axis, values in axes:
        lines += ["[[axes]]", f'path = "{axis}"', f"values = {values}"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
