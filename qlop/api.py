"""QLOP's public plugin-author API: the one module a plugin imports from QLOP.

Everything a bundled plugin (``qlop_contrib``) uses is here, so whatever a bundled plugin can do, a
third-party one can (a test fails when ``qlop_contrib`` imports any other part of ``qlop``). Names are
resolved lazily (PEP 562): importing ``qlop.api`` to register a component costs no more than pluggy and
pydantic, and pandas, numpy or the simulator load only when a component uses them.

Groups (see ``docs/plugins/api.md`` for one line per name):

- registration: ``hookimpl``, ``ComponentSpec``, ``CommandSpec``, ``PLUGIN_API_VERSION``
- base classes: ``Base*Plugin``, ``BasePlugin``, ``NoParams``
- errors: ``QlopError``, ``ConfigError``, ``DataError``, ``ArtifactError``
- params: ``number`` (a field), ``Number`` (its type, for list items), ``seed_field``, ``SEED_MAX``
- the canonical panel: ``INDEX_NAMES``, ``OHLCV_COLUMNS``, ``validate_panel``, ``parse_date_column``,
  ``read_panel``
- data sources: ``require_daily``, ``requested_bars``, ``ticker_progress``, ``cache_dir``; databases:
  ``open_sql_engine``, ``sql_display_url``, ``sql_error``
- intraday bars and sessions (:mod:`qlop.sessions`): ``INTERVALS``, ``INTRADAY_INTERVALS``, ``BarSpec``,
  ``panel_bars``, ``interval_minutes``, ``is_intraday``, ``session_timezone``, ``session_bars``,
  ``session_ids``, ``session_open_close``, ``last_bar_of_session``, ``minutes_to_close``,
  ``time_of_day``, ``bars_per_session``, ``sessions_per_year``, ``periods_per_year``,
  ``parse_timestamp_column``, ``resample_panel``
- feature steps: ``TickerGroups``, ``ticker_groups``, ``FINITE_COLUMNS_ATTR``, ``trailing_periods_per_year``
- labels: the simulator (``simulate``, ``panel_arrays``, ``PanelArrays``, ``SimResult``, ``TradeRules``,
  ``TradeTerms``, ``RateSeries``, ``Side``, ``EXIT_REASONS``)
- exporters: ``ExportInput``, ``build_export_input``, the bundle format (``BUNDLE_FORMAT``,
  ``onnx_session``, ``output_spec``, ``run_session``, ``onnx_input``, ``load_bundle``, ``write_bundle``),
  ``versions``
- artefacts: ``RunLayout`` (the file names of a run directory and of a bundle), ``atomic_path``, ``write_bytes``, ``write_text``, ``write_json``, ``write_parquet``,
  ``sha256_file``
- progress: ``stage_progress``
- models that train across the run's Dask cluster: ``cluster_client``, ``dask_frame_by_ticker``
- sequence models (``lookback > 1``): ``group_codes``, ``window_rows``, ``window_index``,
  ``gather_windows`` (the windows the stages, ONNX parity and bundle scoring also read)

Stability: names listed in ``__all__`` follow the plugin-API version ``PLUGIN_API_VERSION``; anything
imported from other ``qlop`` modules is internal and may change without notice.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: public name -> "module:attribute" it is served from
_EXPORTS: dict[str, str] = {
    # registration
    "hookimpl": "qlop.plugins.markers:hookimpl",
    "ComponentSpec": "qlop.plugins.specs:ComponentSpec",
    "CommandSpec": "qlop.plugins.specs:CommandSpec",
    "PLUGIN_API_VERSION": "qlop.plugins.specs:PLUGIN_API_VERSION",
    # base classes
    "NoParams": "qlop.interfaces:NoParams",
    "BasePlugin": "qlop.interfaces:BasePlugin",
    "BaseDataSourcePlugin": "qlop.interfaces:BaseDataSourcePlugin",
    "BaseFeatureStepPlugin": "qlop.interfaces:BaseFeatureStepPlugin",
    "BaseLabelPlugin": "qlop.interfaces:BaseLabelPlugin",
    "BaseModelPlugin": "qlop.interfaces:BaseModelPlugin",
    "BaseStrategyPlugin": "qlop.interfaces:BaseStrategyPlugin",
    "BaseExportFormatPlugin": "qlop.interfaces:BaseExportFormatPlugin",
    # errors a component raises to report a user problem in one line
    "QlopError": "qlop.errors:QlopError",
    "ConfigError": "qlop.errors:ConfigError",
    "DataError": "qlop.errors:DataError",
    "ArtifactError": "qlop.errors:ArtifactError",
    # params: finite numbers inside bounds that name their unit (config and every plugin share them)
    "Number": "qlop.numbers:Number",
    "number": "qlop.numbers:number",
    "seed_field": "qlop.numbers:seed_field",
    "SEED_MAX": "qlop.numbers:SEED_MAX",
    # the canonical panel
    "INDEX_NAMES": "qlop.schema:INDEX_NAMES",
    "OHLCV_COLUMNS": "qlop.schema:OHLCV_COLUMNS",
    "validate_panel": "qlop.schema:validate_panel",
    "parse_date_column": "qlop.schema:parse_date_column",
    "read_panel": "qlop.stages.data:read_panel",
    # data sources
    "require_daily": "qlop.stages.data:require_daily",
    "requested_bars": "qlop.stages.data:requested_bars",
    # bar intervals and trading sessions (intraday panels)
    "INTERVALS": "qlop.sessions:INTERVALS",
    "INTRADAY_INTERVALS": "qlop.sessions:INTRADAY_INTERVALS",
    "BarSpec": "qlop.sessions:BarSpec",
    "panel_bars": "qlop.sessions:panel_bars",
    "interval_minutes": "qlop.sessions:interval_minutes",
    "is_intraday": "qlop.sessions:is_intraday",
    "session_timezone": "qlop.sessions:session_timezone",
    "session_bars": "qlop.sessions:session_bars",
    "session_ids": "qlop.sessions:session_ids",
    "session_open_close": "qlop.sessions:session_open_close",
    "last_bar_of_session": "qlop.sessions:last_bar_of_session",
    "minutes_to_close": "qlop.sessions:minutes_to_close",
    "time_of_day": "qlop.sessions:time_of_day",
    "bars_per_session": "qlop.sessions:bars_per_session",
    "sessions_per_year": "qlop.sessions:sessions_per_year",
    "periods_per_year": "qlop.sessions:periods_per_year",
    "parse_timestamp_column": "qlop.schema:parse_timestamp_column",
    "resample_panel": "qlop.resample:resample_panel",
    "ticker_progress": "qlop.stages.data:ticker_progress",
    "cache_dir": "qlop.paths:cache_dir",
    # databases (SQLAlchemy): engines with the password from the environment, errors without it
    "open_sql_engine": "qlop.sql:open_engine",
    "sql_display_url": "qlop.sql:display_url",
    "sql_error": "qlop.sql:database_error",
    # feature steps: per-ticker grouping and the pipeline's hints
    "TickerGroups": "qlop.grouping:TickerGroups",
    "ticker_groups": "qlop.grouping:ticker_groups",
    "FINITE_COLUMNS_ATTR": "qlop.adapters:FINITE_COLUMNS_ATTR",
    "trailing_periods_per_year": "qlop.calendar:trailing_periods_per_year",
    # labels: the leveraged-trade simulator the backtest also uses
    "TradeRules": "qlop.sim.rules:TradeRules",
    "TradeTerms": "qlop.sim.terms:TradeTerms",
    "RateSeries": "qlop.sim.terms:RateSeries",
    "Side": "qlop.sim.rules:Side",
    "simulate": "qlop.sim.engine:simulate",
    "SimResult": "qlop.sim.engine:SimResult",
    "EXIT_REASONS": "qlop.sim.engine:REASONS",
    "PanelArrays": "qlop.sim.panel:PanelArrays",
    "panel_arrays": "qlop.sim.panel:panel_arrays",
    # exporters: their input, the bundle format, what shaped the model
    "ExportInput": "qlop.stages.export:ExportInput",
    "build_export_input": "qlop.stages.export:build_input",
    "BUNDLE_FORMAT": "qlop.bundle:BUNDLE_FORMAT",
    "onnx_session": "qlop.bundle:onnx_session",
    "output_spec": "qlop.bundle:output_spec",
    "run_session": "qlop.bundle:run_session",
    "onnx_input": "qlop.bundle:onnx_input",
    "load_bundle": "qlop.bundle:load_bundle",
    "write_bundle": "qlop.bundle:write_bundle",
    "versions": "qlop.stages.model_store:versions",
    "load_final_model": "qlop.stages.model_store:load_final_model",
    # artefacts: their names, atomic writes and hashes
    "RunLayout": "qlop.layout:RunLayout",
    "atomic_path": "qlop.atomic:atomic_path",
    "write_bytes": "qlop.atomic:write_bytes",
    "write_text": "qlop.atomic:write_text",
    "write_json": "qlop.atomic:write_json",
    "write_parquet": "qlop.atomic:write_parquet",
    "sha256_file": "qlop.atomic:sha256_file",
    # progress (terminal bar, live events, safe points for Ctrl-C)
    "stage_progress": "qlop.progress:stage_progress",
    "add_progress_listener": "qlop.progress:add_listener",
    "remove_progress_listener": "qlop.progress:remove_listener",
    # models that train across the run's Dask cluster (BaseModelPlugin.uses_cluster)
    "cluster_client": "qlop.scale.cluster:cluster_client",
    "dask_frame_by_ticker": "qlop.scale.frames:dask_frame_by_ticker",
    # sequence models (lookback > 1): per-ticker windows shared with the stages and bundle scoring
    "group_codes": "qlop.windows:group_codes",
    "window_rows": "qlop.windows:window_rows",
    "window_index": "qlop.windows:window_index",
    "gather_windows": "qlop.windows:gather_windows",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    target = _EXPORTS.get(name)
    if target is None:
        raise AttributeError(f"module 'qlop.api' has no attribute {name!r}")
    module_name, _, attr = target.partition(":")
    value = getattr(importlib.import_module(module_name), attr)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # static checkers and IDEs see the real names
    from qlop.adapters import FINITE_COLUMNS_ATTR
    from qlop.atomic import atomic_path, sha256_file, write_bytes, write_json, write_parquet, write_text
    from qlop.bundle import (
        BUNDLE_FORMAT,
        load_bundle,
        onnx_input,
        onnx_session,
        output_spec,
        run_session,
        write_bundle,
    )
    from qlop.calendar import trailing_periods_per_year
    from qlop.errors import ArtifactError, ConfigError, DataError, QlopError
    from qlop.grouping import TickerGroups, ticker_groups
    from qlop.interfaces import (
        BaseDataSourcePlugin,
        BaseExportFormatPlugin,
        BaseFeatureStepPlugin,
        BaseLabelPlugin,
        BaseModelPlugin,
        BasePlugin,
        BaseStrategyPlugin,
        NoParams,
    )
    from qlop.layout import RunLayout
    from qlop.numbers import SEED_MAX, Number, number, seed_field
    from qlop.paths import cache_dir
    from qlop.plugins.markers import hookimpl
    from qlop.plugins.specs import PLUGIN_API_VERSION, CommandSpec, ComponentSpec
    from qlop.progress import add_listener as add_progress_listener
    from qlop.progress import remove_listener as remove_progress_listener
    from qlop.progress import stage_progress
    from qlop.resample import resample_panel
    from qlop.scale.cluster import cluster_client
    from qlop.scale.frames import dask_frame_by_ticker
    from qlop.schema import INDEX_NAMES, OHLCV_COLUMNS, parse_date_column, parse_timestamp_column, validate_panel
    from qlop.sessions import (
        INTERVALS,
        INTRADAY_INTERVALS,
        BarSpec,
        bars_per_session,
        interval_minutes,
        is_intraday,
        last_bar_of_session,
        minutes_to_close,
        panel_bars,
        periods_per_year,
        session_bars,
        session_ids,
        session_open_close,
        session_timezone,
        sessions_per_year,
        time_of_day,
    )
    from qlop.sim.engine import REASONS as EXIT_REASONS
    from qlop.sim.engine import SimResult, simulate
    from qlop.sim.panel import PanelArrays, panel_arrays
    from qlop.sim.rules import Side, TradeRules
    from qlop.sim.terms import RateSeries, TradeTerms
    from qlop.sql import database_error as sql_error
    from qlop.sql import display_url as sql_display_url
    from qlop.sql import open_engine as open_sql_engine
    from qlop.stages.data import read_panel, requested_bars, require_daily, ticker_progress
    from qlop.stages.export import ExportInput
    from qlop.stages.export import build_input as build_export_input
    from qlop.stages.model_store import load_final_model, versions
    from qlop.windows import gather_windows, group_codes, window_index, window_rows
