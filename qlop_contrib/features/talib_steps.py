"""TA-Lib feature steps: the generic ``talib`` step (any function by name) and named indicator steps.

TA-Lib runs once per ticker block of the flat numpy columns, so each ticker's warm-up starts at its
own first bar and no indicator state carries from one ticker to the next. Outputs are exactly TA-Lib's
(the tests compare them with TA-Lib called directly per ticker).

Missing inputs: TA-Lib skips leading NaNs itself but turns a NaN *inside* a series into wrong numbers
(zeros for RSI) or NaN for the rest of the series. A ticker block whose inputs have a non-finite value
is therefore computed on its finite rows only and the results are put back in place; the rows with a
missing input get NaN (for leading NaNs this is exactly what TA-Lib does). That is still causal:
which rows are skipped depends only on each row's own inputs.

Price-level outputs (moving averages, band levels) differ by orders of magnitude across tickers and
over time, which makes them poor model inputs, and on back-adjusted data a level encodes the splits and
dividends that came later; the ``sma``, ``ema`` and ``bollinger`` steps emit scale-free ratios by
default and the raw levels only with ``raw = true``, and ``macd`` divides by the input with
``normalize = true``. Each step says which it is through ``scale_free``.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from qlop.api import TickerGroups, number
from qlop_contrib.features.base import PanelStep, col_tag, fmt_param

if TYPE_CHECKING:
    import pandas as pd


def _talib() -> Any:
    import talib

    return talib


def raw_function(name: str) -> Callable[..., Any]:
    """TA-Lib's compiled function ``name``, without the pandas/polars wrapper (we pass numpy only)."""
    func = getattr(_talib(), name)
    return getattr(func, "__wrapped__", func)


def all_finite(arrays: Sequence[np.ndarray]) -> bool:
    """True when no array holds a NaN or an infinity (one vectorised pass each)."""
    return all(bool(np.isfinite(np.add.reduce(a))) for a in arrays)


def gappy_blocks(
    inputs: Sequence[np.ndarray], groups: TickerGroups
) -> Iterator[tuple[int, int, np.ndarray | None, tuple[np.ndarray, ...]]]:
    """Yield ``(start, end, keep, args)`` per ticker, for inputs that have non-finite values.

    ``keep`` is None when the block's inputs are all finite (``args`` are views of the block), else
    the positions (relative to ``start``) of the rows whose inputs are all finite, and ``args`` holds
    those rows only.
    """
    for s, e in groups.slices():
        args = tuple(a[s:e] for a in inputs)
        ok = np.isfinite(args[0])
        for a in args[1:]:
            ok &= np.isfinite(a)
        if ok.all():
            yield s, e, None, args
        else:
            keep = np.flatnonzero(ok)
            yield s, e, keep, tuple(np.ascontiguousarray(a[keep]) for a in args)


def for_each_block(
    inputs: Sequence[np.ndarray],
    groups: TickerGroups,
    finite: bool,
    outs: Sequence[np.ndarray],
    fn: Callable[..., None],
) -> None:
    """Call ``fn(*block_inputs, *block_outputs)`` per ticker; ``fn`` writes into the output views.

    With missing inputs a block is computed on its finite rows only, into temporaries that are put
    back in place; the skipped rows get NaN.
    """
    if finite:
        for s, e in groups.slices():
            fn(*[a[s:e] for a in inputs], *[o[s:e] for o in outs])
        return
    for s, e, keep, args in gappy_blocks(inputs, groups):
        if keep is None:
            fn(*args, *[o[s:e] for o in outs])
            continue
        for o in outs:
            o[s:e] = np.nan
        if len(keep):
            tmp = [np.empty(len(keep)) for _ in outs]
            fn(*args, *tmp)
            for o, t in zip(outs, tmp):
                o[s + keep] = t


