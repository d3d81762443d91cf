"""Bundled strategies: ``probability_threshold``, ``top_k``, ``sma_crossover``, ``buy_and_hold``.

This module is the registered plugin. Factories and params models are strings, so registering imports
neither pandas nor the implementations.
"""

from __future__ import annotations

from qlop.api import ComponentSpec, hookimpl

_P = "qlop_contrib.strategies"


@hookimpl
def qlop_register_strategy() -> list[ComponentSpec]:
    return [
        ComponentSpec(
            "probability_threshold",
            f"{_P}.probability:ProbabilityThreshold",
            "Long when the predicted probability reaches `entry` (short below `short_entry`); "
            "exits by the label's barriers or an `exit` threshold",
            f"{_P}.params:ProbabilityThresholdParams",
        ),
        ComponentSpec(
            "top_k",
            f"{_P}.top_k:TopK",
            "Hold the k highest-probability tickers, rebalanced every n days",
            f"{_P}.params:TopKParams",
        ),
        ComponentSpec(
            "sma_crossover",
            f"{_P}.technical:SmaCrossover",
            "Long while the fast simple moving average of the close is above the slow one",
            f"{_P}.params:SmaCrossoverParams",
        ),
        ComponentSpec(
            "buy_and_hold",
            f"{_P}.technical:BuyAndHold",
            "Buy every ticker at the first open and hold it: the benchmark",
            f"{_P}.params:BuyAndHoldParams",
        ),
    ]
