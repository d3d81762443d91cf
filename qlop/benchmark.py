"""The backtest's benchmark: a data reference (a data source and one of its tickers), loaded like any data.

``[backtest.benchmark]`` names a data-source plugin, its params, a ticker and its kind; the series comes
through the data-source registry and :func:`qlop.stages.data.load_panel` (validated, cached), never
from a particular plugin by name. The benchmark is loaded over the ``[data]`` window, once when the
config is validated (so a wrong ticker fails before any training) and again, from the cache, by the
backtest.

Two things a comparison needs stated, so both are checked here and recorded in ``metrics.json``:

- its **kind**: ``price`` (an index without dividends, such as GSPC) or ``total_return`` (dividends
  reinvested); against dividend-adjusted stocks a price index understates the market by the dividend
  yield and inflates alpha by about beta x that yield. Unless the config says, the data source's
  :meth:`~qlop.interfaces.BaseDataSourcePlugin.back_adjusted` decides (adjusted data is total return).
- its **coverage** of the backtest window: a benchmark that starts late or ends early is an error
  naming both ranges (checked once the data's dates are known, and always before the backtest), or,
  with ``benchmark_partial = "overlap"``, a warning and a comparison over the overlap only.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from qlop.errors import ConfigError, DataError

if TYPE_CHECKING:
    import pandas as pd

    from qlop.config import BenchmarkConfig, DataConfig, PipelineConfig

log = logging.getLogger(__name__)

FIELD = "backtest.benchmark"
#: Benchmark kinds and how the answer and the report name them.
KINDS = {"price": "price index", "total_return": "total return"}
#: Calendar days a benchmark may start after the backtest's first date, or end before its last, and
#: still cover it: weekends and market holidays (the longest US closure since 2000, after 11 September
#: 2001, was four sessions: six calendar days).
EDGE_DAYS = 6


@dataclass(frozen=True)
class Coverage:
    """The benchmark's first and last bar against the backtest window (dates)."""

    ticker: str
    first: dt.date
    last: dt.date
    window_start: dt.date
    window_end: dt.date

    @property
    def starts_late(self) -> bool:
        return (self.first - self.window_start).days > EDGE_DAYS

    @property
    def ends_early(self) -> bool:
        return (self.window_end - self.last).days > EDGE_DAYS

    @property
    def complete(self) -> bool:
        return not (self.starts_late or self.ends_early)

    @property
    def overlap(self) -> tuple[dt.date, dt.date] | None:
        start, end = max(self.first, self.window_start), min(self.last, self.window_end)
        return (start, end) if start <= end else None

    def as_dict(self) -> dict[str, Any]:
        """What ``metrics.json`` records under ``benchmark_coverage``."""
        overlap = self.overlap
        return {
            "first": self.first.isoformat(),
            "last": self.last.isoformat(),
            "window_start": self.window_start.isoformat(),
            "window_end": self.window_end.isoformat(),
            "complete": self.complete,
            "overlap_start": overlap[0].isoformat() if overlap else None,
            "overlap_end": overlap[1].isoformat() if overlap else None,
        }

    def gap(self) -> str:
        """``'SPY' has bars 2005-02-25 .. 2017-11-10, which do not cover the backtest window 2003-01-02 ..
        2017-11-10 (it starts 785 days late)``."""
        why = []
        if self.starts_late:
            why.append(f"it starts {(self.first - self.window_start).days} days late")
        if self.ends_early:
            why.append(f"it ends {(self.window_end - self.last).days} days early")
        return (
            f"{self.ticker!r} has bars {self.first} .. {self.last}, which do not cover the backtest window "
            f"{self.window_start} .. {self.window_end} ({' and '.join(why)})"
        )


def benchmark_data_config(config: "PipelineConfig") -> "DataConfig | None":
    """The data request for the configured benchmark over the ``[data]`` window (None: no benchmark)."""
    from qlop.config import DataConfig

    bench = config.backtest.benchmark if config.backtest is not None else None
    if bench is None:
        return None
    return DataConfig(
        data_source_type=bench.data_source_type,
        data_source_params=bench.data_source_params,
        tickers=[bench.ticker],
        start_date=config.data.start_date,
        end_date=config.data.end_date,
        interval=config.data.interval,
    )


def load_benchmark(config: "PipelineConfig", manager: Any = None) -> "pd.Series | None":
    """The benchmark's daily closes indexed by date (None when the config has no benchmark).

    Raises :class:`ConfigError` naming ``backtest.benchmark`` (and the source) when the ticker cannot
    be loaded: an unknown ticker, no bars in the window, a source that is not available.
    """
    request = benchmark_data_config(config)
    if request is None:
        return None
    from qlop.errors import ComponentConflictError, PluginError, UnknownComponentError
    from qlop.stages.data import load_panel

    bench: BenchmarkConfig = config.backtest.benchmark  # type: ignore[union-attr, assignment]
    try:
        panel = load_panel(request, manager=manager, progress_stage=FIELD, field=FIELD)
    except (UnknownComponentError, ComponentConflictError) as exc:
        raise ConfigError(f"{FIELD}.data_source_type: {exc}") from None
    except (DataError, PluginError) as exc:
        raise ConfigError(
            f"{FIELD}: {bench.ticker!r} cannot be loaded from data source {bench.data_source_type!r} ({exc})"
        ) from None
    # the panel names it canonically (the sample source loads "^GSPC" and "gspc" as "GSPC"): take its
    # only ticker
    return panel.xs(panel.index.get_level_values(0)[0], level=0)["close"]


