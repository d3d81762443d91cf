"""The data stage: load the OHLCV panel through a data-source plugin, validate it, cache it.

``load_panel`` is what every other stage (and notebook) calls. The cache key is the sha256 of
(source, validated params, tickers, dates, interval, the source's own ``cache_token()``),
so the same request is read back from Parquet instead of re-parsed or re-downloaded; ``refresh=True``
bypasses the read (and rewrites the entry).
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qlop.errors import DataError
from qlop.layout import RunLayout
from qlop.progress import StageProgress, stage_progress

if TYPE_CHECKING:
    import pandas as pd

    from qlop.config import DataConfig, PipelineConfig
    from qlop.sessions import BarSpec

log = logging.getLogger(__name__)

#: Bumped when the canonical panel format changes, so old cache entries are never read back.
CACHE_VERSION = 1

_progress: contextvars.ContextVar[StageProgress | None] = contextvars.ContextVar("qlop_data_progress", default=None)
_bars: contextvars.ContextVar["BarSpec | None"] = contextvars.ContextVar("qlop_data_bars", default=None)


def requested_bars(interval: str = "1d") -> "BarSpec":
    """The bars ``load_panel`` asked for: interval, session and the session's time zone.

    A data source that needs the session (to generate or filter intraday bars) reads it here while
    ``load_data`` runs; called outside a load (a source used directly), it describes ``interval``
    in the 24/7 session.
    """
    from qlop.sessions import ALWAYS_OPEN, BarSpec, is_intraday, session_timezone

    spec = _bars.get()
    if spec is not None and spec.interval == interval:
        return spec
    if not is_intraday(interval):
        return BarSpec(interval)
    return BarSpec(interval, ALWAYS_OPEN, session_timezone(ALWAYS_OPEN))


@contextlib.contextmanager
def bars_context(bars: "BarSpec") -> Iterator[None]:
    """Make ``bars`` what :func:`requested_bars` answers while a source loads (``load_panel`` does
    this; so does anything else calling a source's ``load_data`` for intraday bars)."""
    token = _bars.set(bars)
    try:
        yield
    finally:
        _bars.reset(token)


def bars_of(data_cfg: "DataConfig") -> "BarSpec":
    """The bars a source loads for ``data_cfg`` (before any resampling)."""
    from qlop.sessions import BarSpec, is_intraday, session_timezone

    if not is_intraday(data_cfg.interval):
        return BarSpec(data_cfg.interval)
    session = data_cfg.session or "24/7"
    return BarSpec(data_cfg.interval, session, session_timezone(session))


@contextlib.contextmanager
def ticker_progress(total: int) -> Iterator[StageProgress]:
    """Per-ticker progress for a data source: joins ``load_panel``'s stage, or opens its own."""
    handle = _progress.get()
    if handle is not None:
        handle.set_total(total)
        yield handle
        return
    with stage_progress("data", total=total, unit="ticker") as handle:
        yield handle


def require_daily(interval: str, source: str, allowed: tuple[str, ...] = ("1d",)) -> None:
    """Sources reject intervals they cannot honour (``allowed``: what this source can load)."""
    if interval not in allowed:
        raise DataError(f"{source}: interval {interval!r} is not supported (supported: {', '.join(allowed)})")


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, (dt.date, dt.datetime)) else str(value)


def cache_key(data_cfg: "DataConfig", params: Any, token: str | None = None) -> str:
    """sha256 of everything that determines the panel."""
    from pydantic import BaseModel

    from qlop.atomic import sha256_json

    dumped = params.model_dump(mode="json") if isinstance(params, BaseModel) else params
    key: dict[str, Any] = {
        "v": CACHE_VERSION,
        "source": data_cfg.data_source_type,
        "params": dumped,
        "tickers": sorted(data_cfg.tickers),
        "start": _iso(data_cfg.start_date),
        "end": _iso(data_cfg.end_date),
        "interval": data_cfg.interval,
        "token": token,
    }
    # only intraday requests carry these, so a daily request keeps the key (and cache entry) it had
    if data_cfg.session is not None:
        key["session"] = data_cfg.session
    if data_cfg.resample is not None:
        key["resample"] = data_cfg.resample
    return sha256_json(key)


def cache_path(key: str) -> Path:
    from qlop.paths import cache_dir

    return cache_dir() / "data" / f"{key}.parquet"


