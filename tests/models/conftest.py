"""Fixtures of the models area: synthetic run directories with a real, learnable signal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import pytest

HORIZON = 5


def synthetic_frames(
    n_tickers: int = 3,
    start: str = "2010-01-01",
    end: str = "2014-12-31",
    task: str = "classification",
    horizon: int = HORIZON,
    seed: int = 0,
    warmup: int = 10,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Features and labels on the canonical (ticker, date) index, each ticker on its own calendar.

    Tickers start on different dates and skip some days; the first ``warmup`` rows of each ticker have
    NaN features and the last ``horizon`` rows have no label, like the real stages produce.
    """
    rng = np.random.default_rng(seed)
    frames, labels = [], []
    all_days = pd.bdate_range(start, end)
    for k in range(n_tickers):
        days = all_days[k * 7 :]
        days = days[rng.uniform(size=days.size) > 0.03]  # each ticker has its own gaps
        X = pd.DataFrame(
            rng.normal(size=(days.size, 4)),
            columns=["f0", "f1", "f2", "f3"],
            index=pd.MultiIndex.from_product([[f"T{k}"], days], names=["ticker", "date"]),
        )
        signal = 1.2 * X["f0"] - 0.8 * X["f1"] + rng.normal(0, 0.8, days.size)
        y = (signal > 0).astype("float64") if task == "classification" else 0.01 * signal
        X.iloc[:warmup] = np.nan
        y.iloc[:warmup] = np.nan
        y.iloc[-horizon:] = np.nan
        frames.append(X)
        labels.append(y)
    X = pd.concat(frames)
    lab = pd.DataFrame({"label": pd.concat(labels).astype("float64")}, index=X.index)
    return X.astype("float64"), lab


def write_config(
    path: Path,
    *,
    model_type: str = "xgboost",
    model_params: dict[str, Any] | None = None,
    task: str = "classification",
    horizon: int = HORIZON,
    validation: dict[str, Any] | None = None,
    export: dict[str, Any] | None = None,
    seed: int = 7,
    dropna: bool = True,
) -> Path:
    label_type = "leverage_opportunity" if task == "classification" else "forward_return"
    model_params = {"n_estimators": 40} if model_params is None and model_type == "xgboost" else (model_params or {})
    cfg = {
        "name": "models-test",
        "seed": seed,
        "features": {"steps": [], "dropna": dropna},
        "label": {"label_type": label_type, "label_params": {"horizon": horizon}},
        "model": {
            "model_type": model_type,
            "model_params": model_params,
            "validation": {"train_years": 2, "test_months": 6, **(validation or {})},
        },
    }
    if export is not None:
        cfg["export"] = export
    path.write_text(json.dumps(cfg), encoding="utf-8")
    return path


@pytest.fixture
def make_run(tmp_path: Path) -> Callable[..., tuple[Path, Path]]:
    """``make_run(name, task=..., **config)`` -> (config path, run dir) with features and labels written."""

    def make(
        name: str = "run", task: str = "classification", frames_kw: dict[str, Any] | None = None, **config: Any
    ) -> tuple[Path, Path]:
        run_dir = tmp_path / name
        run_dir.mkdir()
        X, lab = synthetic_frames(task=task, horizon=config.get("horizon", HORIZON), **(frames_kw or {}))
        X.to_parquet(run_dir / "features.parquet")
        lab.to_parquet(run_dir / "labels.parquet")
        return write_config(tmp_path / f"{name}.json", task=task, **config), run_dir

    return make
