"""Feature steps TA-Lib lacks, in vectorised numpy over the flat panel columns.

Every value at row t uses rows t-k..t of the same ticker only (see :mod:`qlop_contrib.features.rolling`
for how windows reset at each ticker's first bar). Warm-up rows are NaN.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, ClassVar, Literal

import numpy as np
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from qlop.api import (
    DataError,
    Number,
    TickerGroups,
    minutes_to_close,
    number,
    panel_bars,
    periods_per_year,
    session_ids,
    time_of_day,
    trailing_periods_per_year,
)
from qlop_contrib.features import rolling
from qlop_contrib.features.base import PanelStep, col_tag, reads_features_only

if TYPE_CHECKING:
    import pandas as pd

#: Relative size below which a rolling standard deviation counts as zero (a constant window).
STD_ZERO_RTOL = 1e-12


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _unique(values: list) -> list:
    if len(set(values)) != len(values):
        raise ValueError("values must be unique")
    return values


#: A list of distinct bar counts (windows, lags), each 1..100000; the bounds show in the JSON Schema.
BarCounts = Annotated[list[Annotated[int, Number(ge=1, le=100_000, unit="bars")]], AfterValidator(_unique)]


def _window(default: int, what: str, ge: int = 1) -> object:
    return number(default, ge=ge, le=100_000, unit="bars", description=what)


class ReturnsParams(_Params):
    windows: BarCounts = Field([1, 5, 20], min_length=1, description="Return horizons in bars (each >= 1)")
    kinds: list[Literal["simple", "log"]] = Field(
        ["simple"], min_length=1, description="simple: x[t]/x[t-k] - 1 (ret_k); log: ln(x[t]/x[t-k]) (logret_k)"
    )
    column: str = Field("close", min_length=1, description="Price column (positive values)")

    _k = field_validator("kinds")(lambda cls, v: _unique(v))


class ReturnsStep(PanelStep):
    """Past returns over several windows: ``ret_1``, ``ret_5``, ``logret_5``, ..."""

    params_model: ClassVar[type[BaseModel]] = ReturnsParams
    scale_free = True

    def input_columns(self) -> list[str]:
        return [self.params.column]

    def output_columns(self) -> list[str]:
        p = self.params
        tag = col_tag(p.column, "close")
        prefix = {"simple": "ret", "log": "logret"}
        return [f"{prefix[k]}{tag}_{w}" for k in p.kinds for w in p.windows]

    def compute(self, data: "pd.DataFrame", groups: TickerGroups) -> dict[str, np.ndarray]:
        p = self.params
        x = self.column(data, p.column)
        ratios = {}
        with np.errstate(divide="ignore", invalid="ignore"):
            for w in p.windows:
                ratio = rolling.shift(x, w, groups)
                np.divide(x, ratio, out=ratio)
                ratios[w] = ratio
            out = []
            for k in p.kinds:
                for w in p.windows:
                    out.append(ratios[w] - 1.0 if k == "simple" else np.log(ratios[w]))
        return dict(zip(self.output_columns(), out))


class LagParams(_Params):
    columns: list[str] = Field(..., min_length=1, description="Columns to lag (OHLCV or earlier features)")
    periods: BarCounts = Field([1], min_length=1, description="Lags in bars (each >= 1)")

    _c = field_validator("columns")(lambda cls, v: _unique(v))


class LagStep(PanelStep):
    """``<column>_lag_<k>``: the value ``k`` bars earlier in the same ticker."""

    params_model: ClassVar[type[BaseModel]] = LagParams

    @property
    def scale_free(self) -> bool:  # type: ignore[override]
        """A lag of earlier features is as scale-free as they are; a lag of a price is not."""
        return reads_features_only(list(self.params.columns))

    def input_columns(self) -> list[str]:
        return list(self.params.columns)

    def output_columns(self) -> list[str]:
        return [f"{c}_lag_{k}" for c in self.params.columns for k in self.params.periods]

    def compute(self, data: "pd.DataFrame", groups: TickerGroups) -> dict[str, np.ndarray]:
        out = [rolling.shift(self.column(data, c), k, groups) for c in self.params.columns for k in self.params.periods]
        return dict(zip(self.output_columns(), out))


class RvolParams(_Params):
    window: int = _window(20, "Number of daily log returns in the window", ge=2)
    annualize: bool = Field(True, description="Multiply by sqrt(periods_per_year)")
    periods_per_year: float | None = number(
        None,
        gt=0,
        le=100_000,
        unit="bars a year",
        description="Bars per year, for annualising; unset = for intraday bars the interval and session's "
        "periods per year (24/7 hourly 8,760; XNYS hourly 1,764), for daily bars read from each ticker's "
        "dates up to the row (bars in its last 365 days)",
    )
    column: str = Field("close", min_length=1, description="Price column (positive values)")


class RvolStep(PanelStep):
    """``rvol_<n>``: sample standard deviation (ddof 1) of the last ``n`` one-bar log returns,
    annualised by sqrt(periods_per_year) unless ``annualize = false``; periods per year come from the
    ticker's own calendar unless set (a 7-day calendar is not a 252-day one), causally, and for
    intraday bars from the interval and session (``qlop.api.periods_per_year``)."""

    params_model: ClassVar[type[BaseModel]] = RvolParams
    scale_free = True

    def input_columns(self) -> list[str]:
        return [self.params.column]

    def output_columns(self) -> list[str]:
        return [f"rvol{col_tag(self.params.column, 'close')}_{self.params.window}"]

    def compute(self, data: "pd.DataFrame", groups: TickerGroups) -> dict[str, np.ndarray]:
        p = self.params
        x = self.column(data, p.column)
        prev = rolling.shift(x, 1, groups)
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.log(x / prev)
        _, std = rolling.rolling_mean_std(r, p.window, groups)
        if p.annualize:
            bars = panel_bars(data)
            if p.periods_per_year is None and bars.intraday:
                std *= np.sqrt(periods_per_year(bars.interval, bars.session or "24/7"))
            elif p.periods_per_year is None:
                std *= np.sqrt(trailing_periods_per_year(groups.index.get_level_values(1), groups.row_start))
            else:
                std *= np.sqrt(p.periods_per_year)
        return {self.output_columns()[0]: std}


class ZscoreParams(_Params):
    columns: list[str] = Field(..., min_length=1, description="Columns to standardise (OHLCV or earlier features)")
    window: int = _window(20, "Rolling window in bars", ge=2)

    _c = field_validator("columns")(lambda cls, v: _unique(v))


class ZscoreStep(PanelStep):
    """``zscore_<n>_<column>`` = (x - rolling mean) / rolling std (ddof 1) over the last ``n`` rows
    including the current one; NaN where the window is constant or has a NaN."""

    params_model: ClassVar[type[BaseModel]] = ZscoreParams
    #: (x - mean) / std is unchanged when x is multiplied by a constant
    scale_free = True

    def input_columns(self) -> list[str]:
        return list(self.params.columns)

    def output_columns(self) -> list[str]:
        return [f"zscore_{self.params.window}_{c}" for c in self.params.columns]

    def compute(self, data: "pd.DataFrame", groups: TickerGroups) -> dict[str, np.ndarray]:
        out = []
        for c in self.params.columns:
            x = self.column(data, c)
            mean, std = rolling.rolling_mean_std(x, self.params.window, groups)
            with np.errstate(divide="ignore", invalid="ignore"):
                z = (x - mean) / std
            z[~(std > STD_ZERO_RTOL * np.abs(mean))] = np.nan
            out.append(z)
        return dict(zip(self.output_columns(), out))


class DrawdownParams(_Params):
    windows: BarCounts = Field([252], description="Windows (bars) for the distance from the rolling high")
    expanding: bool = Field(
        True, description="Also emit the drawdown from the highest value since the ticker's first bar"
    )
    column: str = Field("close", min_length=1, description="Price column (positive values)")

    @model_validator(mode="after")
    def _something(self) -> "DrawdownParams":
        if not self.windows and not self.expanding:
            raise ValueError("nothing to compute: give windows or set expanding = true")
        return self


class DrawdownStep(PanelStep):
    """``dist_high_<n>`` = x / max(x over the last n rows) - 1 and ``drawdown`` = x / max since the
    ticker's first bar - 1; both <= 0. The expanding drawdown depends on where the data starts."""

    params_model: ClassVar[type[BaseModel]] = DrawdownParams
    scale_free = True

    def input_columns(self) -> list[str]:
        return [self.params.column]

    def output_columns(self) -> list[str]:
        tag = col_tag(self.params.column, "close")
        names = [f"dist_high{tag}_{w}" for w in self.params.windows]
        return names + ([f"drawdown{tag}"] if self.params.expanding else [])

    def compute(self, data: "pd.DataFrame", groups: TickerGroups) -> dict[str, np.ndarray]:
        x = self.column(data, self.params.column)
        highs = [rolling.rolling_max(x, w, groups) for w in self.params.windows]
        if self.params.expanding:
            highs.append(rolling.expanding_max(x, groups))
        with np.errstate(divide="ignore", invalid="ignore"):
            for h in highs:
                np.divide(x, h, out=h)
                h -= 1.0
        return dict(zip(self.output_columns(), highs))


