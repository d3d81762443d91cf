"""Bundled feature steps: TA-Lib indicators (generic ``talib`` and named steps) and numpy steps.

This module is the registered plugin. Factories are strings so registration imports neither TA-Lib
nor numpy-heavy code; a step's module is imported when the step is first used.
"""

from __future__ import annotations

from qlop.api import ComponentSpec, hookimpl

_T = "qlop_contrib.features.talib_steps"
_N = "qlop_contrib.features.numpy_steps"
_X = "qlop_contrib.features.cross_section"

#: name -> (factory, params model, summary)
STEPS: dict[str, tuple[str, str, str]] = {
    "talib": (
        f"{_T}:TalibStep",
        f"{_T}:TalibParams",
        "Any TA-Lib function by name with its parameters, e.g. ADX -> adx_14",
    ),
    "rsi": (f"{_T}:RsiStep", f"{_T}:RsiParams", "TA-Lib RSI -> rsi_14"),
    "atr": (f"{_T}:AtrStep", f"{_T}:AtrParams", "TA-Lib ATR in price units -> atr_14"),
    "natr": (f"{_T}:NatrStep", f"{_T}:AtrParams", "TA-Lib NATR, ATR as % of close -> natr_14"),
    "macd": (
        f"{_T}:MacdStep",
        f"{_T}:MacdParams",
        "TA-Lib MACD -> macd_12_26_9, ... (normalize = true: / close -> macd_norm_12_26_9, ...)",
    ),
    "sma": (
        f"{_T}:SmaStep",
        f"{_T}:MovingAverageParams",
        "Close relative to its TA-Lib SMA -> close_to_sma_20 (raw sma_20 on request)",
    ),
    "ema": (
        f"{_T}:EmaStep",
        f"{_T}:MovingAverageParams",
        "Close relative to its TA-Lib EMA -> close_to_ema_20 (raw ema_20 on request)",
    ),
    "bollinger": (
        f"{_T}:BollingerStep",
        f"{_T}:BollingerParams",
        "TA-Lib Bollinger %B and bandwidth -> bb_pctb_20_2, bb_width_20_2",
    ),
    "returns": (f"{_N}:ReturnsStep", f"{_N}:ReturnsParams", "Simple and log returns -> ret_1, logret_5"),
    "lag": (f"{_N}:LagStep", f"{_N}:LagParams", "Any column k bars earlier -> rsi_14_lag_1"),
    "rvol": (f"{_N}:RvolStep", f"{_N}:RvolParams", "Realised volatility of log returns -> rvol_20"),
    "zscore": (f"{_N}:ZscoreStep", f"{_N}:ZscoreParams", "Rolling z-score of any column -> zscore_20_rsi_14"),
    "drawdown": (
        f"{_N}:DrawdownStep",
        f"{_N}:DrawdownParams",
        "Distance from the rolling high and drawdown -> dist_high_252, drawdown",
    ),
    "relvol": (f"{_N}:RelvolStep", f"{_N}:RelvolParams", "Volume / mean of previous volumes -> relvol_20"),
    "calendar": (f"{_N}:CalendarStep", f"{_N}:CalendarParams", "Calendar fields -> weekday, month"),
    "xrank": (
        f"{_X}:XrankStep",
        f"{_X}:XrankParams",
        "Percentile rank across tickers on the same date -> xrank_ret_20",
    ),
}


@hookimpl
def qlop_register_feature_step() -> list[ComponentSpec]:
    return [
        ComponentSpec(name, factory, summary, params_model) for name, (factory, params_model, summary) in STEPS.items()
    ]
