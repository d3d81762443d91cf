"""Small deterministic OHLCV panels for tests: synthetic (numpy) or a slice of the embedded sample data.

Both return the canonical panel of :mod:`qlop.schema` (MultiIndex ``ticker, date``, sorted, unique,
float64 ``open high low close adj_close volume``), so a component under test sees exactly what a run
would hand it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from qlop.schema import INDEX_NAMES, OHLCV_COLUMNS

if TYPE_CHECKING:
    import pandas as pd


def make_ohlcv_panel(
    tickers: Sequence[str] = ("AAA", "BBB", "CCC"),
    n_days: int = 260,
    start: str = "2020-01-01",
    seed: int = 0,
    ragged: bool = True,
) -> "pd.DataFrame":
    """A seeded random-walk panel on business days.

    ``ragged`` gives each ticker its own calendar (later tickers start a few days later and skip a
    few days), as real data does; the canonical panel never forward-fills missing bars. The bars are
    OHLC-consistent (low <= open, close <= high), prices positive, volume positive.
    """
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    calendar = pd.bdate_range(start, periods=n_days + 10 * len(tickers))
    frames = []
    for k, ticker in enumerate(tickers):
        dates = calendar[k * 3 : k * 3 + n_days] if ragged else calendar[:n_days]
        if ragged and k % 2 == 1 and len(dates) > 20:
            dates = dates.delete([7, 13])  # a ticker with holes in its calendar
        n = len(dates)
        drift, vol = 0.0003 * (k + 1), 0.01 + 0.004 * k
        log_ret = rng.normal(drift, vol, n)
        close = 20.0 * (k + 1) * np.exp(np.cumsum(log_ret))
        gap = rng.normal(0.0, vol / 3, n)
        open_ = np.empty(n)
        open_[0] = close[0] * np.exp(gap[0])
        open_[1:] = close[:-1] * np.exp(gap[1:])
        spread_hi = np.abs(rng.normal(0.0, vol / 2, n))
        spread_lo = np.abs(rng.normal(0.0, vol / 2, n))
        high = np.maximum(open_, close) * np.exp(spread_hi)
        low = np.minimum(open_, close) * np.exp(-spread_lo)
        volume = np.round(rng.lognormal(13.0, 0.4, n))
        frames.append(
            pd.DataFrame(
                {
                    "ticker": ticker,
                    "date": dates,
                    "open": open_,
                    "high": high,
                    "low": low,
                    "close": close,
                    "adj_close": close,
                    "volume": volume.astype("float64"),
                }
            )
        )
    stacked = pd.concat(frames, ignore_index=True)
    stacked["date"] = stacked["date"].astype("datetime64[ns]")  # the canonical unit, whatever pandas defaults to
    panel = stacked.set_index(list(INDEX_NAMES)).sort_index()
    return panel[list(OHLCV_COLUMNS)].astype("float64")


def make_intraday_panel(
    tickers: Sequence[str] = ("AAA", "BBB", "CCC"),
    n_bars: int = 400,
    interval: str = "1h",
    session: str = "XNYS",
    start: str = "2024-06-24",
    seed: int = 0,
    ragged: bool = True,
) -> "pd.DataFrame":
    """A seeded random-walk intraday panel on ``session``'s bar grid (UTC bar starts, bars in attrs).

    Like :func:`make_ohlcv_panel`: ``ragged`` starts later tickers a few bars later and drops a few
    bars of every other ticker. An exchange session brings nights, weekends, holidays and early
    closes, so a transform that reads across a session break shows up in the causality checks.
    """
    import numpy as np
    import pandas as pd

    from qlop.schema import validate_panel
    from qlop.sessions import ALWAYS_OPEN, BarSpec, session_bars, session_timezone

    grid = session_bars(session, interval, start, n_bars=n_bars + 10 * len(tickers))
    daily = make_ohlcv_panel(tickers, n_days=n_bars, start="2020-01-01", seed=seed, ragged=False)
    rng = np.random.default_rng(seed + 1)
    frames = []
    for k, ticker in enumerate(tickers):
        stamps = grid[k * 3 : k * 3 + n_bars] if ragged else grid[:n_bars]
        bars = daily.loc[ticker].iloc[: len(stamps)].copy()
        if ragged and k % 2 == 1 and len(stamps) > 20:
            keep = np.ones(len(stamps), dtype=bool)
            keep[[7, 13]] = False
            stamps, bars = stamps[keep], bars[keep]
        bars["volume"] = np.round(rng.lognormal(10.0, 0.4, len(bars)))
        frames.append(bars.reset_index(drop=True).assign(ticker=ticker, date=stamps))
    stacked = pd.concat(frames, ignore_index=True)
    spec = BarSpec(interval, session, session_timezone(session or ALWAYS_OPEN))
    return validate_panel(stacked, "make_intraday_panel", bars=spec)


def load_sample_panel(
    tickers: Sequence[str] = ("AAPL", "MSFT"),
    start: str | None = "2015-01-01",
    end: str | None = "2016-12-31",
) -> "pd.DataFrame":
    """A slice of the embedded real sample data as a canonical panel.

    Read by the ``sample`` data source (the bundled plugin that ships the data) through the plugin
    registry, with no cache involved, and validated by :func:`qlop.schema.validate_panel`. An unknown
    ticker raises :class:`qlop.errors.DataError` naming it; with the ``sample`` source disabled, an
    error saying it is not available.
    """
    from qlop.plugins.manager import get_plugin_manager
    from qlop.schema import validate_panel

    source = get_plugin_manager().create("data_source", "sample", {}, "qlop sample data")
    return validate_panel(source.load_data(list(tickers), start, end, "1d"), source="qlop sample data")


def perturb_after(panel: "pd.DataFrame", cutoff: Any, seed: int = 1) -> "pd.DataFrame":
    """A copy of ``panel`` whose rows after ``cutoff`` (a date) are replaced by different valid bars.

    Prices are scaled by a random factor per row (OHLC consistency kept), volume too. Rows at or before
    ``cutoff`` are untouched, bit for bit: a causal transform must give identical values there.
    """
    import numpy as np
    import pandas as pd

    out = panel.copy()
    dates = out.index.get_level_values(INDEX_NAMES[1])
    after = np.asarray(dates > pd.Timestamp(cutoff))
    rng = np.random.default_rng(seed)
    factor = np.exp(rng.normal(0.0, 0.2, int(after.sum())))
    price_cols = [c for c in ("open", "high", "low", "close", "adj_close") if c in out.columns]
    for col in price_cols:
        out.loc[after, col] = out.loc[after, col].to_numpy() * factor
    if "volume" in out.columns:
        out.loc[after, "volume"] = out.loc[after, "volume"].to_numpy() * factor[::-1]
    extra = [c for c in out.columns if c not in price_cols and c != "volume" and pd.api.types.is_float_dtype(out[c])]
    for col in extra:
        out.loc[after, col] = rng.uniform(0.0, 1.0, int(after.sum()))  # valid as a probability too
    return out


#: Per-ticker factors of :func:`rescale_panel` (cycled): far from 1 and not powers of two, so a step in
#: price or volume units changes visibly and rounding differs.
PRICE_FACTORS = (0.013, 41.7, 2.9)
VOLUME_FACTORS = (5.3, 0.021, 870.0)

#: The panel's price columns (volume is the other OHLCV column).
PRICE_COLUMNS = ("open", "high", "low", "close", "adj_close")


def rescale_panel(
    panel: "pd.DataFrame",
    price_factors: Sequence[float] = PRICE_FACTORS,
    volume_factors: Sequence[float] = VOLUME_FACTORS,
) -> "pd.DataFrame":
    """A copy of ``panel`` whose k-th ticker has its prices multiplied by ``price_factors[k]`` and its
    volume by ``volume_factors[k]`` (both cycled); every other column is left as it is.

    What a scale-free feature must not notice: a back-adjusted history is the raw one times a constant
    between two corporate actions, and tickers' price levels differ by orders of magnitude.
    """
    import numpy as np

    out = panel.copy()
    codes = np.asarray(out.index.codes[0]) if hasattr(out.index, "codes") else np.zeros(len(out), dtype=int)
    price = np.asarray(price_factors, dtype=np.float64)[codes % len(price_factors)]
    volume = np.asarray(volume_factors, dtype=np.float64)[codes % len(volume_factors)]
    for col in PRICE_COLUMNS:
        if col in out.columns:
            out[col] = out[col].to_numpy(dtype=np.float64) * price
    if "volume" in out.columns:
        out["volume"] = out["volume"].to_numpy(dtype=np.float64) * volume
    return out
