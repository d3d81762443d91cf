"""QLOP's default feature set: the one place it is defined (examples/quickstart.toml mirrors it).

Scale-free features only (every step declares ``scale_free``, checked by the feature contract), so one
model can learn across tickers whose prices differ a hundredfold, and a back-adjusted history (whose
level depends on later splits and dividends) tells it nothing about the future: returns, RSI, NATR,
MACD divided by the close, %B and bandwidth, realised volatility, distances from highs, relative
volume, calendar fields and a cross-sectional rank of returns.
"""

from __future__ import annotations

from typing import Any

DEFAULT_STEPS: list[dict[str, Any]] = [
    {"step_type": "returns", "step_params": {"windows": [1, 5, 20]}},
    {"step_type": "rsi", "step_params": {"timeperiod": 14}},
    {"step_type": "natr", "step_params": {"timeperiod": 14}},
    {"step_type": "macd", "step_params": {"fastperiod": 12, "slowperiod": 26, "signalperiod": 9, "normalize": True}},
    {"step_type": "bollinger", "step_params": {"timeperiod": 20, "nbdev": 2.0}},
    {"step_type": "rvol", "step_params": {"window": 20}},
    {"step_type": "zscore", "step_params": {"columns": ["macd_hist_norm_12_26_9", "rsi_14"], "window": 20}},
    {"step_type": "drawdown", "step_params": {"windows": [252], "expanding": True}},
    {"step_type": "relvol", "step_params": {"window": 20}},
    {"step_type": "calendar", "step_params": {"fields": ["weekday", "month"]}},
    {"step_type": "xrank", "step_params": {"columns": ["ret_20"]}},
]


def default_features_config(dropna: bool = True) -> dict[str, Any]:
    """The default set as a ``[features]`` section (what ``compute_features`` and
    ``qlop.config.FeaturesConfig`` take)."""
    import copy

    return {"steps": copy.deepcopy(DEFAULT_STEPS), "dropna": dropna}
