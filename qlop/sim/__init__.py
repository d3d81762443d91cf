"""The leveraged-trade simulator shared by the labels and the backtest (see ``docs/simulator.md``).

Names are resolved on first use (PEP 562): ``qlop.sim.terms`` and ``qlop.sim.rules`` validate configs
without importing numpy, while ``from qlop.sim import simulate`` keeps working.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    **{
        name: "qlop.sim.engine"
        for name in (
            "END",
            "HORIZON",
            "LIQUIDATION",
            "REASONS",
            "SIGNAL",
            "SL",
            "TP",
            "SimResult",
            "barrier_prices",
            "liquidation_price",
            "simulate",
        )
    },
    "PanelArrays": "qlop.sim.panel",
    "panel_arrays": "qlop.sim.panel",
    "TradeRules": "qlop.sim.rules",
    "TradeTerms": "qlop.sim.terms",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'qlop.sim' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:
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
    from qlop.sim.terms import TradeTerms
