"""The compiled bar loop of target-weight books (:mod:`qlop.backtest.portfolio`), numba.

One loop walks every book's calendar: interest and financing since the last date, resizes at the
open, margin checks (isolated or cross) at the close, the book's new targets, then the marks. The
rules are written out in ``docs/backtest.md`` ("Target weights") and checked against a plain
per-bar loop in ``tests/backtest/test_backtest_reference.py``. Imported on first use only and cached
on disk (``cache=True``): only the first run on a machine compiles it.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np

#: Fill kinds (``fills.kind``).
REBALANCE, LIQUIDATION, MARGIN_CALL, BUST = 0, 1, 2, 3
FILL_KINDS = ("rebalance", "liquidation", "margin_call", "bust")
#: Per-book totals (columns of ``stats``).
STAT_INTEREST, STAT_FINANCING, STAT_BORROW, STAT_CALLS, STAT_LIQUIDATIONS, STAT_BUST_SLOT, STAT_DEFICIT = range(7)
N_STATS = 7
#: A resize of at most this fraction of equity is floating-point noise (the same weight reached two
#: ways), not a trade: making it would pay a ``min_commission`` for nothing. Closes are never skipped.
DUST_FRACTION = 1e-9
#: An annualised volatility at most this counts as zero: a window of P&L that is mathematically
#: constant leaves ~1e-17 of rounding, and dividing a target by it would lever the book to its cap.
VOL_EPSILON = 1e-9


@cache
def _kernel() -> Any:
    from qlop.backtest.kernels import load_numba

    load_numba()
    from qlop.backtest import rebalance_jit

    return (
        rebalance_jit.rebalance_books,
        rebalance_jit.rolling_vol,
        rebalance_jit.signal_targets,
        rebalance_jit.vol_targets,
    )


def rebalance_books(*args: Any) -> int:
    """See the compiled kernel (:mod:`qlop.backtest.portfolio` prepares its arguments)."""
    return int(_kernel()[0](*args))


def rolling_vol(close: np.ndarray, seg_end: np.ndarray, lookback: int, periods: float) -> tuple[np.ndarray, np.ndarray]:
    """Per row its ticker's annualised realised volatility (causal, NaN before ``lookback`` returns)
    and its close-to-close return (NaN on a ticker's first row)."""
    return _kernel()[1](
        np.ascontiguousarray(close, dtype=np.float64),
        np.ascontiguousarray(seg_end, dtype=np.int64),
        int(lookback),
        float(periods),
    )


def signal_targets(
    signal: np.ndarray, weight: np.ndarray, seg_start: np.ndarray, scale: float, every_row: bool
) -> np.ndarray:
    """Targets from signals: ``signal x weight x scale`` on every row, or only where the signal
    changes within its ticker (NaN elsewhere: hold)."""
    return _kernel()[2](
        np.ascontiguousarray(signal, dtype=np.int8),
        np.ascontiguousarray(weight, dtype=np.float64),
        np.ascontiguousarray(seg_start, dtype=np.int64),
        float(scale),
        bool(every_row),
    )


def vol_targets(
    close: np.ndarray,
    seg_end: np.ndarray,
    signal: np.ndarray | None,
    weight: np.ndarray,
    lookback: int,
    periods: float,
    target_vol: float,
    max_lev: float,
) -> np.ndarray:
    """Volatility-scaled targets: ``base x target_vol / vol`` (0 while the volatility is at most
    ``VOL_EPSILON``), clipped to ``max_lev``, NaN where ``base`` is (hold); ``base`` = ``signal x weight`` or,
    without signals, ``weight``; ``vol`` as :func:`rolling_vol`."""
    from_signal = signal is not None
    return _kernel()[3](
        np.ascontiguousarray(close, dtype=np.float64),
        np.ascontiguousarray(seg_end, dtype=np.int64),
        np.ascontiguousarray(signal if from_signal else np.zeros(0), dtype=np.int8),
        np.ascontiguousarray(weight, dtype=np.float64),
        from_signal,
        int(lookback),
        float(periods),
        float(target_vol),
        float(max_lev),
    )
