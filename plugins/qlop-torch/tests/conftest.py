"""Fixtures of qlop-torch's tests. They need PyTorch and the installed plugin (`pip install
torch==2.13.0`, then `pip install -e plugins/qlop-torch`); without them the tests are not collected
(the header says why), except where QLOP_STRICT_TORCH=1 (QLOP's CI sets it): there that is an error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

try:
    import torch  # noqa: F401

    import qlop_torch  # noqa: F401

    MISSING = None
except ImportError as exc:  # pragma: no cover - depends on the environment
    if os.environ.get("QLOP_STRICT_TORCH") == "1":
        raise
    MISSING = str(exc)
    collect_ignore_glob = ["test_*.py"]


def pytest_report_header(config: pytest.Config) -> str | None:
    return f"qlop-torch tests not collected: {MISSING}" if MISSING else None


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test gets its own QLOP cache folder (QLOP's suite does the same for its own tests)."""
    monkeypatch.setenv("QLOP_CACHE_DIR", str(tmp_path_factory.mktemp("qlop-cache")))


#: a tiny LSTM: enough to learn the synthetic signal, fast enough for every test
TINY_LSTM = {
    "lookback": 5,
    "hidden_size": 8,
    "epochs": 4,
    "batch_size": 64,
    "learning_rate": 0.02,
    "early_stopping_patience": 2,
}


def _run_config(
    tmp_path: Path,
    name: str = "torch-e2e",
    model_type: str = "lstm",
    model_params: dict[str, Any] | None = None,
    **extra: Any,
) -> Path:
    """A small real pipeline: three sample tickers, two cheap feature steps, the leverage label,
    walk-forward over 2011-2016, the ONNX exporter (written as JSON, which QLOP reads like TOML)."""
    cfg = {
        "name": name,
        "seed": 11,
        "runs_dir": str(tmp_path / "runs"),
        "data": {
            "data_source_type": "sample",
            "tickers": ["AAPL", "MSFT", "JPM"],
            "start_date": "2011-01-01",
            "end_date": "2016-12-31",
        },
        "features": {
            "dropna": True,
            "steps": [
                {"step_type": "returns", "step_params": {"windows": [1, 5]}},
                {"step_type": "rsi", "step_params": {"timeperiod": 14}},
            ],
        },
        "label": {"label_type": "leverage_opportunity", "label_params": {"horizon": 5, "leverage": 2.0}},
        "model": {
            "model_type": model_type,
            "model_params": model_params or TINY_LSTM,
            "validation": {"train_years": 2, "test_months": 12},
        },
        "export": {"format_name": "onnx"},
        **extra,
    }
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(cfg), encoding="utf-8")
    return path


def _qlop(
    *args: str, env: dict[str, str] | None = None, code: str | None = None, timeout: float = 900
) -> subprocess.CompletedProcess:
    """``qlop ARGS`` in a fresh interpreter (``code`` runs first, e.g. to patch discovery)."""
    script = f"{code or ''}\nimport sys\nfrom qlop.cli.main import main\nsys.argv = ['qlop', *{list(args)!r}]\nmain()\n"
    return subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )


@pytest.fixture(scope="session")
def make_config():
    """``make_config(tmp_path, name=..., model_type=..., model_params=..., **sections)`` -> config path."""
    return _run_config


@pytest.fixture(scope="session")
def run_qlop():
    """``run_qlop(*args, env=None, code=None)`` -> CompletedProcess of ``qlop ARGS`` in a new interpreter."""
    return _qlop
