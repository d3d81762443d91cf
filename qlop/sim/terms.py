"""The trade terms: leverage, margin and every cost of a position, declared once with one set of defaults.

The simulator's rules (:class:`qlop.sim.rules.TradeRules`), the ``leverage_opportunity`` label's
params, the ``[backtest]`` config and the backtest engine's settings all inherit :class:`TradeTerms`,
so a field has one name, one bound, one default and one validation wherever it is set, and the JSON
Schema (``qlop config schema``, the GUI forms, ``qlop plugins show``) shows the same field everywhere.

Kept free of numpy and pandas: configs validate terms without importing the simulator.
See ``docs/simulator.md`` for what each field does to a trade and ``docs/backtest.md`` for the book.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationInfo, field_validator

from qlop.numbers import Number, number

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


class RateSeries(BaseModel):
    """An annual rate that varies over time: one price column of one ticker of a data source.

    Loaded through the data-source registry like any data (``qlop.sim.rates`` does it); the run cache
    keys of the stages that read it include its source's ``cache_token()``. The rate in effect on a calendar day is the last observation on or before it; the
    series must start on or before the first date it is needed for and end at most 31 days before
    the last. Data sources check prices, which must be positive: a zero or negative rate cannot pass
    them (write a rate of 0 as a tiny positive value, e.g. 0.0001 percent).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    data_source_type: str = Field("csv", min_length=1, description="Data-source plugin that holds the series")
    data_source_params: dict[str, Any] = Field(default_factory=dict, description="Params of that data source")
    ticker: str = Field(..., min_length=1, description="The series' ticker in that source")
    column: Literal["open", "high", "low", "close", "adj_close"] = Field(
        "close", description="The column holding the rate"
    )
    units: Literal["percent", "fraction"] = Field(
        ..., description="How the rate is written: 'percent' (5.25 = 5.25 % a year) or 'fraction' (0.0525)"
    )

    def describe(self) -> str:
        """One line for reports: ``RATE.close from csv (percent)``."""
        return f"{self.ticker}.{self.column} from {self.data_source_type} ({self.units})"


def _rate_kind(value: Any) -> str:
    return "series" if isinstance(value, (dict, RateSeries)) else "constant"


#: An annual rate: a constant, or a series from a data source (a table: its errors read
#: ``backtest.risk_free.series.units: Field required``, not one error per kind of rate).
Rate = Annotated[Annotated[float, Tag("constant")] | Annotated[RateSeries, Tag("series")], Discriminator(_rate_kind)]


def _rate(ge: float, le: float) -> Any:
    """A :data:`Rate` whose constant must lie in ``ge .. le`` (checked like every number: finite, in range)."""
    return Annotated[Rate, Number(ge=ge, le=le, unit="(annual fraction)")]


def describe_rate(rate: "Rate | None") -> Any:
    """A rate as metrics.json and the report state it: the constant itself, or the series' description."""
    return rate.describe() if isinstance(rate, RateSeries) else rate


