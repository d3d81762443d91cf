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
from qlop.sim.panel import PanelArrays, panel_arrays
from qlop.sim.rules import TradeRules

__all__ = [
    "END", "HORIZON", "LIQUIDATION", "REASONS", "SIGNAL", "SL", "TP",
    "PanelArrays", "SimResult", "TradeRules", "barrier_prices", "liquidation_price", "panel_arrays", "simulate",
]
