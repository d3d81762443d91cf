"""``qlop run`` end to end on intraday bars: a 24/7 hourly panel (examples/intraday.toml) and a
5-minute exchange-hours panel with session exits, both synthetic and offline."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from e2e_helpers import qlop  # noqa: E402  (tests/e2e, on sys.path via conftest)

pytestmark = pytest.mark.slow
pytest.importorskip("qlop.sessions")  # the intraday data layer (intraday-data branch)

EXAMPLE = Path(__file__).parents[2] / "examples" / "intraday.toml"

XNYS_5M = """
name = "xnys5m"
seed = 3
[data]
data_source_type = "synthetic"
tickers = ["AAA", "BBB"]
interval = "5m"
session = "XNYS"
data_source_params = { n_bars = 23400, start = "2023-01-03", vol = 0.3, seed = 11 }
[features]
steps = [
  { step_type = "returns", step_params = { windows = [1, 12, 78] } },
  { step_type = "rsi", step_params = { timeperiod = 14 } },
  { step_type = "rvol", step_params = { window = 78 } },
  { step_type = "calendar", step_params = { fields = ["weekday", "time_of_day", "minutes_to_close"] } },
]
[label]
label_type = "leverage_opportunity"
label_params = { leverage = 4.0, horizon = 12, take_profit = 0.004, stop_loss = 0.003, exit_at_session_end = true, maintenance_margin = 0.1 }
[model]
model_type = "xgboost"
model_params = { n_estimators = 30, max_depth = 3, nthread = 1 }
validation = { train_years = 0.75, test_months = 2 }
[backtest]
strategy_type = "probability_threshold"
leverage = 4.0
maintenance_margin = 0.1
benchmark = false
strategy_params = { entry = 0.45, barriers = "label" }
[export]
format_name = "onnx"
"""


def _run(config: Path, cwd: Path) -> tuple[Path, str]:
    """Runs ``qlop run -c config`` and returns the run directory and what the run printed."""
    done = qlop("run", "-c", str(config), cwd=cwd, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    run_dir = cwd / re.search(r"completed in [0-9.]+s: (\S+)", done.stdout).group(1)
    for name in ("labels.parquet", "folds.json", "predictions.parquet", "backtest/report.html", "export"):
        assert (run_dir / name).exists(), name
    return run_dir, done.stdout


def _session_days(times: pd.Series, tz: str) -> np.ndarray:
    return pd.DatetimeIndex(times).tz_convert(tz).date


def test_hourly_24_7_example_runs_end_to_end(tmp_path):
    run_dir, _ = _run(EXAMPLE, tmp_path)
    metrics = json.loads((run_dir / "backtest" / "metrics.json").read_text())
    assert metrics["periods_per_year"] == 8760.0 and metrics["periods_per_year_source"] == "1h 24/7"
    equity = pd.read_parquet(run_dir / "backtest" / "equity.parquet")
    assert str(equity.index.tz) == "UTC" and (equity.index[1] - equity.index[0]) == pd.Timedelta(hours=1)
    trades = pd.read_parquet(run_dir / "backtest" / "trades.parquet")
    assert len(trades)
    # carry on the time held: 3x long, 10 % a year on the borrowed 2x, act_365, per hour held
    held_hours = (trades["exit_date"] - trades["entry_date"]) / pd.Timedelta(hours=1) + (~trades["exit_at_open"])
    expected = trades["margin"] * 0.10 * 2.0 * held_hours / 24 / 365
    np.testing.assert_allclose(trades["financing"], expected, rtol=1e-9)
    # no training label reaches into its fold's test period (purge by the label's last bar time)
    folds = json.loads((run_dir / "folds.json").read_text())
    for fold in folds:
        assert pd.Timestamp(fold["train_end"]) + pd.Timedelta(hours=24) < pd.Timestamp(fold["test_start"])
    report = (run_dir / "backtest" / "report.html").read_text()
    assert "<h2>Monthly returns</h2>" in report  # the heatmap groups bar times by month
    assert "%{x|%Y-%m-%d %H:%M} UTC" in report  # the price chart's hover shows bar times


def test_five_minute_exchange_hours_with_session_exits_run_end_to_end(tmp_path):
    config = tmp_path / "xnys5m.toml"
    config.write_text(XNYS_5M, encoding="utf-8")
    run_dir, printed = _run(config, tmp_path)
    metrics = json.loads((run_dir / "backtest" / "metrics.json").read_text())
    assert metrics["periods_per_year"] == 78 * 252 and metrics["periods_per_year_source"] == "5m XNYS"
    data = pd.read_parquet(run_dir / "data.parquet")
    assert data.attrs.get("session") == "XNYS"
    labels = pd.read_parquet(run_dir / "labels.parquet")
    assert "session" in set(labels["exit_reason"].dropna())
    # the answer's Assumptions say when positions close
    assert "at the close of the session's last bar" in " ".join(printed.split())  # wrapped to the terminal
    assert metrics["exits"]["exit_at_session_end"] is True
    trades = pd.read_parquet(run_dir / "backtest" / "trades.parquet")
    assert len(trades)
    # no position is held across a session boundary: every trade leaves in the session it entered
    entry_day = _session_days(trades["entry_date"], "America/New_York")
    exit_day = _session_days(trades["exit_date"], "America/New_York")
    assert (entry_day == exit_day).all()
    # entries happen at the open of the bar after the signal, never across the overnight gap
    assert (trades["entry_date"] > trades["signal_date"]).all()
    same = _session_days(trades["signal_date"], "America/New_York") == entry_day
    assert same.mean() > 0.9  # a signal on a session's last bar enters at the next session's open
