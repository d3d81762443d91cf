"""The leveraged multi-asset backtest engine (see ``docs/backtest.md``)."""

from qlop.backtest.candidates import Candidates, ExitRules, build_candidates
from qlop.backtest.costs import CostModel
from qlop.backtest.engine import BacktestResult, EngineSettings, run_arrays, run_engine
from qlop.backtest.sizing import SizingRules

__all__ = [
    "BacktestResult",
    "Candidates",
    "CostModel",
    "EngineSettings",
    "ExitRules",
    "SizingRules",
    "build_candidates",
    "run_arrays",
    "run_engine",
]
