"""The backtest's benchmark: a data reference (a data source and one of its tickers), loaded like any data.

``[backtest.benchmark]`` names a data-source plugin, its params and a ticker; the series comes through
the data-source registry and :func:`qlop.stages.data.load_panel` (validated, cached), never from a
particular plugin by name. The benchmark is loaded over the ``[data]`` window, once when the config is
validated (so a wrong ticker fails before any training) and again, from the cache, by the backtest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qlop.errors import ConfigError, DataError

if TYPE_CHECKING:
    import pandas as pd

    from qlop.config import BenchmarkConfig, DataConfig, PipelineConfig

FIELD = "backtest.benchmark"


def benchmark_data_config(config: "PipelineConfig") -> "DataConfig | None":
    """The data request for the configured benchmark over the ``[data]`` window (None: no benchmark)."""
    from qlop.config import DataConfig

    bench = config.backtest.benchmark if config.backtest is not None else None
    if bench is None:
        return None
    return DataConfig(data_source_type=bench.data_source_type, data_source_params=bench.data_source_params,
                      tickers=[bench.ticker], start_date=config.data.start_date, end_date=config.data.end_date,
                      interval=config.data.interval)


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
        raise ConfigError(f"{FIELD}: {bench.ticker!r} cannot be loaded from data source "
                          f"{bench.data_source_type!r} ({exc})") from None
    # the panel names it canonically (the sample source loads "^GSPC" and "gspc" as "GSPC"): take its
    # only ticker
    return panel.xs(panel.index.get_level_values(0)[0], level=0)["close"]


def benchmark_close(config: "PipelineConfig", dates: "pd.DatetimeIndex", manager: Any = None) -> "pd.Series | None":
    """The benchmark's closes from the first to the last of ``dates`` (None without a benchmark)."""
    close = load_benchmark(config, manager)
    if close is None:
        return None
    return close.loc[dates.min():dates.max()]


def check_benchmark(config: "PipelineConfig", manager: Any = None) -> None:
    """Config validation: the benchmark loads (the config error names the field), before any training."""
    load_benchmark(config, manager)
