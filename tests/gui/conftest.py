"""Fixtures of the GUI tests: a run directory with every artefact the Runs page reads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest


def make_run_dir(root: Path, name: str, finished: str) -> Path:
    """A run folder shaped like ``qlop run``'s output (artefact contracts of the team brief)."""
    run = root / name
    (run / "backtest").mkdir(parents=True)
    (run / "export").mkdir()
    dates = pd.bdate_range("2012-01-02", "2013-12-31")
    rng = np.random.default_rng(0)
    equity = 100_000 * np.cumprod(1 + rng.normal(0.0004, 0.01, len(dates)))
    bench = 1500 * np.cumprod(1 + rng.normal(0.0003, 0.009, len(dates)))
    gross = equity * rng.uniform(0, 3, len(dates))
    pd.DataFrame(
        {
            "equity": equity,
            "cash": equity * 0.5,
            "gross_exposure": gross,
            "net_exposure": gross * 0.5,
            "leverage": gross / equity,
            "n_positions": rng.integers(0, 5, len(dates)),
            "benchmark": bench,
        },
        index=pd.Index(dates, name="date"),
    ).to_parquet(run / "backtest" / "equity.parquet")
    pd.DataFrame(
        {
            "ticker": ["AAPL", "MSFT", "AAPL", "JPM"],
            "side": ["long", "long", "short", "long"],
            "entry_date": dates[[3, 10, 40, 90]],
            "exit_date": dates[[8, 20, 50, 99]],
            "leverage": [3.0] * 4,
            "exit_reason": ["tp", "sl", "horizon", "tp"],
            "pnl": [120.0, -80.0, 15.0, 200.0],
        }
    ).to_parquet(run / "backtest" / "trades.parquet")
    (run / "backtest" / "metrics.json").write_text(
        json.dumps(
            {
                "cagr": 0.081,
                "sharpe": 0.93,
                "max_drawdown": -0.12,
                "n_trades": 4,
                "benchmark": {"cagr": 0.05, "sharpe": 0.6},
            }
        )
    )
    (run / "backtest" / "report.html").write_text("<html><body>report</body></html>")
    idx = pd.MultiIndex.from_product([["AAPL", "MSFT"], dates[:50]], names=["ticker", "date"])
    labels = pd.DataFrame(
        {
            "label": np.r_[np.tile([1.0, 0.0, 0.0, 1.0, 0.0], 19), [np.nan] * 5],
            "exit_reason": np.r_[np.tile(["tp", "sl", "horizon", "tp", "sl"], 19), [None] * 5],
        },
        index=idx,
    )
    labels.to_parquet(run / "labels.parquet")
    pd.DataFrame({"prob": rng.uniform(size=len(idx)), "fold": 0}, index=idx).to_parquet(run / "predictions.parquet")
    (run / "train_metrics.json").write_text(
        json.dumps(
            {
                "folds": [{"fold": 0, "auc": 0.55, "log_loss": 0.68}, {"fold": 1, "auc": 0.57, "log_loss": 0.67}],
                "overall": {"auc": 0.56},
                "feature_importance": {"rsi_14": 0.4, "ret_5": 0.6},
            }
        )
    )
    (run / "export" / "model.onnx").write_bytes(b"onnx-bytes")
    (run / "export" / "bundle.json").write_text("{}")
    (run / "config.json").write_text(json.dumps({"name": f"cfg-{name}"}))
    (run / "manifest.json").write_text(json.dumps({"finished_utc": finished, "stages": {"data": {}, "backtest": {}}}))
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