def run_by_ticker(
    func: Callable[..., Any],
    inputs: Sequence[np.ndarray],
    groups: TickerGroups,
    n_out: int,
    kwargs: dict[str, Any],
    finite: bool | None = None,
) -> list[np.ndarray]:
    """Call ``func`` on each ticker block of ``inputs``; return ``n_out`` full-length float64 arrays."""
    outs = [np.empty(groups.n, dtype=np.float64) for _ in range(n_out)]
    if finite is None:
        finite = all_finite(inputs)
    if finite and len(inputs) == 1 and n_out == 1:  # the common case, kept tight
        x, o = inputs[0], outs[0]
        for s, e in groups.slices():
            o[s:e] = func(x[s:e], **kwargs)
        return outs

    def block(*arrays: np.ndarray) -> None:
        res = func(*arrays[: len(inputs)], **kwargs)
        if n_out == 1:
            arrays[-1][...] = res
        else:
            for o, r in zip(arrays[len(inputs) :], res):
                o[...] = r

    for_each_block(inputs, groups, finite, outs, block)
    return outs


# --------------------------------------------------------------------------------------------------
# Generic step: any TA-Lib function by name.


@functools.lru_cache(maxsize=None)
def function_info(name: str) -> dict[str, Any]:
    """Inputs (series names, in call order), parameters (name -> default) and outputs of a function."""
    from talib import abstract

    info = abstract.Function(name).info
    series: list[str] = []
    for value in info["input_names"].values():
        series.extend([value] if isinstance(value, str) else list(value))
    return {"inputs": series, "parameters": dict(info["parameters"]), "outputs": list(info["output_names"])}


@functools.lru_cache(maxsize=None)
def _param_model(name: str) -> type[BaseModel]:
    """A pydantic model of ``name``'s parameters (ints for periods and MA types, floats otherwise)."""
    from talib import _ta_lib

    fields: dict[str, Any] = {}
    for i, (pname, default) in enumerate(function_info(name)["parameters"].items()):
        kind = _ta_lib._ta_getOptInputParameterInfo(name.encode(), i)["type"]
        typ = int if kind in (2, 3) else float
        fields[pname] = (typ, Field(default, description=f"TA-Lib {name} {pname}"))
    return create_model(f"talib_{name}", __config__=ConfigDict(extra="forbid"), **fields)


@functools.lru_cache(maxsize=1)
def _probe_prices() -> dict[str, np.ndarray]:
    """Small, valid OHLCV arrays for checking a parameter set against TA-Lib's own ranges."""
    t = np.arange(400, dtype=np.float64)
    close = 100.0 + 10.0 * np.sin(t / 7.0) + t / 50.0
    return {
        "open": close * 0.998,
        "high": close * 1.01,
        "low": close * 0.99,
        "close": close,
        "volume": 1e6 + 1e5 * np.cos(t / 5.0),
        "periods": np.full(400, 10.0),
    }


def _bad_param(title: str, pname: str, value: Any, message: str) -> ValidationError:
    err = PydanticCustomError("talib_parameter", message)
    return ValidationError.from_exception_data(title, [InitErrorDetails(type=err, loc=(pname,), input=value)])


def _check_with_talib(name: str, values: dict[str, Any]) -> None:
    """Let TA-Lib judge the values (it knows each function's ranges); name the offending parameter."""
    probe = _probe_prices()
    func = raw_function(name)
    args = [probe[s] for s in function_info(name)["inputs"]]
    try:
        func(*args, **values)
        return
    except Exception as exc:  # TA-Lib raises a bare Exception carrying its return code
        first = str(exc)
    defaults = function_info(name)["parameters"]
    culprit = next((p for p, v in values.items() if v != defaults[p] and not _accepts(func, args, p, v)), None)
    if culprit is None:
        raise ValueError(f"TA-Lib {name} rejects these parameters together: {first}")
    raise _bad_param("talib", culprit, values[culprit], f"out of TA-Lib {name}'s range")


def _accepts(func: Callable[..., Any], args: list[np.ndarray], pname: str, value: Any) -> bool:
    try:
        func(*args, **{pname: value})
    except Exception:
        return False
    return True


