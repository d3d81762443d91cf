"""``range_position``: a causal, per-ticker feature (rolling windows only look back)."""

from __future__ import annotations

import pandas as pd
from pydantic import BaseModel, ConfigDict

from qlop.api import BaseFeatureStepPlugin, number


class RangePositionParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    window: int = number(20, ge=2, le=500, unit="bars", description="Bars in the rolling high-low range")


class RangePosition(BaseFeatureStepPlugin):
    """(close - lowest low) / (highest high - lowest low) over the last ``window`` bars of each ticker."""

    params_model = RangePositionParams

    def transform(self, data: pd.DataFrame) -> pd.DataFrame:
        window = self.step_params.window
        by_ticker = data.groupby(level="ticker", sort=False)
        # Per-ticker rolling windows: no bar of one ticker ever sees another's.
        lo = by_ticker["low"].transform(lambda s: s.rolling(window, min_periods=window).min())
        hi = by_ticker["high"].transform(lambda s: s.rolling(window, min_periods=window).max())
        span = (hi - lo).where(hi > lo)
        out = ((data["close"] - lo) / span).astype("float64")
        return pd.DataFrame({f"range_pos_{window}": out}, index=data.index)
