"""Pydantic models of every stage's config and of the whole pipeline, read from TOML, JSON or YAML.

Two layers of validation: the models here check the shape of each section; :func:`validate_plugins`
then checks each chosen plugin's params with that plugin's own params model, so errors read
``model.model_params.max_depth: Input should be greater than 0``.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from qlop.errors import ConfigError
from qlop.layout import DEFAULT_RUNS_DIR, RunLayout
from qlop.numbers import number, seed_field
from qlop.sim.terms import TradeTerms


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


#: Intervals coarser than a day that some sources pass through (bars labelled by date).
COARSE_INTERVALS: tuple[str, ...] = ("5d", "1wk", "1mo", "3mo")
_ALL_INTERVALS: tuple[str, ...] = ("1m", "5m", "15m", "30m", "1h", "4h", "1d", *COARSE_INTERVALS)
_RESAMPLE_TARGETS: tuple[str, ...] = ("5m", "15m", "30m", "1h", "4h", "1d")
#: Sessions the GUI offers (any exchange_calendars code is accepted in a config).
SESSION_CHOICES: tuple[str, ...] = (
    "24/7",
    "XNYS",
    "XNAS",
    "XLON",
    "XETR",
    "XPAR",
    "XTKS",
    "XHKG",
    "XASX",
    "XTSE",
    "CMES",
)


def _choices(schema: dict[str, Any], options: tuple[str, ...]) -> None:
    """Offer ``options`` in an optional text field's JSON schema (the GUI draws a choice box)."""
    for branch in schema.get("anyOf", []):
        if branch.get("type") == "string":
            branch["enum"] = list(options)


class DataConfig(_Section):
    """Where the OHLCV panel comes from."""

    data_source_type: str = Field("sample", description="Data-source plugin name")
    data_source_params: dict[str, Any] = Field(default_factory=dict, description="Params of the data source")
    tickers: list[str] = Field(default_factory=list, description="Tickers to load (empty: all the source has)")
    start_date: dt.date | None = Field(None, description="First date (inclusive)")
    end_date: dt.date | None = Field(None, description="Last date (inclusive)")
    interval: str = Field(
        "1d",
        description="Bar interval: 1m 5m 15m 30m 1h 4h (intraday: UTC timestamps in a session) or 1d "
        "(also 5d 1wk 1mo 3mo for sources that have them)",
        json_schema_extra={"enum": list(_ALL_INTERVALS)},
    )
    session: str | None = Field(
        None,
        description='Trading session of intraday bars: "24/7" or an exchange calendar code such as XNYS '
        "(regular hours and holidays from exchange_calendars; any of its codes works, the list shows common "
        "ones); required for an intraday interval",
        json_schema_extra=lambda s: _choices(s, SESSION_CHOICES),
    )
    resample: str | None = Field(
        None,
        description="Build coarser bars from the loaded ones, per session (e.g. 1h from 1m); a multiple of interval",
        json_schema_extra=lambda s: _choices(s, _RESAMPLE_TARGETS),
    )

    @field_validator("interval", "resample")
    @classmethod
    def _known_interval(cls, v: str | None) -> str | None:
        from qlop.sessions import INTERVALS

        if v is not None and v not in (*INTERVALS, *COARSE_INTERVALS):
            raise ValueError(f"unknown interval {v!r} (supported: {', '.join((*INTERVALS, *COARSE_INTERVALS))})")
        return v

    @field_validator("session")
    @classmethod
    def _known_session(cls, v: str | None) -> str | None:
        from qlop.sessions import check_session

        if v is None:
            return None
        try:
            return check_session(v.strip())
        except ConfigError as exc:
            raise ValueError(str(exc)) from None

    @model_validator(mode="after")
    def _intraday_needs_session(self) -> "DataConfig":
        from qlop.sessions import interval_minutes, is_intraday

        if is_intraday(self.interval) and self.session is None:
            raise ValueError(
                f'interval {self.interval!r} needs a session: session = "24/7" or an exchange code such as "XNYS"'
            )
        if self.resample is not None:
            if not is_intraday(self.interval) or self.resample not in _RESAMPLE_TARGETS:
                raise ValueError(
                    f"resample {self.resample!r} from interval {self.interval!r}: resampling builds 5m .. 1d bars "
                    "from intraday ones"
                )
            src, dst = interval_minutes(self.interval), interval_minutes(self.resample)
            if dst <= src or dst % src:
                raise ValueError(f"resample {self.resample!r} is not a coarser multiple of interval {self.interval!r}")
        return self

    @model_serializer(mode="wrap")
    def _daily_stays_as_it_was(self, handler: Any) -> dict[str, Any]:
        """Leave unset intraday fields out, so a daily config dumps (and hashes: run ids, stage caches)
        exactly as before sessions existed."""
        out = handler(self)
        for name in ("session", "resample"):
            if out.get(name, 0) is None:
                del out[name]
        return out

    @property
    def bar_interval(self) -> str:
        """The interval of the panel the stages see: ``resample`` when set, else ``interval``."""
        return self.resample or self.interval

    @field_validator("tickers")
    @classmethod
    def _unique_tickers(cls, v: list[str]) -> list[str]:
        seen = [t.strip() for t in v]
        if any(not t for t in seen):
            raise ValueError("ticker names must not be empty")
        if len(set(seen)) != len(seen):
            raise ValueError("tickers must be unique")
        return seen

    @model_validator(mode="after")
    def _ordered_dates(self) -> "DataConfig":
        if self.start_date and self.end_date and self.start_date > self.end_date:
            raise ValueError(f"start_date {self.start_date} is after end_date {self.end_date}")
        return self