class TradeTerms(BaseModel):
    """Leverage, margin and costs of a position (immutable).

    Costs are per leg or per year as fractions of notional or margin, so they apply to a trade of any
    size; ``min_commission`` is the one amount of money, applied only where a trade has a size (the
    backtest): the simulator and the labels work per unit of margin.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    leverage: float = number(1.0, gt=0, le=100, unit="x margin", description="Notional / margin (1 = unlevered)")
    maintenance_margin: float = number(
        0.25,
        ge=0,
        lt=1,
        unit="(fraction of the position's value)",
        validate_default=True,  # the solvency check also covers the default
        description="Equity must stay above this fraction of the position's current value; "
        "leverage x maintenance_margin must be below 1",
    )
    commission_bps: float = number(
        1.0, ge=0, le=1000, unit="bps", description="Commission per leg, bps of that leg's notional"
    )
    min_commission: float = number(
        0.0,
        ge=0,
        le=1e9,
        unit="(money per leg)",
        description="Minimum commission per leg, in money (backtest only: needs a position size)",
    )
    slippage_bps: float = number(
        2.0,
        ge=0,
        le=1000,
        unit="bps",
        description="Slippage per leg, bps of that leg's notional (a cost, not a price shift)",
    )
    financing_rate: _rate(0, 1) = Field(  # type: ignore[valid-type]
        0.05,
        description="Annual interest on the borrowed part of a long, (leverage - 1) x margin: a constant or a "
        "[.financing_rate] series from a data source",
    )
    day_count: DayCount = Field(
        "act_360",
        description="Day count of every rate (financing, borrow fee, cash interest, risk-free): "
        "calendar days / 360 (act_360, US brokers) or / 365 (act_365)",
    )
    borrow_fee: float = number(
        0.0,
        ge=0,
        le=10,
        unit="(annual fraction of notional)",
        description="Annual stock-borrow fee of a short, on its notional",
    )
    liquidation_fee: float = number(
        0.0, ge=0, le=1, unit="(fraction of notional)", description="Fraction of notional charged on a liquidation"
    )
    stop_slippage_bps: float = number(
        0.0,
        ge=0,
        le=1000,
        unit="bps",
        description="Extra adverse slippage of stop-loss and liquidation fills, bps "
        "of the exit notional (on top of slippage_bps)",
    )
    risk_free: _rate(-1, 1) = Field(  # type: ignore[valid-type]
        0.0,
        description="Annual risk-free rate for Sharpe, Sortino, alpha and (by default) interest on idle cash: a "
        "constant or a [.risk_free] series from a data source",
    )
    cash_rate: _rate(-1, 1) | None = Field(  # type: ignore[valid-type]
        None,
        description="Annual interest on a book's idle cash (backtest only): a constant, a series, or unset = the "
        "risk-free rate",
    )

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
        free = {
            "leverage": 1.0,
            "commission_bps": 0.0,
            "min_commission": 0.0,
            "slippage_bps": 0.0,
            "financing_rate": 0.0,
            "borrow_fee": 0.0,
            "liquidation_fee": 0.0,
            "stop_slippage_bps": 0.0,
        }
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
    def stop_cost_rate(self) -> float:
        """Extra slippage of a stop or liquidation fill as a fraction of the exit notional."""
        return self.stop_slippage_bps / 1e4

    @property
    def effective_cash_rate(self) -> Rate:
        """What idle cash earns: ``cash_rate``, or the risk-free rate when it is unset."""
        return self.risk_free if self.cash_rate is None else self.cash_rate

    @property
    def days_per_year(self) -> float:
        """The day count's year: annual carry x calendar days held / this."""
        return DAYS_PER_YEAR[self.day_count]


#: The names of the terms, in declaration order (for comparisons and dumps).
TERM_FIELDS: tuple[str, ...] = tuple(TradeTerms.model_fields)

#: Terms of a book, not of a trade: ``min_commission`` is money (a label never pays it), the risk-free
#: and cash rates are the book's (metrics, idle cash). A label's trade and a backtest's can only
#: differ in the other terms.
BOOK_TERMS: tuple[str, ...] = ("min_commission", "risk_free", "cash_rate")


def trade_term_differences(label: Any, book: Any) -> list[tuple[str, Any, Any]]:
    """``(name, label's value, book's value)`` for each trade term (not :data:`BOOK_TERMS`) on which a
    label's trade rules and a backtest's terms differ: then a label of 1 is not exactly a winning
    backtest trade. Both sides are anything with the fields (models or dicts); numbers compare with
    ``math.isclose``."""
    import math

    def value(source: Any, name: str) -> Any:
        return source.get(name) if isinstance(source, dict) else getattr(source, name, None)

    out = []
    for name in TERM_FIELDS:
        if name in BOOK_TERMS:
            continue
        a, b = value(label, name), value(book, name)
        if isinstance(a, RateSeries):
            a = a.model_dump()
        if isinstance(b, RateSeries):
            b = b.model_dump()
        numbers = isinstance(a, (int, float)) and isinstance(b, (int, float))
        if (not math.isclose(a, b)) if numbers else a != b:
            out.append((name, a, b))
    return out