def benchmark_close(config: "PipelineConfig", dates: "pd.DatetimeIndex", manager: Any = None) -> "pd.Series | None":
    """The benchmark's closes from the first to the last of ``dates`` (None without a benchmark)."""
    close = load_benchmark(config, manager)
    if close is None:
        return None
    return close.loc[dates.min() : dates.max()]


def benchmark_kind(config: "PipelineConfig", manager: Any = None) -> str | None:
    """``price`` or ``total_return``: the config's ``kind``, else what the data source says (None without a
    benchmark). A source that cannot say is a config error asking for ``kind``."""
    bench = config.backtest.benchmark if config.backtest is not None else None
    if bench is None:
        return None
    if bench.kind is not None:
        return bench.kind
    from qlop.stages.components import component_errors, create

    source = create(
        "data_source", bench.data_source_type, bench.data_source_params, f"{FIELD}.data_source_params", manager
    )
    with component_errors("backtest", "data_source", bench.data_source_type, manager):
        adjusted = source.back_adjusted([bench.ticker])
    if adjusted is None:
        raise ConfigError(
            f"{FIELD}.kind: data source {bench.data_source_type!r} does not say whether {bench.ticker!r} "
            'includes dividends; set kind = "price" (an index without dividends) or "total_return"'
        )
    return "total_return" if adjusted else "price"


def coverage(config: "PipelineConfig", close: "pd.Series", window_start: Any, window_end: Any) -> Coverage:
    """The benchmark's coverage of the backtest window ``window_start .. window_end``.

    Raises :class:`ConfigError` naming both ranges when it does not cover the window, unless
    ``backtest.benchmark_partial = "overlap"``: then a warning is logged (and the caller records the
    overlap). No date in common is an error either way.
    """
    import pandas as pd

    bench = config.backtest.benchmark
    dates = close.dropna().index
    start, end = pd.Timestamp(window_start).date(), pd.Timestamp(window_end).date()
    if not len(dates):
        raise ConfigError(f"{FIELD}: {bench.ticker!r} has no bars for the backtest window {start} .. {end}")
    cov = Coverage(bench.ticker, dates.min().date(), dates.max().date(), start, end)
    if cov.complete:
        return cov
    overlap = cov.overlap
    if config.backtest.benchmark_partial == "error" or overlap is None:
        hint = (
            f'; choose a benchmark that does, or set backtest.benchmark_partial = "overlap" to compare over '
            f"{overlap[0]} .. {overlap[1]} only"
            if overlap is not None
            else "; choose a benchmark that does"
        )
        raise ConfigError(f"{FIELD}: {cov.gap()}{hint}")
    log.warning(
        "%s: %s; the comparison (benchmark return, alpha, beta, correlation) covers %s .. %s only",
        FIELD,
        cov.gap(),
        overlap[0],
        overlap[1],
    )
    return cov


def check_data_window(config: "PipelineConfig", first: Any, last: Any, manager: Any = None) -> None:
    """Once the data's dates are known (after the data stage): a benchmark that ends before the data, so
    cannot cover the backtest's end, fails now rather than after training. The backtest checks the
    whole window (:func:`coverage`) before it runs."""
    bt = config.backtest
    if bt is None or bt.benchmark is None or bt.benchmark_partial != "error":
        return
    close = load_benchmark(config, manager)
    if close is None or not len(close.dropna()):
        return
    import pandas as pd

    bars = close.dropna().index
    first, last = pd.Timestamp(first).date(), pd.Timestamp(last).date()
    late = (last - bars.max().date()).days
    if late > EDGE_DAYS:
        raise ConfigError(
            f"{FIELD}: {bt.benchmark.ticker!r} has bars {bars.min().date()} .. {bars.max().date()}, "
            f"which end {late} days before the data ({first} .. {last}): they cannot cover the backtest, "
            "which runs to the data's last date; choose a benchmark that does, or set "
            'backtest.benchmark_partial = "overlap"'
        )


def check_benchmark(config: "PipelineConfig", manager: Any = None) -> None:
    """Config validation: the benchmark loads and its kind is known (the config error names the field),
    before any training."""
    load_benchmark(config, manager)
    benchmark_kind(config, manager)


@dataclass(frozen=True)
class Benchmark:
    """The benchmark of one backtest: its closes over the window, its kind and its coverage."""

    close: "pd.Series"
    kind: str
    coverage: Coverage

    def metrics(self) -> dict[str, Any]:
        """What ``metrics.json`` says about the comparison (the answer and the report read it)."""
        return {
            "benchmark": self.coverage.ticker,
            "benchmark_kind": self.kind,
            "benchmark_coverage": self.coverage.as_dict(),
        }


def benchmark_for_window(
    config: "PipelineConfig", window_start: Any, window_end: Any, manager: Any = None
) -> Benchmark | None:
    """The benchmark for a backtest over ``window_start .. window_end``, its coverage checked
    (:func:`coverage`), or None when the config has none. Called before the backtest runs."""
    close = load_benchmark(config, manager)
    if close is None:
        return None
    cov = coverage(config, close, window_start, window_end)
    kind = benchmark_kind(config, manager)
    return Benchmark(close.loc[window_start:window_end], str(kind), cov)


def check_run_data(config: "PipelineConfig", data_path: Any, manager: Any = None) -> None:
    """:func:`check_data_window` on the dates of a run's ``data.parquet`` (``qlop run``, after the data
    stage). Only the date column is read."""
    if config.backtest is None or config.backtest.benchmark is None:
        return
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    dates = pq.read_table(data_path, columns=["date"]).column("date")
    if len(dates):
        check_data_window(config, pc.min(dates).as_py(), pc.max(dates).as_py(), manager)