def load_panel(
    data_cfg: "DataConfig",
    refresh: bool = False,
    manager: Any = None,
    progress_stage: str = "data",
    field: str = "data",
) -> "pd.DataFrame":
    """The validated canonical panel for ``data_cfg``, from the cache when possible.

    ``progress_stage`` names its progress: another stage loading a panel (the backtest's benchmark)
    reports it as its own sub-progress, so the data stage's ``3/3 ticker`` never turns into ``1/1``.
    ``field`` is the config section the request comes from (``backtest.benchmark`` for the benchmark),
    so a params error names the right field.
    """
    from qlop.schema import validate_panel
    from qlop.stages.components import component_errors, create

    name = data_cfg.data_source_type
    source = create("data_source", name, data_cfg.data_source_params, f"{field}.data_source_params", manager)
    with component_errors("data", "data_source", name, manager):
        token = source.cache_token()
    path = cache_path(cache_key(data_cfg, source.params, token))
    n = len(data_cfg.tickers) or None
    with stage_progress(progress_stage, total=n, unit="ticker") as progress:
        if not refresh and path.is_file():
            try:
                panel = read_panel(path)
            except (DataError, OSError, ValueError) as exc:  # a damaged entry is rebuilt, never trusted
                log.warning("ignoring unreadable data cache %s: %s", path, exc)
            else:
                progress.advance(progress.total or len(panel.index.levels[0]), message="cache")
                return panel
        bars = bars_of(data_cfg)
        reset = _progress.set(progress)
        try:
            with bars_context(bars), component_errors("data", "data_source", name, manager):
                raw = source.load_data(
                    list(data_cfg.tickers), data_cfg.start_date, data_cfg.end_date, data_cfg.interval
                )
        finally:
            _progress.reset(reset)
        panel = validate_panel(raw, f"data source {name!r}", bars=bars)
        if not len(panel):
            raise DataError(f"data source {name!r}: returned no rows")
        if data_cfg.resample is not None:
            from qlop.resample import resample_panel

            panel = resample_panel(panel, data_cfg.resample)
    _write_cache(panel, path)
    return panel


def _write_cache(panel: "pd.DataFrame", path: Path) -> None:
    """Cache writes are best effort: a read-only cache folder must not fail the load."""
    from qlop.atomic import write_parquet

    try:
        write_parquet(panel, path)
    except OSError as exc:
        log.warning("could not write data cache %s: %s", path, exc)


def read_panel(path: str | Path) -> "pd.DataFrame":
    """Read a panel file (``data.parquet`` or a cache entry) and check it is canonical."""
    import pandas as pd

    from qlop.schema import validate_panel

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        df = pd.read_parquet(path, engine="pyarrow")
    except Exception as exc:  # pyarrow raises several types for a damaged or non-Parquet file
        raise DataError(
            f"{path}: not a readable Parquet file ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''})"
        ) from None
    return validate_panel(df, str(path))


def load_and_write(
    config: "PipelineConfig", run_dir: str | Path, refresh: bool = False
) -> tuple["pd.DataFrame", dict[str, str]]:
    """Load the panel and write ``run_dir/data.parquet`` atomically; return both."""
    from qlop.atomic import write_parquet

    panel = load_panel(config.data, refresh=refresh)
    out = write_parquet(panel, RunLayout(run_dir).data)
    return panel, {"data": str(out)}


def run(config: "PipelineConfig", run_dir: str | Path, refresh: bool = False) -> dict[str, str]:
    """Stage entry point: write ``run_dir/data.parquet`` (atomically; nothing on any error)."""
    return load_and_write(config, run_dir, refresh=refresh)[1]


# -- the panel summary (``qlop data load`` / ``qlop data info`` print it) ----------------------------------------------