class FeatureStepConfig(_Section):
    step_type: str = Field(..., description="Feature-step plugin name")
    step_params: dict[str, Any] = Field(default_factory=dict)


class FeaturesConfig(_Section):
    steps: list[FeatureStepConfig] = Field(default_factory=list, description="Ordered feature steps")
    dropna: bool = Field(True, description="Drop warm-up rows (any NaN feature) before training")


class LabelConfig(_Section):
    label_type: str = Field("leverage_opportunity", description="Label plugin name")
    label_params: dict[str, Any] = Field(default_factory=dict)


class ValidationConfig(_Section):
    """How out-of-sample predictions are produced (:mod:`qlop.validation` explains purge and embargo)."""

    scheme: Literal["walk_forward", "purged_kfold"] = "walk_forward"
    window: Literal["expanding", "rolling"] = "expanding"
    train_years: float = number(
        3.0, gt=0, le=100, unit="years", description="Length of the (first) training window in years"
    )
    test_months: int = number(6, ge=1, le=1200, unit="months", description="Length of each test window in months")
    embargo_days: int | None = number(
        None,
        ge=0,
        le=100_000,
        unit="bars",
        description="Bars skipped after each test period; default the label horizon",
    )
    n_splits: int = number(5, ge=2, le=1000, unit="folds", description="Folds for purged_kfold")
    validation_fraction: float = number(
        0.15,
        ge=0,
        lt=0.5,
        unit="(fraction of the training window)",
        description="Tail of each training window used for early stopping",
    )


class ModelConfig(_Section):
    model_type: str = Field("xgboost", description="Model plugin name")
    model_params: dict[str, Any] = Field(default_factory=dict)
    validation: ValidationConfig = Field(default_factory=ValidationConfig)
    threshold: float = number(
        0.5, gt=0, lt=1, unit="(probability)", description="Probability threshold for precision/recall"
    )


