"""``forward_return_sign``: a classification label that looks exactly ``horizon`` bars ahead."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from qlop.api import BaseLabelPlugin, number


class ForwardReturnSignParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    horizon: int = number(5, ge=1, le=250, unit="bars", description="Bars ahead whose close is compared with today's")
    threshold: float = number(0.0, ge=-0.5, le=0.5, unit="(return)", description="Return the future close must beat")


class ForwardReturnSign(BaseLabelPlugin):
    """label = 1.0 when close[t + horizon] / close[t] - 1 > threshold, else 0.0; NaN for the last
    ``horizon`` bars of each ticker, whose future is unknown."""

    params_model = ForwardReturnSignParams
    task = "classification"

    def make_labels(self, data: pd.DataFrame) -> pd.DataFrame:
        p = self.label_params
        future = data.groupby(level="ticker", sort=False)["close"].shift(-p.horizon)
        ret = future / data["close"] - 1.0
        label = np.where(ret.isna(), np.nan, (ret > p.threshold).astype("float64"))
        return pd.DataFrame(
            {"label": label.astype("float64"), "forward_return": ret.astype("float64")}, index=data.index
        )
