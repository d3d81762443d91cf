"""The trade terms: leverage, margin and every cost of a position, declared once with one set of defaults.

The simulator's rules (:class:`qlop.sim.rules.TradeRules`), the ``leverage_opportunity`` label's
params, the ``[backtest]`` config and the backtest engine's settings all inherit :class:`TradeTerms`,
so a field has one name, one bound, one default and one validation wherever it is set, and the JSON
Schema (``qlop config schema``, the GUI forms, ``qlop plugins show``) shows the same field everywhere.

Kept free of numpy and pandas: configs validate terms without importing the simulator.
See ``docs/simulator.md`` for what each field does to a trade and ``docs/backtest.md`` for the book.
"""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from qlop.numbers import number

DayCount = Literal["act_365", "act_360"]

#: Days in the year of each day count: carry = annual rate x calendar days held / this.
DAYS_PER_YEAR: dict[str, float] = {"act_365": 365.0, "act_360": 360.0}


def check_solvent(leverage: float, maintenance_margin: float) -> None:
    """Refuse a position that would be below maintenance margin the moment it is opened."""
    if leverage * maintenance_margin >= 1:
        raise ValueError(
            f"leverage {leverage:g} x maintenance_margin {maintenance_margin:g} = "
            f"{leverage * maintenance_margin:g} >= 1: the position would be liquidated at entry"
        )


class TradeTerms(BaseModel):
    """Leverage, margin and costs of a position (immutable).

    Costs are per leg or per year as fractions of notional or margin, so they apply to a trade of any
    size; ``min_commission`` is the one amount of money, applied only where a trade has a size (the
    backtest): the simulator and the labels work per unit of margin.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    leverage: float = number(1.0, gt=0, le=100, unit="x margin", description="Notional / margin (1 = unlevered)")
    maintenance_margin: float = number(
        0.25, ge=0, lt=1, unit="(fraction of the position's value)",
        validate_default=True,  # the solvency check also covers the default
        description="Equity must stay above this fraction of the position's current value; "
                    "leverage x maintenance_margin must be below 1")
    commission_bps: float = number(1.0, ge=0, le=1000, unit="bps",
                                   description="Commission per leg, bps of that leg's notional")
    min_commission: float = number(
        0.0, ge=0, le=1e9, unit="(money per leg)",
        description="Minimum commission per leg, in money (backtest only: needs a position size)")
    slippage_bps: float = number(
        2.0, ge=0, le=1000, unit="bps",
        description="Slippage per leg, bps of that leg's notional (a cost, not a price shift)")
    financing_rate: float = number(
        0.05, ge=0, le=1, unit="(annual fraction)",
        description="Annual interest on the borrowed part of a long, (leverage - 1) x margin")
    day_count: DayCount = Field(
        "act_365", description="Day count of financing and borrow fee: calendar days held / 365 or / 360")
    borrow_fee: float = number(0.0, ge=0, le=10, unit="(annual fraction of notional)",
                               description="Annual stock-borrow fee of a short, on its notional")
    liquidation_fee: float = number(0.0, ge=0, le=1, unit="(fraction of notional)",
                                    description="Fraction of notional charged on a liquidation")

    @field_validator("maintenance_margin")
    @classmethod
    def _solvent(cls, mm: float, info: ValidationInfo) -> float:
        lev = info.data.get("leverage")  # absent when leverage itself failed: that error is reported
        if lev is not None:
            check_solvent(lev, mm)
        return mm

    @classmethod
    def of(cls, source: Any) -> "TradeTerms":
        """The terms carried by ``source`` (a config section, label params, rules: anything with the fields)."""
        return cls.model_validate({name: getattr(source, name) for name in cls.model_fields})

    @classmethod
    def frictionless(cls, **fields: Any) -> Self:
        """Unlevered and free of every cost (the terms under which a net return is the price return),
        with ``fields`` on top: ``TradeRules.frictionless(horizon=5)``, ``frictionless(leverage=3)``."""
        free = {"leverage": 1.0, "commission_bps": 0.0, "min_commission": 0.0, "slippage_bps": 0.0,
                "financing_rate": 0.0, "borrow_fee": 0.0, "liquidation_fee": 0.0}
        return cls(**{**free, **fields})

    @property
    def terms(self) -> "TradeTerms":
        """Only the terms (for a subclass that carries more fields)."""
        return self if type(self) is TradeTerms else TradeTerms.of(self)

    @property
    def cost_rate(self) -> float:
        """Commission plus slippage per leg as a fraction of notional."""
        return (self.commission_bps + self.slippage_bps) / 1e4

    @property
    def days_per_year(self) -> float:
        """The day count's year: annual carry x calendar days held / this."""
        return DAYS_PER_YEAR[self.day_count]


#: The names of the terms, in declaration order (for comparisons and dumps).
TERM_FIELDS: tuple[str, ...] = tuple(TradeTerms.model_fields)
