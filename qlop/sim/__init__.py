"""The leveraged-trade simulator shared by the labels and the backtest (see ``docs/simulator.md``)."""

from qlop.sim.engine import (
    END,
    HORIZON,
    LIQUIDATION,
    REASONS,
    SIGNAL,
    SL,
    TP,
    SimResult,
    barrier_prices,
    liquidation_price,
    simulate,
)
from qlop.sim.rules import TradeRules

__all__ = [
    "END", "HORIZON", "LIQUIDATION", "REASONS", "SIGNAL", "SL", "TP",
    "SimResult", "TradeRules", "barrier_prices", "liquidation_price", "simulate",
]