class TalibParams(BaseModel):
    """Any TA-Lib function; its own parameters go next to ``function`` (e.g. ``timeperiod = 14``)."""

    model_config = ConfigDict(extra="allow", title="talib")

    function: str = Field(..., min_length=1, description="TA-Lib function name, e.g. ADX, STOCH, OBV, CDLDOJI")
    inputs: dict[str, str] = Field(
        default_factory=dict,
        description="Map a TA-Lib input series (open, high, low, close, volume, periods) to another column, "
        'e.g. { close = "adj_close" } or an earlier step\'s feature',
    )
    prefix: str | None = Field(
        None,
        min_length=1,
        pattern=r"^[A-Za-z0-9_]+$",
        description="Column name prefix (default: the function name in lower case)",
    )

    _values: dict[str, Any] = PrivateAttr(default_factory=dict)

    @field_validator("function")
    @classmethod
    def _known_function(cls, v: str) -> str:
        name = v.strip().upper()
        names = _talib().get_functions()
        if name not in names:
            close = difflib.get_close_matches(name, names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else " (see talib.get_functions())"
            raise PydanticCustomError("talib_function", f"unknown TA-Lib function{hint}")
        return name

    @model_validator(mode="after")
    def _function_params(self) -> "TalibParams":
        info = function_info(self.function)
        given = dict(self.__pydantic_extra__ or {})
        model = _param_model(self.function)
        try:
            values = model.model_validate(given).model_dump()
        except ValidationError as exc:
            err = exc.errors()[0]
            pname = ".".join(map(str, err["loc"]))
            msg = (
                f"not a parameter of TA-Lib {self.function} (parameters: {', '.join(info['parameters']) or 'none'})"
                if err["type"] == "extra_forbidden"
                else err["msg"]
            )
            raise _bad_param("talib", pname, err.get("input"), msg) from None
        for series in self.inputs:
            if series not in info["inputs"]:
                raise _bad_param(
                    "talib",
                    f"inputs.{series}",
                    self.inputs[series],
                    f"TA-Lib {self.function} has no input {series!r} (inputs: {', '.join(info['inputs'])})",
                )
        _check_with_talib(self.function, values)
        self._values = values
        return self

    @property
    def values(self) -> dict[str, Any]:
        """Every TA-Lib parameter of the function, defaults filled in, in TA-Lib's order."""
        return dict(self._values)


class TalibStep(PanelStep):
    """Generic TA-Lib step. Columns: ``<prefix>_<params>`` for one output (``adx_14``), else
    ``<prefix>_<output>_<params>`` (``stoch_slowk_5_3_0_3_0``); parameters in TA-Lib's order."""

    params_model: ClassVar[type[BaseModel]] = TalibParams

    def _series_columns(self) -> list[str]:
        inputs = self.params.inputs
        return [inputs.get(s, s) for s in function_info(self.params.function)["inputs"]]

    def input_columns(self) -> list[str]:
        return self._series_columns()

    def output_columns(self) -> list[str]:
        p = self.params
        prefix = p.prefix or p.function.lower()
        suffix = "".join(f"_{fmt_param(v)}" for v in p.values.values())
        outputs = function_info(p.function)["outputs"]
        if len(outputs) == 1:
            return [f"{prefix}{suffix}"]
        return [f"{prefix}_{o}{suffix}" for o in outputs]

    def compute(self, data: "pd.DataFrame", groups: TickerGroups) -> dict[str, np.ndarray]:
        p = self.params
        arrays, finite = self.inputs(data, self._series_columns())
        names = self.output_columns()
        outs = run_by_ticker(raw_function(p.function), arrays, groups, len(names), p.values, finite)
        return dict(zip(names, outs))


# --------------------------------------------------------------------------------------------------
# Named steps: the common indicators with stable column names that include their parameters.

_PERIOD = dict(le=100_000)
_COLUMN = Field("close", min_length=1, description="Input column (an OHLCV column or an earlier step's feature)")
_RAW = Field(False, description="Also emit the raw price-level series (poor model inputs across tickers)")


class _Named(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RsiParams(_Named):
    timeperiod: int = number(14, ge=2, unit="bars", **_PERIOD, description="Lookback in bars (Wilder smoothing)")
    column: str = _COLUMN


class AtrParams(_Named):
    timeperiod: int = number(14, ge=1, unit="bars", **_PERIOD, description="Lookback in bars (Wilder smoothing)")


class MacdParams(_Named):
    fastperiod: int = number(12, ge=2, unit="bars", **_PERIOD, description="Fast EMA period")
    slowperiod: int = number(26, ge=2, unit="bars", **_PERIOD, description="Slow EMA period")
    signalperiod: int = number(9, ge=1, unit="bars", **_PERIOD, description="Signal EMA period")
    column: str = _COLUMN
    normalize: bool = Field(
        False,
        description="Divide MACD, signal and histogram by the same bar's input value "
        "(macd_norm_...: scale-free, comparable across tickers and "
        "unaffected by back-adjustment); false: price units",
    )

    @model_validator(mode="after")
    def _ordered(self) -> "MacdParams":
        if self.fastperiod >= self.slowperiod:
            raise ValueError(f"fastperiod ({self.fastperiod}) must be shorter than slowperiod ({self.slowperiod})")
        return self


class MovingAverageParams(_Named):
    timeperiod: int = number(20, ge=2, unit="bars", **_PERIOD, description="Lookback in bars")
    column: str = _COLUMN
    raw: bool = _RAW


class BollingerParams(_Named):
    timeperiod: int = number(20, ge=2, unit="bars", **_PERIOD, description="Lookback in bars of the middle band (SMA)")
    nbdev: float = number(
        2.0, gt=0, le=100, unit="standard deviations", description="Band half-width in standard deviations (population)"
    )
    column: str = _COLUMN
    raw: bool = _RAW


class RsiStep(PanelStep):
    """``rsi_<timeperiod>``: TA-Lib RSI, 0-100."""

    params_model: ClassVar[type[BaseModel]] = RsiParams
    scale_free = True

    def input_columns(self) -> list[str]:
        return [self.params.column]

    def output_columns(self) -> list[str]:
        return [f"rsi{col_tag(self.params.column, 'close')}_{self.params.timeperiod}"]

    def compute(self, data: "pd.DataFrame", groups: TickerGroups) -> dict[str, np.ndarray]:
        arrays, finite = self.inputs(data, self.input_columns())
        (out,) = run_by_ticker(raw_function("RSI"), arrays, groups, 1, {"timeperiod": self.params.timeperiod}, finite)
        return {self.output_columns()[0]: out}


class AtrStep(PanelStep):
    """``atr_<timeperiod>``: TA-Lib ATR, in price units (see ``natr`` for the scale-free version)."""

    params_model: ClassVar[type[BaseModel]] = AtrParams
    function: ClassVar[str] = "ATR"

    def input_columns(self) -> list[str]:
        return ["high", "low", "close"]

    def output_columns(self) -> list[str]:
        return [f"{self.function.lower()}_{self.params.timeperiod}"]

    def compute(self, data: "pd.DataFrame", groups: TickerGroups) -> dict[str, np.ndarray]:
        arrays, finite = self.inputs(data, self.input_columns())
        (out,) = run_by_ticker(
            raw_function(self.function), arrays, groups, 1, {"timeperiod": self.params.timeperiod}, finite
        )
        return {self.output_columns()[0]: out}


class NatrStep(AtrStep):
    """``natr_<timeperiod>``: TA-Lib NATR, ATR as a percentage of the close."""

    function: ClassVar[str] = "NATR"
    scale_free = True


class MacdStep(PanelStep):
    """``macd_<f>_<s>_<g>``, ``macd_signal_<f>_<s>_<g>``, ``macd_hist_<f>_<s>_<g>``: TA-Lib MACD, in
    price units; with ``normalize = true`` each divided by the same bar's input value
    (``macd_norm_...``, ``macd_signal_norm_...``, ``macd_hist_norm_...``), which is scale-free."""

    params_model: ClassVar[type[BaseModel]] = MacdParams

    @property
    def scale_free(self) -> bool:  # type: ignore[override]
        """Only the normalised form: raw MACD is a difference of prices, so on back-adjusted data its
        level encodes later splits and dividends."""
        return bool(self.params.normalize)

    def input_columns(self) -> list[str]:
        return [self.params.column]

    def output_columns(self) -> list[str]:
        p = self.params
        tail = f"{'_norm' if p.normalize else ''}{col_tag(p.column, 'close')}_{p.fastperiod}_{p.slowperiod}_{p.signalperiod}"
        return [f"macd{tail}", f"macd_signal{tail}", f"macd_hist{tail}"]

    def compute(self, data: "pd.DataFrame", groups: TickerGroups) -> dict[str, np.ndarray]:
        p = self.params
        arrays, finite = self.inputs(data, self.input_columns())
        outs = run_by_ticker(
            raw_function("MACD"),
            arrays,
            groups,
            3,
            {"fastperiod": p.fastperiod, "slowperiod": p.slowperiod, "signalperiod": p.signalperiod},
            finite,
        )
        if p.normalize:
            with np.errstate(divide="ignore", invalid="ignore"):
                for out in outs:
                    np.divide(out, arrays[0], out=out)
                    out[~np.isfinite(out)] = np.nan
        return dict(zip(self.output_columns(), outs))


class SmaStep(PanelStep):
    """``close_to_sma_<n>`` = close / SMA - 1 (scale-free); ``sma_<n>`` too with ``raw = true``."""

    params_model: ClassVar[type[BaseModel]] = MovingAverageParams
    function: ClassVar[str] = "SMA"

    @property
    def scale_free(self) -> bool:  # type: ignore[override]
        """The ratio is; the raw average (``raw = true``) is in price units."""
        return not self.params.raw

    def input_columns(self) -> list[str]:
        return [self.params.column]

    def output_columns(self) -> list[str]:
        p, f = self.params, self.function.lower()
        names = [f"{p.column}_to_{f}_{p.timeperiod}"]
        if p.raw:
            names.append(f"{f}{col_tag(p.column, 'close')}_{p.timeperiod}")
        return names

    def compute(self, data: "pd.DataFrame", groups: TickerGroups) -> dict[str, np.ndarray]:
        # The ratio is computed block by block while TA-Lib's output is still in cache.
        p = self.params
        func = raw_function(self.function)
        names = self.output_columns()
        out = {name: np.empty(groups.n) for name in names}
        arrays, finite = self.inputs(data, self.input_columns())

        def block(x: np.ndarray, ratio: np.ndarray, raw: np.ndarray | None = None) -> None:
            avg = func(x, timeperiod=p.timeperiod)
            np.divide(x, avg, out=ratio)
            ratio -= 1.0
            if raw is not None:
                raw[...] = avg

        with np.errstate(divide="ignore", invalid="ignore"):
            for_each_block(arrays, groups, finite, list(out.values()), block)
        return out


class EmaStep(SmaStep):
    """``close_to_ema_<n>`` = close / EMA - 1 (scale-free); ``ema_<n>`` too with ``raw = true``."""

    function: ClassVar[str] = "EMA"


class BollingerStep(PanelStep):
    """``bb_pctb_<n>_<k>`` (%B: 0 at the lower band, 1 at the upper) and ``bb_width_<n>_<k>``
    ((upper - lower) / middle); with ``raw = true`` also ``bb_upper``, ``bb_middle``, ``bb_lower``.

    TA-Lib BBANDS with an SMA middle band and population standard deviation; %B is NaN where the
    bands coincide (a constant window).
    """

    params_model: ClassVar[type[BaseModel]] = BollingerParams

    @property
    def scale_free(self) -> bool:  # type: ignore[override]
        """%B and bandwidth are; the raw bands (``raw = true``) are in price units."""
        return not self.params.raw

    def input_columns(self) -> list[str]:
        return [self.params.column]

    def output_columns(self) -> list[str]:
        p = self.params
        tail = f"{col_tag(p.column, 'close')}_{p.timeperiod}_{fmt_param(p.nbdev)}"
        names = [f"bb_pctb{tail}", f"bb_width{tail}"]
        if p.raw:
            names += [f"bb_upper{tail}", f"bb_middle{tail}", f"bb_lower{tail}"]
        return names

    def compute(self, data: "pd.DataFrame", groups: TickerGroups) -> dict[str, np.ndarray]:
        # %B and bandwidth are computed block by block while TA-Lib's bands are still in cache.
        p = self.params
        func = raw_function("BBANDS")
        names = self.output_columns()
        out = {name: np.empty(groups.n) for name in names}
        arrays, finite = self.inputs(data, self.input_columns())

        def block(x: np.ndarray, pctb: np.ndarray, width: np.ndarray, *raw: np.ndarray) -> None:
            upper, middle, lower = func(x, timeperiod=p.timeperiod, nbdevup=p.nbdev, nbdevdn=p.nbdev, matype=0)
            np.subtract(upper, lower, out=width)
            np.subtract(x, lower, out=pctb)
            np.divide(pctb, width, out=pctb)
            pctb[width <= 0] = np.nan
            np.divide(width, middle, out=width)
            for dest, band in zip(raw, (upper, middle, lower)):
                dest[...] = band

        with np.errstate(divide="ignore", invalid="ignore"):
            for_each_block(arrays, groups, finite, list(out.values()), block)
        return out
