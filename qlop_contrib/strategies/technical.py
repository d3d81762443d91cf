"""Strategies that need no model: ``sma_crossover`` and ``buy_and_hold``."""

from __future__ import annotations

import numpy as np
import pandas as pd

from qlop.api import BaseStrategyPlugin, ConfigError
from qlop_contrib.strategies._common import signal_frame
from qlop_contrib.strategies.params import BuyAndHoldParams, SmaCrossoverParams


def rolling_mean(close: pd.Series, window: int) -> np.ndarray:
    """Per-ticker simple moving average of ``close`` (NaN until ``window`` bars exist)."""
    rolled = close.groupby(level=0, sort=False).rolling(window, min_periods=window).mean()
    return rolled.droplevel(0).reindex(close.index).to_numpy()


class SmaCrossover(BaseStrategyPlugin):
    """Long while SMA(fast) > SMA(slow) of the close, flat (or short) otherwise; flat during warm-up.

    The averages at day t use closes up to t, and the engine trades at t+1's open: no look-ahead.
    """

    params_model = SmaCrossoverParams
    needs_predictions = False

    def generate_signals(self, data: pd.DataFrame, model_predictions: pd.DataFrame | None) -> pd.DataFrame:
        p: SmaCrossoverParams = self.params
        close = data["close"]
        fast, slow = rolling_mean(close, p.fast), rolling_mean(close, p.slow)
        with np.errstate(invalid="ignore"):
            signal = (fast > slow).astype(np.int8)
            if p.allow_short:
                signal -= (fast < slow).astype(np.int8)
        return signal_frame(data.index, signal)


class BuyAndHold(BaseStrategyPlugin):
    """Long every (chosen) ticker from its first bar: the engine buys at the second bar's open and
    holds to the last close."""

    params_model = BuyAndHoldParams
    needs_predictions = False

    def generate_signals(self, data: pd.DataFrame, model_predictions: pd.DataFrame | None) -> pd.DataFrame:
        p: BuyAndHoldParams = self.params
        tickers = data.index.get_level_values(0)
        if p.tickers:
            missing = sorted(set(p.tickers) - set(tickers.unique()))
            if missing:
                raise ConfigError(f"backtest.strategy_params.tickers: {', '.join(missing)} not in the data")
            signal = tickers.isin(p.tickers).astype(np.int8)
        else:
            signal = np.ones(len(data), dtype=np.int8)
        return signal_frame(data.index, signal)