class BenchmarkConfig(_Section):
    """What a backtest is compared with: one ticker of a data source, loaded like any data.

    In a config, ``benchmark = "GSPC"`` is shorthand for that ticker of the ``sample`` source and
    ``benchmark = false`` turns the comparison off. The default is the sample's SPY, split- and
    dividend-adjusted: a total-return S&P 500, comparable with dividend-adjusted stocks (GSPC, the
    index, leaves the dividends out and flatters a strategy by about beta x the dividend yield).
    """

    data_source_type: str = Field("sample", description="Data-source plugin that provides the benchmark")
    data_source_params: dict[str, Any] = Field(default_factory=dict, description="Params of that data source")
    ticker: str = Field("SPY", min_length=1, description="The benchmark's ticker in that source")
    kind: Literal["price", "total_return"] | None = Field(
        None,
        description='"price" (an index without dividends, e.g. GSPC) or "total_return" (dividends '
        "reinvested, e.g. the adjusted SPY); default: what the data source says (back-adjusted "
        "data is total return)",
    )

    @field_validator("ticker")
    @classmethod
    def _stripped(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("the benchmark ticker must not be empty")
        return v.strip()


class BookSizing(_Section):
    """The capital of a book and how positions are sized: shared by ``[backtest]`` and the engine's
    settings (:class:`qlop.backtest.engine.EngineSettings`)."""

    initial_capital: float = number(100_000.0, gt=0, le=1e15, unit="(money)", description="Starting equity")
    position_size: float = number(
        0.1, gt=0, le=1, unit="(fraction of equity)", description="Fraction of equity committed as margin per position"
    )
    max_positions: int = number(10, ge=1, le=100_000, unit="positions", description="Open positions at most")
    max_gross_leverage: float = number(
        3.0, gt=0, le=1000, unit="x equity", description="Cap on the sum of open notionals / equity"
    )
    # target-weight books (qlop.backtest.portfolio): resizing, volatility targeting and the account mode
    sizing: Literal["fixed", "vol_target"] = Field(
        "fixed",
        description='"fixed": a position is the strategy\'s size; "vol_target": each position\'s notional / '
        "equity is target_vol / its ticker's realised volatility (times the strategy's weight), resized as "
        "the volatility moves",
    )
    target_vol: float = number(
        0.15, gt=0, le=10, unit="(annualised)", description="Volatility each position targets (sizing = vol_target)"
    )
    vol_lookback: int = number(
        20, ge=2, le=5000, unit="bars", description="Returns in the realised-volatility window (causal: to the close)"
    )
    max_leverage: float = number(
        5.0, gt=0, le=1000, unit="x equity", description="Cap on one position's notional / equity (vol_target)"
    )
    portfolio_target_vol: float = number(
        0.0,
        ge=0,
        le=10,
        unit="(annualised)",
        description="Scale the whole book's target weights to this realised volatility (0: off)",
    )
    rebalance_band: float = number(
        0.0,
        ge=0,
        le=10,
        unit="(fraction of equity)",
        description="Skip a resize whose notional change is below this fraction of equity (target weights)",
    )
    min_trade_value: float = number(
        0.0, ge=0, le=1e12, unit="(money)", description="Skip a resize whose notional change is below this amount"
    )
    margin_mode: Literal["isolated", "cross"] = Field(
        "isolated",
        description='"isolated": a position loses at most its margin; "cross": one account equity backs every '
        "position, maintenance is checked on the whole book and margin calls liquidate the largest loss first",
    )


class _BacktestStrategy(_Section):
    """The strategy: what trades (the book and the terms come after)."""

    strategy_type: str = Field("probability_threshold", description="Strategy plugin name")
    strategy_params: dict[str, Any] = Field(default_factory=dict)


class BacktestConfig(TradeTerms, BookSizing, _BacktestStrategy):
    """``[backtest]``: strategy, capital and sizing, the trade terms (leverage, margin, costs: fields and
    defaults of :class:`qlop.sim.terms.TradeTerms`), benchmark and trial count."""

    model_config = ConfigDict(extra="forbid", frozen=False)

    benchmark: BenchmarkConfig | None = Field(
        default_factory=BenchmarkConfig,
        json_schema_extra={"default": BenchmarkConfig().model_dump(), "examples": ["SPY", "GSPC", False]},
        description="Benchmark: a [backtest.benchmark] table (data_source_type, data_source_params, ticker, "
        'kind), a ticker of the sample dataset ("SPY", "GSPC"), or false for none',
    )
    benchmark_partial: Literal["error", "overlap"] = Field(
        "error",
        description='A benchmark that does not cover the backtest window: "error" (the default), or '
        '"overlap" to compare over the dates both cover, with a warning and the overlap '
        f"stated in {RunLayout.BACKTEST_METRICS} and the report",
    )
    n_trials: int = number(
        1, ge=1, le=10**9, unit="trials", description="Configurations tried, for the deflated Sharpe ratio"
    )
    periods_per_year: float | None = number(
        None,
        gt=0,
        le=1_000_000,
        unit="bars",
        description="Bars per year for annualising the metrics; unset = from the interval and session for "
        "intraday bars (24/7 hourly 8,760), inferred from the backtest's dates for daily ones (median bars "
        "per calendar year)",
    )

    @field_validator("benchmark", mode="before", json_schema_input_type=BenchmarkConfig | str | bool | None)
    @classmethod
    def _benchmark_shorthand(cls, v: Any) -> Any:
        """``"GSPC"``: that ticker of the sample source; ``false`` (or ``null``, ``""``): no benchmark;
        ``true``: the default benchmark."""
        if v is None or v is False or (isinstance(v, str) and not v.strip()):
            return None
        if v is True:
            return BenchmarkConfig()
        if isinstance(v, str):
            return {"ticker": v}
        return v


class ExportConfig(_Section):
    format_name: str = Field("onnx", description="Exporter plugin name")
    format_params: dict[str, Any] = Field(default_factory=dict)
    model: Literal["final", "last_fold"] = Field(
        "final",
        description='Which model to export: "final" (refit on every labelled row; its parity rows are '
        'in-sample) or "last_fold" (the last walk-forward fold\'s model; parity on its '
        "held-out test rows)",
    )


class PipelineConfig(_Section):
    """A whole run. Sections that are absent are skipped by ``qlop run``."""

    name: str = Field("qlop-run", description="A label for the run")
    seed: int = seed_field(42, description="Seed for every random step")
    runs_dir: str = Field(DEFAULT_RUNS_DIR, description="Where ``qlop run`` creates run directories")
    plugins_dir: str | None = Field(None, description="Local plugins directory to load (explicit only)")
    data: DataConfig = Field(default_factory=DataConfig)
    features: FeaturesConfig | None = None
    label: LabelConfig | None = None
    model: ModelConfig | None = None
    backtest: BacktestConfig | None = None
    export: ExportConfig | None = None

    def stage_dict(self, *sections: str) -> dict[str, Any]:
        """The named sections as plain JSON data: the input of a stage's cache key."""
        dumped = self.model_dump(mode="json")
        return {s: dumped.get(s) for s in sections}


def read_config_file(path: Path) -> str:
    """The config file's text: one line naming the file when it is missing, unreadable or not UTF-8."""
    from qlop.errors import file_errors

    if not path.exists() and not path.is_symlink():
        raise ConfigError(f"{path}: config file not found")
    with file_errors(path, "read the config file"):
        raw = path.read_bytes()
    return decode_text(raw, str(path))


def decode_text(raw: bytes, source: str) -> str:
    """UTF-8 text (a leading byte-order mark dropped), or a :class:`ConfigError` naming the first bad byte."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{source}: not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {line}); save the config as UTF-8"
        ) from None


def parse_config_text(text: str, fmt: str, source: str = "<config>") -> dict[str, Any]:
    """Parse TOML, JSON or YAML text into plain data; parse errors name the source and position."""
    try:
        if fmt == "toml":
            import tomllib

            return tomllib.loads(text)
        if fmt == "json":
            data = json.loads(text)
        elif fmt in ("yaml", "yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            raise ConfigError(f"{source}: unknown config format {fmt!r} (use .toml, .json or .yaml)")
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError(f"{source}: cannot parse {fmt.upper()}: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a table/mapping")
    return data


def config_from_data(data: dict[str, Any], source: str = "<config>") -> PipelineConfig:
    try:
        return PipelineConfig.model_validate(data)
    except ValidationError as exc:
        from qlop.plugins.registry import validation_problems

        problems = validation_problems(exc)
        raise ConfigError(f"{source}: {'; '.join(problems)}", problems) from None


def load_config(path: str | Path, validate: bool = True) -> PipelineConfig:
    """Read and validate a config file, including each chosen plugin's params."""
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "toml"
    config = config_from_data(parse_config_text(read_config_file(path), fmt, str(path)), str(path))
    if config.plugins_dir and not Path(config.plugins_dir).is_absolute():
        config.plugins_dir = str((path.parent / config.plugins_dir).resolve())
    if validate:
        try:
            validate_plugins(config)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None
    return config


def validate_plugins(config: PipelineConfig, manager: Any = None) -> dict[str, Any]:
    """Check every chosen plugin exists and its params validate; return the validated params.

    Raises :class:`ConfigError` naming the field path. Also checks the rules that span sections
    (:mod:`qlop.config_checks`).
    """
    from qlop.config_checks import cross_section_problems
    from qlop.errors import PluginError
    from qlop.plugins.manager import get_plugin_manager
    from qlop.plugins.registry import validate_params

    pm = manager or get_plugin_manager()
    if config.plugins_dir:
        pm.load_plugins_dir(config.plugins_dir)
    checks: list[tuple[str, str, str, Any]] = [
        ("data_source", config.data.data_source_type, "data.data_source_params", config.data.data_source_params),
    ]
    if config.features:
        for i, step in enumerate(config.features.steps):
            checks.append(("feature_step", step.step_type, f"features.steps.{i}.step_params", step.step_params))
    if config.label:
        checks.append(("label", config.label.label_type, "label.label_params", config.label.label_params))
    if config.model:
        checks.append(("model", config.model.model_type, "model.model_params", config.model.model_params))
    if config.backtest:
        checks.append(
            ("strategy", config.backtest.strategy_type, "backtest.strategy_params", config.backtest.strategy_params)
        )
        if config.backtest.benchmark is not None:
            checks.append(
                (
                    "data_source",
                    config.backtest.benchmark.data_source_type,
                    "backtest.benchmark.data_source_params",
                    config.backtest.benchmark.data_source_params,
                )
            )
        for name, rate in rate_series_of(config.backtest).items():
            checks.append(
                ("data_source", rate.data_source_type, f"backtest.{name}.data_source_params", rate.data_source_params)
            )
    if config.export:
        checks.append(("exporter", config.export.format_name, "export.format_params", config.export.format_params))
    validated: dict[str, Any] = {}
    problems: list[str] = []  # every problem, field by field, not just the first
    type_field = {
        "data_source": "data.data_source_type",
        "label": "label.label_type",
        "model": "model.model_type",
        "strategy": "backtest.strategy_type",
        "exporter": "export.format_name",
    }
    for kind, name, field_path, params in checks:
        try:
            spec = pm.registry(kind).get(name)
        except PluginError as exc:
            if kind == "feature_step":
                where = field_path.rsplit(".", 1)[0] + ".step_type"
            elif field_path.startswith("backtest.") and field_path.endswith(".data_source_params"):
                where = field_path.rsplit(".", 1)[0] + ".data_source_type"
            else:
                where = type_field[kind]
            problems.append(f"{where}: {exc}")
            continue
        try:
            validated[field_path] = validate_params(spec, params, field_path)
        except ConfigError as exc:
            problems.extend(exc.problems)
        except PluginError as exc:  # the component's module or params model failed to import
            problems.append(f"{field_path}: {exc}")
        except (ImportError, AttributeError, ValueError) as exc:
            problems.append(
                f"{field_path}: cannot load the params model of {kind.replace('_', ' ')} "
                f"{name!r}: {type(exc).__name__}: {exc}"
            )
    # a benchmark is checked only when its source is known and its params valid
    problems += cross_section_problems(
        config, validated, pm, benchmark=not any(p.startswith("backtest.benchmark.") for p in problems)
    )
    if problems:
        raise ConfigError("; ".join(problems), problems)
    return validated


def rate_series_of(terms: TradeTerms) -> dict[str, Any]:
    """The terms' rates that are series from a data source, by field name."""
    from qlop.sim.terms import RateSeries

    return {
        name: getattr(terms, name)
        for name in ("financing_rate", "risk_free", "cash_rate")
        if isinstance(getattr(terms, name), RateSeries)
    }


def config_json_schema() -> dict[str, Any]:
    """JSON Schema of the pipeline config (plugin params are open objects, validated per plugin)."""
    return PipelineConfig.model_json_schema()
