"""Money amounts of a book: what the simulator's fractions of margin become for a sized trade, and
the interest its idle cash earns.

The simulator works in fractions of margin (no capital). Four things exist only once a trade has a
size, and live here: the minimum commission per leg (a fixed amount), the floor that a position
never loses more than its margin (costs included), the position's value while it is open (its carry
accrued day by day, from a constant rate or a series), and the growth of the book's cash.

Times are the book calendar's stamps (:attr:`qlop.sim.panel.PanelArrays.stamp`): calendar day numbers
for a daily panel, moments in UTC seconds for an intraday one (``bar_seconds > 0``: a bar's open is
its stamp, its close the stamp + ``bar_seconds``). Intraday carry accrues on the time held, from the
entry bar's open to the moment marked; idle cash compounds once per calendar day (UTC), as for daily
panels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from qlop.sim.panel import DAY_SECONDS
from qlop.sim.rates import RateCurve
from qlop.sim.terms import RateSeries, TradeTerms


@dataclass(frozen=True)
class CostModel:
    """Money amounts of the book's positions under its :class:`~qlop.sim.terms.TradeTerms` (the same
    terms the simulator's rules carry); ``financing`` is the curve of a financing-rate series over
    the book's days (None with a constant rate)."""

    terms: TradeTerms
    financing: RateCurve | None = None
    cash: RateCurve | None = None
    bar_seconds: int = 0

    def __post_init__(self) -> None:
        if self.financing is None and isinstance(self.terms.financing_rate, RateSeries):
            raise ValueError("CostModel: a financing-rate series needs its curve (CostModel.over)")
        if self.cash is None and (
            isinstance(self.terms.effective_cash_rate, RateSeries) or self.terms.effective_cash_rate != 0
        ):
            raise ValueError("CostModel: interest on cash needs its curve over the book's days (CostModel.over)")

    @classmethod
    def over(cls, terms: TradeTerms, day: Any, bar_seconds: int = 0) -> "CostModel":
        """The model of a book trading at the stamps ``day`` (calendar days; bar opens in seconds when
        ``bar_seconds``): rate series are loaded over their span; idle cash earns ``cash_rate`` (the
        risk-free rate when unset)."""
        if bar_seconds:
            stamps = np.asarray(day, dtype=np.int64)
            day = (
                np.array([stamps.min() // DAY_SECONDS, (stamps.max() + bar_seconds) // DAY_SECONDS])
                if stamps.size
                else stamps
            )
        financing = None
        if isinstance(terms.financing_rate, RateSeries):
            financing = RateCurve.over(terms.financing_rate, day, "financing_rate")
        field = "risk_free" if terms.cash_rate is None else "cash_rate"
        cash = RateCurve.over(terms.effective_cash_rate, day, field)
        return cls(terms, financing, None if cash.is_zero else cash, int(bar_seconds))

    def calendar_day(self, stamp: Any) -> Any:
        """The calendar day of a stamp (itself for a daily book)."""
        return np.asarray(stamp, dtype=np.int64) // DAY_SECONDS if self.bar_seconds else stamp

    @property
    def earns_interest(self) -> bool:
        """Idle cash earns interest (a non-zero cash rate)."""
        return self.cash is not None and not self.cash.is_zero

    def cash_growth(self, day: Any) -> Any:
        """Growth of one unit of idle cash from the curve's first day to each ``day`` (compounded
        daily under the day count); ones when cash earns nothing."""
        if not self.earns_interest:
            return np.ones(np.shape(day))
        assert self.cash is not None
        return self.cash.growth(self.calendar_day(day), self.days_per_year)

    @property
    def series_financing(self) -> bool:
        """Longs accrue a financing-rate series (their carry is not linear in calendar days)."""
        return self.financing is not None and self.financing.rate is not None

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
        (``financing_rate * (L - 1)``; 0 here for a series, see :meth:`carry`) or the borrow fee on a
        short's notional (``borrow_fee * L``)."""
        lev = self.leverage
        fin = 0.0 if self.series_financing else float(self.terms.financing_rate)  # type: ignore[arg-type]
        return np.where(np.asarray(side) > 0, fin * max(lev - 1.0, 0.0), self.terms.borrow_fee * lev)

    def carry(self, side: Any, entry_day: Any, day: Any) -> Any:
        """Carry accrued from ``entry_day`` to ``day`` as a fraction of margin: ``carry_rate x days / Y``,
        with a financing-rate series the sum of each day's rate for longs."""
        if self.bar_seconds:  # intraday: moments in seconds (the entry bar's open, the time marked)
            t0 = np.asarray(entry_day, dtype=np.int64)
            t1 = np.asarray(day, dtype=np.int64)
            days: Any = (t1 - t0).astype(np.float64) / DAY_SECONDS
        else:
            days = np.asarray(day) - np.asarray(entry_day)
        out = self.carry_rate(side) * (days / self.days_per_year)
        if self.series_financing:
            assert self.financing is not None
            acc = self.financing.accrued_seconds(t0, t1) if self.bar_seconds else self.financing.accrued(entry_day, day)
            fin = acc * (max(self.leverage - 1.0, 0.0) / self.days_per_year)
            out = np.where(np.asarray(side) > 0, fin, out)
        return out

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

    def value(
        self, margin: Any, side: Any, entry_price: Any, price: Any, entry_day: Any, day: Any, topup_entry: Any
    ) -> Any:
        """Value of an open position entered on ``entry_day`` and marked at ``price`` on ``day``: margin
        plus leveraged P&L, less the entry leg's costs and the carry accrued so far, floored at zero."""
        lev = self.leverage
        frac = (
            1.0
            + np.asarray(side) * lev * (np.asarray(price) / entry_price - 1.0)
            - self.leg_rate * lev
            - self.carry(side, entry_day, day)
        )
        return np.maximum(np.asarray(margin) * frac - topup_entry, 0.0)