class RelvolParams(_Params):
    window: int = _window(20, "Bars before the current one in the average", ge=1)
    min_periods: int | None = number(
        None,
        ge=1,
        le=100_000,
        unit="bars",
        description="Non-missing bars needed in the window (default: half the window, at least 1)",
    )
    column: str = Field("volume", min_length=1, description="Volume column (NaN = missing)")

    @model_validator(mode="after")
    def _fits(self) -> "RelvolParams":
        if self.min_periods is not None and self.min_periods > self.window:
            raise ValueError(f"min_periods ({self.min_periods}) is larger than window ({self.window})")
        return self


class RelvolStep(PanelStep):
    """``relvol_<n>`` = volume / mean volume of the previous ``n`` bars (missing volumes skipped,
    at least ``min_periods`` present); NaN where today's volume is missing."""

    params_model: ClassVar[type[BaseModel]] = RelvolParams
    scale_free = True

    def input_columns(self) -> list[str]:
        return [self.params.column]

    def output_columns(self) -> list[str]:
        return [f"relvol{col_tag(self.params.column, 'volume')}_{self.params.window}"]

    def compute(self, data: "pd.DataFrame", groups: TickerGroups) -> dict[str, np.ndarray]:
        p = self.params
        x = self.column(data, p.column)
        mp = p.min_periods if p.min_periods is not None else max(1, p.window // 2)
        mean = rolling.shift(rolling.rolling_mean(x, p.window, groups, min_periods=mp), 1, groups)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = x / mean
        out[~(mean > 0)] = np.nan
        return {self.output_columns()[0]: out}


CalendarField = Literal["weekday", "month", "day_of_month", "day_of_year", "quarter", "time_of_day", "minutes_to_close"]
#: Fields that only intraday bars have.
INTRADAY_FIELDS = ("time_of_day", "minutes_to_close")


class CalendarParams(_Params):
    fields: list[CalendarField] = Field(
        ["weekday", "month"],
        min_length=1,
        description="weekday (0 = Monday), month (1-12), day_of_month, day_of_year, quarter; intraday bars "
        "also time_of_day (minutes since local midnight at the bar's start) and minutes_to_close (from the "
        "bar's end to its session's close)",
    )

    _f = field_validator("fields")(lambda cls, v: _unique(v))


class CalendarStep(PanelStep):
    """Calendar fields of each row's date, as floats: ``weekday``, ``month``, ...

    On intraday bars the date fields are those of the bar's session (its date in the exchange's
    calendar), and ``time_of_day`` / ``minutes_to_close`` come from the session (both known when the
    bar closes: the schedule is published in advance)."""

    params_model: ClassVar[type[BaseModel]] = CalendarParams
    scale_free = True

    def output_columns(self) -> list[str]:
        return list(self.params.fields)

    def compute(self, data: "pd.DataFrame", groups: TickerGroups) -> dict[str, np.ndarray]:
        bars = panel_bars(data)
        dates = groups.dates
        intraday_only = [f for f in self.params.fields if f in INTRADAY_FIELDS]
        if intraday_only and not bars.intraday:
            raise DataError(
                f"calendar: field {intraday_only[0]!r} needs intraday bars (this panel's interval is {bars.interval})"
            )
        if bars.intraday:
            session = bars.session or "24/7"
            stamps = groups.index.get_level_values(1)
            dates = session_ids(stamps, session).astype("datetime64[D]").astype("datetime64[ns]")
        days = dates.astype("datetime64[D]")
        months = dates.astype("datetime64[M]")
        month = (months.astype(np.int64) % 12 + 1).astype(np.float64)
        values = {
            "weekday": lambda: ((days.astype(np.int64) + 3) % 7).astype(np.float64),  # 1970-01-01 was a Thursday
            "month": lambda: month,
            "day_of_month": lambda: (days - months.astype("datetime64[D]")).astype(np.int64).astype(np.float64) + 1,
            "day_of_year": lambda: (
                (days - dates.astype("datetime64[Y]").astype("datetime64[D]")).astype(np.int64).astype(np.float64) + 1
            ),
            "quarter": lambda: np.floor((month - 1) / 3) + 1,
            "time_of_day": lambda: time_of_day(groups.index.get_level_values(1), session),
            "minutes_to_close": lambda: minutes_to_close(groups.index.get_level_values(1), session, bars.interval),
        }
        return {f: values[f]() for f in self.params.fields}
