"""Money amounts of one position: what the simulator's fractions of margin become for a sized trade.

The simulator works in fractions of margin (no capital). Three things exist only once a trade has a
size, and live here: the minimum commission per leg (a fixed amount), the floor that a position
never loses more than its margin (costs included), and the position's value while it is open.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from qlop.sim.terms import TradeTerms


@dataclass(frozen=True)
class CostModel:
    """Money amounts of the book's positions under its :class:`~qlop.sim.terms.TradeTerms` (the same
    terms the simulator's rules carry)."""

    terms: TradeTerms

    @property
    def leverage(self) -> float:
        return self.terms.leverage

    @property
    def commission_bps(self) -> float:
        return self.terms.commission_bps

    @property
    def min_commission(self) -> float:
        return self.terms.min_commission

    @property
    def leg_rate(self) -> float:
        """Commission plus slippage per leg, as a fraction of the leg's notional."""
        return self.terms.cost_rate

    @property
    def days_per_year(self) -> float:
        """The terms' day count: annual carry x calendar days held / this."""
        return self.terms.days_per_year

    def carry_rate(self, side: Any) -> Any:
        """Annual carry as a fraction of margin: interest on the borrowed part of a long
        (``financing_rate * (L - 1)``) or the borrow fee on a short's notional (``borrow_fee * L``)."""
        lev = self.leverage
        return np.where(np.asarray(side) > 0, self.terms.financing_rate * max(lev - 1.0, 0.0),
                        self.terms.borrow_fee * lev)

    def topups(self, notional: Any, rel: Any) -> tuple[Any, Any]:
        """Extra commission per leg so each leg pays at least ``min_commission``.

        The entry leg trades ``notional``; the exit leg ``notional * rel`` (``rel`` = exit / entry
        price), as in the simulator's commission.
        """
        if self.min_commission <= 0:
            z = np.zeros_like(np.asarray(notional, dtype=np.float64))
            return z, z
        c = self.commission_bps / 1e4
        n = np.asarray(notional, dtype=np.float64)
        entry = np.maximum(self.min_commission - c * n, 0.0)
        exit_ = np.maximum(self.min_commission - c * n * np.asarray(rel, dtype=np.float64), 0.0)
        return entry, exit_

    def pnl(self, margin: Any, net_return: Any, topup_entry: Any, topup_exit: Any) -> Any:
        """Realised P&L: ``margin * net_return`` less the top-ups, never below ``-margin``."""
        m = np.asarray(margin, dtype=np.float64)
        return np.maximum(m * net_return - topup_entry - topup_exit, -m)

    def value(self, margin: Any, side: Any, entry_price: Any, price: Any, days_held: Any,
              topup_entry: Any) -> Any:
        """Value of an open position marked at ``price`` after ``days_held`` calendar days: margin plus
        leveraged P&L, less the entry leg's costs and the carry accrued so far, floored at zero."""
        lev = self.leverage
        frac = (1.0 + np.asarray(side) * lev * (np.asarray(price) / entry_price - 1.0)
                - self.leg_rate * lev - self.carry_rate(side) * (np.asarray(days_held) / self.days_per_year))
        return np.maximum(np.asarray(margin) * frac - topup_entry, 0.0)
