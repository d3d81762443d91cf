"""The rules of one simulated trade: its exits (side, horizon, barriers) on top of the trade terms.

Kept free of numpy/pandas so configs can validate trade rules without importing the simulator.
See ``docs/simulator.md`` for the exact semantics of every field.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from qlop.numbers import number
from qlop.sim.terms import TradeTerms, check_solvent

Side = Literal["long", "short"]

__all__ = ["Side", "TradeExits", "TradeRules", "check_solvent"]


class TradeExits(BaseModel):
    """How a simulated trade is entered and left: side, bars examined, take-profit and stop-loss."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    side: Side = Field("long", description="Direction of the trade: long or short")
    horizon: int = number(
        10,
        ge=1,
        le=5000,
        unit="bars",
        description="Bars examined, the entry bar included; exit at the close of the last one",
    )
    take_profit: float | None = number(
        None,
        gt=0,
        le=100,
        unit="(price fraction)",
        description="Take-profit distance from entry as a price fraction (None = no barrier)",
    )
    stop_loss: float | None = number(
        None,
        gt=0,
        le=100,
        unit="(price fraction)",
        description="Stop-loss distance from entry as a price fraction (None = no barrier)",
    )
    exit_at_session_end: bool = Field(
        False,
        description="Close at the close of the entry session's last bar (no overnight risk): intraday "
        "panels; a daily bar is its own session",
    )


class TradeRules(TradeTerms, TradeExits):
    """How a single trade is entered, carried and exited (immutable): its exits and its terms.

    Prices are compared with barriers placed relative to the entry price ``E`` (the open of the bar
    after the signal). Costs are fractions of the margin committed (see ``docs/simulator.md``); the
    terms' defaults are :class:`qlop.sim.terms.TradeTerms`'s. ``min_commission`` is money and does not
    enter the simulator (it needs a position size: the backtest applies it).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    @property
    def side_sign(self) -> int:
        return 1 if self.side == "long" else -1
