"""Fixtures of the GUI tests: a run directory with every artefact the Runs page reads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

#: The fixture run's backtest starts with this capital (its equity's first mark is after a day's return).
CAPITAL = 100_000.0


def make_run_dir(root: Path, name: str, finished: str) -> Path:
    """A run folder shaped like ``qlop run``'s output: every artefact the Runs page and report.html read,
    with a month (March 2012) without any position."""
    run = root / name
    (run / "backtest").mkdir(parents=True)
    (run / "export").mkdir()
    dates = pd.bdate_range("2012-01-02", "2013-12-31")
    rng = np.random.default_rng(0)
    idle = (dates >= "2012-03-01") & (dates <= "2012-03-31")
    steps = np.where(idle, 0.0, rng.normal(0.0004, 0.01, len(dates)))
    steps[0] = -0.01  # the first day loses: a drawdown already, measured from the capital
    equity = CAPITAL * np.cumprod(1 + steps)
    bench = CAPITAL * np.cumprod(1 + rng.normal(0.0003, 0.009, len(dates)))
    positions = np.where(idle, 0, rng.integers(1, 5, len(dates)))
    gross = equity * rng.uniform(0.1, 3, len(dates)) * (positions > 0)
    pd.DataFrame(
        {
            "equity": equity,
            "cash": equity * 0.5,
            "gross_exposure": gross,
            "net_exposure": gross * 0.5,
            "leverage": gross / equity,
            "n_positions": positions,
            "benchmark": bench,
        },
        index=pd.Index(dates, name="date"),
    ).to_parquet(run / "backtest" / "equity.parquet")
    peak, max_drawdown = CAPITAL, 0.0  # a plain loop: the capital is the first peak
    for value in equity:
        peak = max(peak, value)
        max_drawdown = min(max_drawdown, value / peak - 1)
    entry, exit_ = dates[[3, 10, 40, 90]], dates[[8, 20, 50, 99]]
    pd.DataFrame(
        {
            "ticker": ["AAPL", "MSFT", "AAPL", "JPM"],
            "side": ["long", "long", "short", "long"],
            "signal_date": dates[[2, 9, 39, 89]],
            "entry_date": entry,
            "entry_price": [10.0, 20.0, 11.5, 30.25],
            "exit_date": exit_,
            "exit_price": [10.5, 19.0, 11.25, 31.5],
            "exit_reason": ["tp", "sl", "horizon", "tp"],
            "bars_held": [5, 10, 10, 9],
            "leverage": [3.0] * 4,
            "margin": [10_000.0] * 4,
            "pnl": [120.0, -80.0, 15.0, 200.0],
            "return": [0.012, -0.008, 0.0015, 0.02],
            "fees": [2.5, 2.5, 2.5, 2.5],
            "financing": [1.0, 2.0, 0.0, 1.5],
        }
    ).to_parquet(run / "backtest" / "trades.parquet")
    (run / "backtest" / "metrics.json").write_text(
        json.dumps(
            {
                "start": "2012-01-02",
                "end": "2013-12-31",
                "initial_capital": CAPITAL,
                "final_equity": float(equity[-1]),
                "total_return": float(equity[-1] / CAPITAL - 1),
                "cagr": 0.081,
                "sharpe": 0.93,
                "max_drawdown": max_drawdown,
                "n_trades": 4,
                "benchmark": "SPY",
                "benchmark_kind": "price",
                "benchmark_total_return": float(bench[-1] / CAPITAL - 1),
                "probability_thresholds": {"entry": 0.55, "exit": 0.45},
            }
        )
    )
    (run / "backtest" / "report.html").write_text("<html><body>report</body></html>")
    tickers = ["AAPL", "MSFT", "JPM"]
    panel_idx = pd.MultiIndex.from_product([tickers, dates], names=["ticker", "date"])
    pd.DataFrame({"close": 10 + rng.uniform(0, 1, len(panel_idx)).cumsum() / 100}, index=panel_idx).to_parquet(
        run / "data.parquet"
    )
    idx = pd.MultiIndex.from_product([["AAPL", "MSFT"], dates[:50]], names=["ticker", "date"])
    labels = pd.DataFrame(
        {
            "label": np.r_[np.tile([1.0, 0.0, 0.0, 1.0, 0.0], 19), [np.nan] * 5],
            "exit_reason": np.r_[np.tile(["tp", "sl", "horizon", "tp", "sl"], 19), [None] * 5],
        },
        index=idx,
    )
    labels.to_parquet(run / "labels.parquet")
    pred_idx = pd.MultiIndex.from_product([["AAPL", "MSFT"], dates], names=["ticker", "date"])
    prob = rng.uniform(0.3, 0.6, len(pred_idx))
    prob[pred_idx.get_level_values("date").year == 2013] *= 0.85  # below the 0.55 entry all 2013
    pd.DataFrame({"prob": prob, "fold": 0}, index=pred_idx).to_parquet(run / "predictions.parquet")
    (run / "train_metrics.json").write_text(
        json.dumps(
            {
                "n_folds": 2,
                "folds": [
                    {
                        "fold": 0,
                        "test_start": "2012-01-02",
                        "test_end": "2012-12-31",
                        "n": 500,
                        "auc": 0.55,
                        "log_loss": 0.68,
                        "base_rate": 0.4,
                    },
                    {
                        "fold": 1,
                        "test_start": "2013-01-01",
                        "test_end": "2013-12-31",
                        "n": 498,
                        "auc": 0.57,
                        "log_loss": 0.67,
                        "base_rate": 0.42,
                    },
                ],
                "overall": {"auc": 0.56},
                "feature_importance": {"rsi_14": 0.4, "ret_5": 0.6},
            }
        )
    )
    (run / "export" / "model.onnx").write_bytes(b"onnx-bytes")
    (run / "export" / "bundle.json").write_text("{}")
    config = {
        "name": f"cfg-{name}",
        "data": {
            "tickers": tickers,
            "start_date": "2012-01-01",
            "end_date": "2013-12-31",
            "data_source_type": "sample",
        },
        "label": {
            "label_type": "leverage_opportunity",
            "label_params": {"leverage": 3.0, "horizon": 10, "take_profit": 0.05, "stop_loss": 0.03},
        },
        "model": {"model_type": "xgboost", "validation": {"train_years": 3, "test_months": 12}},
        "backtest": {
            "strategy_type": "probability_threshold",
            "strategy_params": {"entry": 0.55},
            "initial_capital": CAPITAL,
            "leverage": 3.0,
            "max_gross_leverage": 5.0,
            "benchmark": "SPY",
        },
    }
    (run / "config.json").write_text(json.dumps(config))
    (run / "manifest.json").write_text(
        json.dumps({"status": "completed", "finished_utc": finished, "stages": {"data": {}, "backtest": {}}})
    )
    return run


@pytest.fixture
def run_dir_factory():  # type: ignore[no-untyped-def]
    """:func:`make_run_dir` for tests that place runs elsewhere (a sweep's variant runs)."""
    return make_run_dir


@pytest.fixture
def runs_root(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    make_run_dir(root, "20240101-000000-aaaa", "2024-01-01T00:00:00+00:00")
    make_run_dir(root, "20240301-000000-bbbb", "2024-03-01T00:00:00+00:00")
    (root / "not-a-run").mkdir()
    return root


REPO = Path(__file__).resolve().parents[2]
EXAMPLE_PLUGIN = REPO / "examples" / "qlop-example-plugin"


@pytest.fixture(scope="session")
def example_plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example third-party plugin pip-installed (entry point and all) into a private folder.

    ``importlib.metadata`` finds its ``*.dist-info`` once the folder is on ``sys.path`` /
    ``PYTHONPATH``, so QLOP discovers it exactly as an installed distribution; the Python
    environment itself is left untouched.
    """
    import shutil
    import subprocess
    import sys

    root = tmp_path_factory.mktemp("gui-plugin-install")
    source = root / "src"
    shutil.copytree(
        EXAMPLE_PLUGIN,
        source,
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "tests", ".pytest_cache"),
    )
    site = root / "site"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--no-compile",
            "--target",
            str(site),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, f"pip install of the example plugin failed:\n{proc.stdout}\n{proc.stderr}"
    return site


@pytest.fixture
def with_example_plugin(example_plugin_site: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This process discovers the example plugin through its entry point."""
    from qlop.plugins import manager

    monkeypatch.syspath_prepend(str(example_plugin_site))
    import importlib

    importlib.invalidate_caches()
    manager.reset()
    return example_plugin_site
