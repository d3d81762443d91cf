"""The parameters of one leveraged trade, shared by the labels and the backtest engine.

Kept free of numpy/pandas so configs can validate trade rules without importing the simulator.
See ``docs/simulator.md`` for the exact semantics of every field.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Side = Literal["long", "short"]


def check_solvent(leverage: float, maintenance_margin: float) -> None:
    """Refuse a position that would be below maintenance margin the moment it is opened."""
    if leverage * maintenance_margin >= 1:
        raise ValueError(
            f"leverage x maintenance_margin = {leverage * maintenance_margin:g} >= 1: "
            "the position would be liquidated at entry"
        )


class TradeRules(BaseModel):
    """How a single trade is entered, carried and exited (immutable).

    Prices are compared with barriers placed relative to the entry price ``E`` (the open of the bar
    after the signal). Costs are fractions of the margin committed (see ``docs/simulator.md``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    side: Side = Field("long", description="Direction of the trade: long or short")
    leverage: float = Field(1.0, gt=0, le=100, description="Notional / margin (1 = unlevered)")
    horizon: int = Field(10, ge=1, le=5000,
                         description="Bars examined, the entry bar included; exit at the close of the last one")
    take_profit: float | None = Field(None, gt=0, le=100,
                                      description="Take-profit distance from entry as a price fraction (None = no barrier)")
    stop_loss: float | None = Field(None, gt=0, le=100,
                                    description="Stop-loss distance from entry as a price fraction (None = no barrier)")
    maintenance_margin: float = Field(0.25, ge=0, lt=1,
                                      description="Equity must stay above this fraction of the position's current value")
    liquidation_fee: float = Field(0.0, ge=0, le=1, description="Fraction of notional charged on a liquidation")
    commission_bps: float = Field(0.0, ge=0, le=1000, description="Commission per leg, bps of notional")
    slippage_bps: float = Field(0.0, ge=0, le=1000, description="Slippage per leg, bps of notional (a cost, not a price shift)")
    financing_rate: float = Field(0.0, ge=0, le=1,
                                  description="Annual interest on the borrowed part of a long, per calendar day held")
    borrow_fee: float = Field(0.0, ge=0, le=10, description="Annual stock-borrow fee of a short on its notional")

    @model_validator(mode="after")
    def _solvent(self) -> "TradeRules":
        check_solvent(self.leverage, self.maintenance_margin)
        return self

    @property
    def cost_rate(self) -> float:
        """Commission plus slippage per leg as a fraction of notional."""
        return (self.commission_bps + self.slippage_bps) / 1e4

    @property
    def side_sign(self) -> int:
        return 1 if self.side == "long" else -1
