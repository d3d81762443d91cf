"""``probability_band``: trade the model's probability when it leaves a neutral band."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from qlop.api import BaseStrategyPlugin, number


class ProbabilityBandParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    upper: float = number(0.6, ge=0.5, le=1.0, unit="(probability)", description="Go long when prob is above this")
    lower: float = number(
        0.4, ge=0.0, le=0.5, unit="(probability)", description="Go short (if allowed) when prob is below this"
    )
    allow_short: bool = Field(False, description="Take short positions below `lower`")

    @model_validator(mode="after")
    def _band(self) -> "ProbabilityBandParams":
        if self.lower > self.upper:
            raise ValueError(f"lower ({self.lower}) must not exceed upper ({self.upper})")
        return self


class ProbabilityBand(BaseStrategyPlugin):
    """Signal for day t uses only day t's prediction; the backtest trades it at t+1's open."""

    params_model = ProbabilityBandParams
    needs_predictions = True

    def generate_signals(self, data: pd.DataFrame, model_predictions: pd.DataFrame | None) -> pd.DataFrame:
        p = self.strategy_params
        if model_predictions is None:
            raise ValueError("probability_band needs model predictions")
        prob = model_predictions["prob"].reindex(data.index).to_numpy(dtype="float64")
        signal = np.zeros(len(data))
        signal[prob > p.upper] = 1.0
        if p.allow_short:
            signal[prob < p.lower] = -1.0
        return pd.DataFrame({"signal": signal}, index=data.index)
