"""The ``forward_return`` label: the (unlevered, cost-free) return over the next ``horizon`` bars.

``basis = "next_open"`` (default) measures what a trade can actually earn: from the open of ``t+1``
(the first price available after the signal on ``t``) to the close of ``t+H``; it equals the price
return of a long :mod:`qlop.sim` trade without barriers. ``basis = "close"`` is the textbook
close-to-close return ``close[t+H] / close[t] - 1``. ``log = true`` gives log returns. The last ``H``
rows of each ticker get NaN.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from qlop.api import BaseLabelPlugin, TradeRules, number

if TYPE_CHECKING:
    import pandas as pd


class ForwardReturnParams(BaseModel):
    model_config = ConfigDict(extra="forbid", title="forward_return")

    horizon: int = number(
        10, ge=1, le=5000, unit="bars", description="Bars ahead: the return ends at the close of t+horizon"
    )
    basis: Literal["next_open", "close"] = Field(
        "next_open", description="Start price: the next bar's open (tradeable) or today's close"
    )
    log: bool = Field(False, description="Log return instead of simple return")


class ForwardReturnLabel(BaseLabelPlugin):
    """Regression target: forward return per row, NaN where the horizon runs past the ticker's data."""

    params_model: ClassVar[type[ForwardReturnParams]] = ForwardReturnParams
    task: ClassVar[str] = "regression"

    @property
    def horizon(self) -> int:
        return int(self.params.horizon)

    def trade_rules(self) -> TradeRules:
        """A long, unlevered, cost-free trade held to the horizon: its net return is the ``next_open`` label."""
        return TradeRules.frictionless(side="long", horizon=self.horizon)

    def make_labels(self, data: "pd.DataFrame") -> "pd.DataFrame":
        import pandas as pd

        from qlop.api import panel_arrays

        arr = panel_arrays(data, source="label forward_return")
        n = len(arr)
        h = self.horizon
        rows = np.arange(n, dtype=np.int64)
        known = rows + h <= arr.seg_end
        t = rows[known]
        start = arr.open[t + 1] if self.params.basis == "next_open" else arr.close[t]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = arr.close[t + h] / start
            value = np.log(ratio) if self.params.log else ratio - 1.0
        label = np.full(n, np.nan)
        label[t] = np.where(np.isfinite(value), value, np.nan)
        return pd.DataFrame({"label": label}, index=data.index)
