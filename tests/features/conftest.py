"""Fixtures of the features area: small slices of the embedded sample data, and step construction."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pandas as pd
import pytest

#: Tickers with different first bars (GOOGL 2004-08-19, SPY 2005-02-25) and missing volumes
#: (2010-04-26 in every stock; C on three more days).
TICKERS = ("AAPL", "C", "GOOGL", "SPY")


@functools.lru_cache(maxsize=None)
def _sample(tickers: tuple[str, ...], start: str, end: str) -> pd.DataFrame:
    from qlop.schema import validate_panel
    from qlop_contrib.datasources.sample import SampleSource

    raw = SampleSource("sample", {}).load_data(list(tickers), start, end, "1d")
    return validate_panel(raw, "sample slice")


def sample_panel(
    tickers: tuple[str, ...] = TICKERS, start: str = "2004-01-01", end: str = "2010-12-31"
) -> pd.DataFrame:
    """A canonical panel from the sample CSVs (a fresh copy: tests may change it)."""
    return _sample(tuple(tickers), start, end).copy()


@pytest.fixture
def panel() -> pd.DataFrame:
    return sample_panel()


def make_step(name: str, params: dict[str, Any] | None = None) -> Any:
    """A bundled step built through the registry, as a config would build it."""
    from qlop.plugins.manager import get_plugin_manager

    return get_plugin_manager().create("feature_step", name, params or {}, "step_params")


def per_ticker(panel: pd.DataFrame, fn: Any) -> dict[str, np.ndarray]:
    """``fn(ticker_frame) -> {name: array}`` run on each ticker, concatenated in panel order."""
    parts: dict[str, list[np.ndarray]] = {}
    for _, frame in panel.groupby(level="ticker", sort=False):
        for name, values in fn(frame).items():
            parts.setdefault(name, []).append(np.asarray(values, dtype=np.float64))
    return {k: np.concatenate(v) for k, v in parts.items()}


def assert_columns_equal(
    actual: pd.DataFrame, expected: dict[str, np.ndarray], rtol: float = 0.0, atol: float = 0.0
) -> None:
    assert list(actual.columns) == list(expected), f"columns {list(actual.columns)} != {list(expected)}"
    for name, values in expected.items():
        np.testing.assert_allclose(
            actual[name].to_numpy(), values, rtol=rtol, atol=atol, equal_nan=True, err_msg=f"column {name}"
        )


class Kit:
    """The helpers above, handed to tests as the ``kit`` fixture (test modules do not import conftest)."""

    TICKERS = TICKERS
    sample_panel = staticmethod(sample_panel)
    make_step = staticmethod(make_step)
    per_ticker = staticmethod(per_ticker)
    assert_columns_equal = staticmethod(assert_columns_equal)


@pytest.fixture
def kit() -> Kit:
    return Kit()