def summarize_panel(panel: "pd.DataFrame", top_gaps: int = 10, max_dates: int = 5) -> dict[str, Any]:
    """What a user checks first about a panel: coverage, missing sessions and the biggest gaps.

    A ticker's *missing sessions* are dates inside its own first..last span on which some other ticker
    of the panel traded (the panel's union calendar) but it did not. *Gaps* are runs of weekdays with
    no bar between two consecutive sessions of a ticker (holidays show as 1-day gaps), so they also
    work for a single-ticker panel.
    """
    import numpy as np
    import pandas as pd

    if not len(panel):
        return {
            "tickers": 0,
            "rows": 0,
            "first": None,
            "last": None,
            "sessions": 0,
            "missing_sessions": 0,
            "missing_volume": 0,
            "per_ticker": [],
            "gaps": [],
        }
    from qlop.sessions import panel_bars, session_ids

    bars = panel_bars(panel)
    tick = panel.index.get_level_values("ticker")
    stamps = panel.index.get_level_values("date")
    if bars.intraday:
        # missing *bars* against the union of the panel's bar starts; gaps by session date
        session = bars.session or "24/7"
        keys = stamps.as_unit("ns").asi8
        dates = session_ids(keys, session).astype("datetime64[D]")
        local = stamps.tz_convert(bars.timezone or "UTC")

        def shown(k: Any) -> str:
            return str(local[k].strftime("%Y-%m-%d %H:%M"))
    else:
        dates = stamps.to_numpy().astype("datetime64[D]")
        keys = dates

        def shown(k: Any) -> str:
            return str(dates[k])

    codes, names = pd.factorize(tick, sort=False)
    union = np.unique(keys)
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    ends = np.r_[starts[1:], len(codes)] - 1
    first, last = keys[starts], keys[ends]
    rows = ends - starts + 1
    span = np.searchsorted(union, last, side="right") - np.searchsorted(union, first, side="left")
    missing = span - rows
    nan_vol = np.add.reduceat(np.isnan(panel["volume"].to_numpy()).astype(np.int64), starts)
    per_ticker = []
    for k, name in enumerate(names):
        entry: dict[str, Any] = {
            "ticker": str(name),
            "rows": int(rows[k]),
            "first": shown(starts[k]),
            "last": shown(ends[k]),
            "missing_sessions": int(missing[k]),
            "missing_volume": int(nan_vol[k]),
        }
        if missing[k]:
            lo, hi = np.searchsorted(union, [first[k], last[k]], side="left")
            own = keys[starts[k] : ends[k] + 1]
            gone = np.setdiff1d(union[lo : hi + 1], own)[:max_dates]
            if bars.intraday:
                when = pd.DatetimeIndex(gone.astype("datetime64[ns]")).tz_localize("UTC").tz_convert(local.tz)
                entry["missing_dates"] = [t.strftime("%Y-%m-%d %H:%M") for t in when]
            else:
                entry["missing_dates"] = [str(d) for d in gone]
        per_ticker.append(entry)
    gaps: list[dict[str, Any]] = []
    if top_gaps and len(dates) > 1:
        # One entry per distinct (after, before) gap, with the tickers that share it: a market-wide
        # closure (9/11) shows once, a ticker's own hole shows with its name.
        same = codes[1:] == codes[:-1]
        skipped = np.where(same, np.busday_count(dates[:-1], dates[1:]) - 1, 0)
        idx = np.flatnonzero(skipped > 0)
        frame = pd.DataFrame(
            {
                "after": dates[idx],
                "before": dates[idx + 1],
                "skipped": skipped[idx],
                "ticker": np.asarray(names)[codes[idx]],
            }
        )
        grouped = frame.groupby(["after", "before", "skipped"], sort=False)["ticker"].agg(list).reset_index()
        grouped["n"] = grouped["ticker"].str.len()
        grouped = grouped.sort_values(["skipped", "n", "after"], ascending=[False, False, True]).head(top_gaps)
        gaps = [
            {
                "after": str(r.after.date()),
                "before": str(r.before.date()),
                "weekdays_skipped": int(r.skipped),
                "tickers": [str(t) for t in r.ticker],
            }
            for r in grouped.itertuples()
        ]
    out: dict[str, Any] = {
        "tickers": len(names),
        "rows": int(len(panel)),
        "first": shown(int(np.argmin(keys))),
        "last": shown(int(np.argmax(keys))),
        "sessions": int(len(np.unique(dates))),
        "missing_sessions": int(missing.sum()),
        "missing_volume": int(nan_vol.sum()),
        "per_ticker": per_ticker,
        "gaps": gaps,
    }
    if bars.intraday:
        # ``missing_sessions`` counts missing *bars* here (against the panel's own bar starts)
        out.update(interval=bars.interval, session=bars.session, timezone=bars.timezone, bar_starts=int(len(union)))
    return out
