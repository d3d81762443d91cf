"""The ``leverage_opportunity`` label: would a leveraged trade entered at the next open have paid off?

For every row ``t`` (the signal day) the trade of :mod:`qlop.sim` is simulated: entry at the open of
``t+1``, bars ``t+1 .. t+H`` examined, exit at a take-profit, stop, liquidation or the close of
``t+H``. ``label`` is 1.0 where the net return on margin (after every cost) exceeds ``hurdle``, else
0.0. Rows whose horizon is not fully inside their ticker's data (the last ``H`` rows of each ticker)
get NaN, even when a barrier was hit earlier: whether a row is labelled never depends on its outcome.
With ``exit_at_session_end`` the trade also closes at its session's last bar, so a row is labelled
when that comes before the data ends. On intraday panels financing accrues on the time held.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import numpy as np
from pydantic import ConfigDict, field_validator

from qlop.api import BaseLabelPlugin, TradeRules, number

if TYPE_CHECKING:
    import pandas as pd


class LeverageOpportunityParams(TradeRules):
    """The labelled trade: its exits, its trade terms (leverage, margin, costs: the shared fields and
    defaults of ``qlop.api.TradeTerms``) and the net return it must beat."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="leverage_opportunity")

    take_profit: float | None = number(
        0.05,
        gt=0,
        le=100,
        unit="(price fraction)",
        description="Take-profit distance from entry as a price fraction (None = no barrier)",
    )
    stop_loss: float | None = number(
        0.03,
        gt=0,
        le=100,
        unit="(price fraction)",
        description="Stop-loss distance from entry as a price fraction (None = no barrier)",
    )
    hurdle: float = number(
        0.0,
        ge=-1,
        le=100,
        unit="(net return on margin)",
        description="Label is 1 where the net return on margin is above this",
    )

    @field_validator("min_commission")
    @classmethod
    def _no_minimum(cls, value: float) -> float:
        if value:
            raise ValueError(
                "a label's return is per unit of margin, with no position size, so a minimum "
                "commission cannot apply: set it in [backtest]"
            )
        return value


class LeverageOpportunityLabel(BaseLabelPlugin):
    """Binary label from the shared trade simulator; keeps ``net_return``, ``exit_reason``, ``bars_held``."""

    params_model: ClassVar[type[LeverageOpportunityParams]] = LeverageOpportunityParams
    task: ClassVar[str] = "classification"

    @property
    def horizon(self) -> int:
        return int(self.params.horizon)

    def trade_rules(self) -> TradeRules:
        """The simulator rules of this label (the backtest exits trades with the same barriers)."""
        return TradeRules(**self.params.model_dump(exclude={"hurdle"}))

    def make_labels(self, data: "pd.DataFrame") -> "pd.DataFrame":
        import pandas as pd

        from qlop.api import EXIT_REASONS, panel_arrays, simulate

        arr = panel_arrays(data, source="label leverage_opportunity")
        n = len(arr)
        h = self.horizon
        rows = np.arange(n, dtype=np.int64)
        known = rows + h <= arr.seg_end
        if self.params.exit_at_session_end:  # a trade closed by its session's end, before data ends
            inside = np.flatnonzero(rows < arr.seg_end)
            known[inside] |= arr.session_end[inside + 1] < arr.seg_end[inside]
        known[known] = arr.open[rows[known] + 1] > 0  # an unusable entry price gives no label
        signal = rows[known]
        res = simulate(
            arr.open,
            arr.high,
            arr.low,
            arr.close,
            arr.day,
            arr.seg_end,
            signal + 1,
            self.trade_rules(),
            clock=arr.clock,
        )

        net = np.full(n, np.nan)
        net[signal] = res.net_return
        label = np.full(n, np.nan)
        label[signal] = (res.net_return > self.params.hurdle).astype(np.float64)
        reason = np.full(n, None, dtype=object)
        reason[signal] = np.asarray(EXIT_REASONS, dtype=object)[res.reason]
        bars = np.full(n, np.nan)
        bars[signal] = res.bars_held
        return pd.DataFrame(
            {
                "label": label,
                "net_return": net,
                "exit_reason": pd.Series(reason, index=data.index, dtype=object),
                "bars_held": bars,
            },
            index=data.index,
        )
