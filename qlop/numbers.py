"""Numbers read from configs and plugin params: finite, inside a range, with the unit in the message.

Every number QLOP reads through pydantic goes through :class:`Number` (or the :func:`number` field
that carries one), so ``inf``/``nan`` (TOML ``inf``, YAML ``.inf``, JSON ``Infinity``), booleans and
absurd magnitudes (a seed of ``10**30``) are refused at validation with a message that says what is
wrong::

    backtest.initial_capital: must be a finite number (got inf)
    seed: must be between 0 and 4294967295 (got 1000000000000000000000000000000)
    backtest.commission_bps: must be between 0 and 1000 bps (got 5000.0)

instead of failing later inside a library or writing ``null`` metrics. The bounds and the unit also
go into the JSON Schema (``minimum``/``maximum``/``exclusive*``, ``unit``), which ``qlop plugins
show`` and the GUI forms read. Plugins use the same type through :mod:`qlop.api`::

    class Params(BaseModel):
        learning_rate: float = number(0.05, gt=0, le=1, description="Shrinkage per round")
        windows: list[Annotated[int, Number(ge=1, le=100_000, unit="bars")]] = Field([5, 20])

Imports only pydantic: configs validate without numpy.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import Field
from pydantic_core import PydanticCustomError, core_schema

#: The seeds every random step accepts (NumPy's and scikit-learn's range).
SEED_MAX = 2**32 - 1

_LOWER = {
    ("ge", "le"): "between {lo} and {hi}",
    ("gt", "le"): "greater than {lo} and at most {hi}",
    ("ge", "lt"): "at least {lo} and less than {hi}",
    ("gt", "lt"): "strictly between {lo} and {hi}",
}


def format_number(x: float | int) -> str:
    """``5``, ``0.05``, ``1000000`` (never ``1e+06``), ``1e-08``, ``1e+15``."""
    if isinstance(x, bool) or isinstance(x, int):
        return str(int(x))
    if not math.isfinite(x):
        return str(x)
    if x.is_integer() and abs(x) < 1e15:
        return str(int(x))
    return f"{x:.10g}"


class Number:
    """Pydantic metadata for an ``int`` or ``float`` field (or ``X | None``, or a list item): the value
    must be a real number (not a bool), finite, and inside the bounds; ``unit`` names what the bounds
    count (``"bps"``, ``"bars"``, ``"years"``, ``"(fraction of equity)"``) in messages and the schema."""

    __slots__ = ("ge", "gt", "le", "lt", "unit")

    def __init__(
        self,
        *,
        ge: float | None = None,
        gt: float | None = None,
        le: float | None = None,
        lt: float | None = None,
        unit: str = "",
    ) -> None:
        if ge is not None and gt is not None or le is not None and lt is not None:
            raise TypeError("Number: give at most one lower bound (ge/gt) and one upper bound (le/lt)")
        self.ge, self.gt, self.le, self.lt, self.unit = ge, gt, le, lt, unit

    def __repr__(self) -> str:
        bounds = ", ".join(
            f"{k}={getattr(self, k)!r}" for k in ("ge", "gt", "le", "lt") if getattr(self, k) is not None
        )
        return f"Number({bounds}{', ' if bounds else ''}unit={self.unit!r})"

    # -- the rule ----------------------------------------------------------------------------------

    def range_text(self) -> str:
        """``between 0 and 1000 bps``, ``greater than 0``, ... (empty when unbounded)."""
        lo_kind = "ge" if self.ge is not None else "gt" if self.gt is not None else None
        hi_kind = "le" if self.le is not None else "lt" if self.lt is not None else None
        lo = getattr(self, lo_kind) if lo_kind else None
        hi = getattr(self, hi_kind) if hi_kind else None
        if lo_kind and hi_kind:
            text = _LOWER[(lo_kind, hi_kind)].format(lo=format_number(lo), hi=format_number(hi))
        elif lo_kind:
            text = f"{'at least' if lo_kind == 'ge' else 'greater than'} {format_number(lo)}"
        elif hi_kind:
            text = f"{'at most' if hi_kind == 'le' else 'less than'} {format_number(hi)}"
        else:
            return ""
        return f"{text} {self.unit}" if self.unit else text

    def inside(self, x: float) -> bool:
        return not (
            (self.ge is not None and x < self.ge)
            or (self.gt is not None and x <= self.gt)
            or (self.le is not None and x > self.le)
            or (self.lt is not None and x >= self.lt)
        )

    def check(self, value: Any) -> None:
        """Raise a pydantic error when ``value`` (a parsed number, or None) breaks the rule."""
        if value is None or isinstance(value, str):
            return
        if isinstance(value, bool):
            raise PydanticCustomError("number_type", "must be a number, not true/false")
        if not isinstance(value, (int, float)):
            return
        if isinstance(value, float) and not math.isfinite(value):
            raise PydanticCustomError("finite_number", "must be a finite number")
        if not self.inside(value):
            raise PydanticCustomError("number_range", "must be {range}", {"range": self.range_text()})

    # -- pydantic hooks ----------------------------------------------------------------------------

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> core_schema.CoreSchema:
        inner = handler(source)

        def validate(value: Any, next_: Any) -> Any:
            if isinstance(value, (bool, int, float)):  # before parsing: 1e30 for an int, inf, true
                self.check(value)
            parsed = next_(value)
            self.check(parsed)  # after parsing: "inf" or "1e30" given as text
            return parsed

        return core_schema.no_info_wrap_validator_function(validate, inner)

    def __get_pydantic_json_schema__(self, schema: Any, handler: Any) -> dict[str, Any]:
        js = handler(schema)
        target = handler.resolve_ref_schema(js) if "$ref" in js else js
        # the numeric branch of a union (``X | None``; a number or a table, as a rate is) gets the bounds
        branches = [
            b for b in target.get("anyOf", []) + target.get("oneOf", []) if b.get("type") in ("number", "integer")
        ]
        for node in branches or [target]:
            for key, value in (
                ("minimum", self.ge),
                ("exclusiveMinimum", self.gt),
                ("maximum", self.le),
                ("exclusiveMaximum", self.lt),
            ):
                if value is not None:
                    node[key] = value
            if self.unit and node is not target and "oneOf" in target:
                node["unit"] = self.unit
        if self.unit:
            target["unit"] = self.unit
        return js


def number(
    default: Any = ...,
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    unit: str = "",
    **field_kwargs: Any,
) -> Any:
    """A pydantic ``Field`` whose value is checked by :class:`Number` (use it as a field's default:
    ``leverage: float = number(1.0, gt=0, le=100, unit="x margin", description=...)``)."""
    info = Field(default, **field_kwargs)
    info.metadata.append(Number(ge=ge, gt=gt, le=le, lt=lt, unit=unit))
    return info


def seed_field(default: Any = None, **field_kwargs: Any) -> Any:
    """A random seed: an integer from 0 to :data:`SEED_MAX` (what every library accepts)."""
    return number(default, ge=0, le=SEED_MAX, **field_kwargs)
