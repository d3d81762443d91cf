"""``synthetic``: seeded OHLCV paths for scale tests and benchmarks.

Model, per ticker and business day (dt = 1/252):

* log variance follows an AR(1) around the level giving the target annual ``vol`` on average
  (log-normal stochastic volatility, so volatility clusters);
* the overnight gap and the intraday move split the diffusion variance by ``overnight_share``;
  Poisson jumps (``jump_intensity`` per year, normal log sizes) land in the overnight gap, like news;
* high/low extend beyond max/min(open, close) by a half-normal multiple of the intraday sigma, so every
  bar is OHLC-consistent by construction; volume is log-normal and rises with the size of the move.

Each ticker draws from its own generator seeded by (``seed``, crc32 of the ticker name): the same seed
gives the same path for a ticker whatever other tickers are generated with it.

Intraday intervals generate the session's bar grid (``qlop.api.session_bars``: exchange hours with
holidays, or every UTC day for ``24/7``). The same model runs per bar: a session's diffusion variance is
spread evenly over its bars, the ``overnight_share`` and the jumps land in the gap at each session's
open (a 24/7 market has no gap: its jumps land on any bar), log variance is an AR(1) per bar with the
per-session persistence and level of the daily model, and volume follows a U-shaped profile across the
session (``volume_u_shape``) around ``volume / bars per session``.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np
import pandas as pd

from qlop.api import OHLCV_COLUMNS, BaseDataSourcePlugin, DataError
from qlop_contrib.datasources.params import SyntheticParams

DAYS_PER_YEAR = 252
#: Tickers generated per block: bounds temporary memory whatever the panel size.
BLOCK = 64


def ar1(shocks: np.ndarray, phi: float) -> np.ndarray:
    """x[t] = phi * x[t-1] + shocks[t] (x[-1] = 0) along axis 0, without a loop over time.

    Closed form x[t] = phi^t * cumsum(shocks[s] * phi^-s), evaluated in segments short enough that
    phi^-s stays below e^40 (no overflow, no loss of precision), carrying the state across segments.
    """
    if phi == 0.0:
        return shocks.copy()
    n = shocks.shape[0]
    seg = n if phi == 1.0 else max(1, min(n, int(40.0 / -np.log(phi))))
    out = np.empty_like(shocks)
    state = np.zeros(shocks.shape[1:])
    for lo in range(0, n, seg):
        block = shocks[lo : lo + seg]
        t = np.arange(len(block)).reshape((-1,) + (1,) * (shocks.ndim - 1))
        acc = np.cumsum(block * phi**-t, axis=0)
        out[lo : lo + seg] = phi**t * (phi * state + acc)
        state = out[lo + len(block) - 1]
    return out


def generate_block(names: list[str], n_bars: int, p: SyntheticParams) -> dict[str, np.ndarray]:
    """OHLCV arrays of shape (n_bars, len(names)) for one block of tickers."""
    k = len(names)
    dt = 1.0 / DAYS_PER_YEAR
    z = np.empty((7, n_bars, k))
    jumps = np.empty((n_bars, k))
    for j, name in enumerate(names):
        rng = np.random.default_rng([p.seed, zlib.crc32(name.encode("utf-8"))])
        z[:, :, j] = rng.standard_normal((7, n_bars))
        jumps[:, j] = rng.poisson(p.jump_intensity * dt, n_bars)
    phi, eta = p.vol_persistence, p.vol_of_vol
    stat_var = eta**2 / (1.0 - phi**2)
    # AR(1) started in its stationary distribution; mean shifted so E[variance] matches ``vol``.
    shocks = eta * z[0]
    shocks[0] = np.sqrt(stat_var) * z[0, 0]
    log_var = ar1(shocks, phi) + np.log(p.vol**2 * dt) - stat_var / 2
    sigma = np.exp(0.5 * log_var)
    del log_var, shocks
    a = p.overnight_share
    mu = p.drift * dt - 0.5 * sigma**2
    gap = a * mu + np.sqrt(a) * sigma * z[1] + jumps * p.jump_mean + np.sqrt(jumps) * p.jump_std * z[2]
    intra_sigma = np.sqrt(1.0 - a) * sigma
    intra = (1.0 - a) * mu + intra_sigma * z[3]
    log_close = np.log(p.start_price) + np.cumsum(gap + intra, axis=0)
    close = np.exp(log_close)
    open_ = np.exp(log_close - intra)
    top, bottom = np.maximum(open_, close), np.minimum(open_, close)
    high = top * np.exp(0.5 * intra_sigma * np.abs(z[4]))
    low = bottom * np.exp(-0.5 * intra_sigma * np.abs(z[5]))
    # Busier on big moves (capped so a jump cannot give absurd volume), log-normal noise otherwise.
    move = np.minimum(np.abs(gap + intra) / sigma, 6.0)
    volume = np.maximum(np.rint(p.volume * np.exp(0.4 * z[6] + 0.25 * (move - 0.8))), 1.0)
    return {"open": open_, "high": high, "low": low, "close": close, "adj_close": close, "volume": volume}


def synthetic_panel(
    names: list[str], dates: pd.DatetimeIndex, p: SyntheticParams, block_fn: Any = None
) -> pd.DataFrame:
    """The canonical panel for ``names`` (sorted) over ``dates``, built block by block (by
    ``block_fn(names, n_bars, params)``, default the daily :func:`generate_block`)."""
    block_fn = block_fn or generate_block
    names = sorted(names)
    n_t, n_b = len(names), len(dates)
    cols = {c: np.empty(n_t * n_b) for c in OHLCV_COLUMNS}
    from qlop.api import ticker_progress

    with ticker_progress(n_t) as progress:
        for lo in range(0, n_t, BLOCK):
            block = names[lo : lo + BLOCK]
            arrays = block_fn(block, n_b, p)
            for c in OHLCV_COLUMNS:
                # (n_bars, k) -> ticker-major rows: ticker lo's bars, then ticker lo+1's, ...
                cols[c][lo * n_b : (lo + len(block)) * n_b] = arrays[c].T.ravel()
            del arrays
            progress.advance(len(block), message=block[-1])
    codes_t = np.repeat(np.arange(n_t, dtype=np.int32), n_b)
    codes_d = np.tile(np.arange(n_b, dtype=np.int32), n_t)
    index = pd.MultiIndex(
        levels=[
            pd.Index(names, dtype="str"),
            dates.as_unit("ns") if dates.tz is not None else dates.astype("datetime64[ns]"),
        ],
        codes=[codes_t, codes_d],
        names=["ticker", "date"],
        verify_integrity=False,
    )
    return pd.DataFrame(cols, index=index, copy=False)


def generate_intraday_block(
    names: list[str], opens: np.ndarray, position: np.ndarray, bps: int, per_year: int, p: SyntheticParams
) -> dict[str, np.ndarray]:
    """OHLCV arrays of shape (n_bars, len(names)) on an intraday grid.

    ``opens`` marks each session's first bar, ``position`` is a bar's place in its session (0 at the
    open, 1 at the last bar), ``bps`` the bars of a regular session and ``per_year`` sessions a year.
    """
    n_bars, k = len(opens), len(names)
    gaps = bool(opens[1:].any()) and bps > 1 and per_year != 365
    dt_session = 1.0 / per_year
    z = np.empty((7, n_bars, k))
    jumps = np.empty((n_bars, k))
    jump_rate = p.jump_intensity * (dt_session if gaps else dt_session / bps)
    for j, name in enumerate(names):
        rng = np.random.default_rng([p.seed, zlib.crc32(name.encode("utf-8")), bps])
        z[:, :, j] = rng.standard_normal((7, n_bars))
        jumps[:, j] = rng.poisson(jump_rate, n_bars)
    if gaps:
        jumps[~opens] = 0.0
    # per-bar AR(1) with the daily model's per-session persistence and stationary spread
    phi = p.vol_persistence ** (1.0 / bps)
    stat_var = p.vol_of_vol**2 / (1.0 - p.vol_persistence**2)
    eta = np.sqrt(stat_var * (1.0 - phi**2))
    shocks = eta * z[0]
    shocks[0] = np.sqrt(stat_var) * z[0, 0]
    log_var = ar1(shocks, phi) + np.log(p.vol**2 * dt_session) - stat_var / 2
    sigma_day = np.exp(0.5 * log_var)
    del log_var, shocks
    a = p.overnight_share if gaps else 0.0
    mu_day = p.drift * dt_session - 0.5 * sigma_day**2
    open_bar = opens[:, None].astype(np.float64) if gaps else np.zeros((n_bars, 1))
    gap = open_bar * (a * mu_day + np.sqrt(a) * sigma_day * z[1])
    gap += jumps * p.jump_mean + np.sqrt(jumps) * p.jump_std * z[2]
    intra_sigma = np.sqrt((1.0 - a) / bps) * sigma_day
    intra = (1.0 - a) * mu_day / bps + intra_sigma * z[3]
    log_close = np.log(p.start_price) + np.cumsum(gap + intra, axis=0)
    close = np.exp(log_close)
    open_ = np.exp(log_close - intra)
    top, bottom = np.maximum(open_, close), np.minimum(open_, close)
    high = top * np.exp(0.5 * intra_sigma * np.abs(z[4]))
    low = bottom * np.exp(-0.5 * intra_sigma * np.abs(z[5]))
    # U shape: 1 in the middle of the session, volume_u_shape at its first and last bar
    profile = 1.0 + (p.volume_u_shape - 1.0) * (2.0 * position - 1.0) ** 2
    profile = profile / profile.mean()
    move = np.minimum(np.abs(gap + intra) / np.maximum(intra_sigma, 1e-300), 6.0)
    volume = np.maximum(np.rint(p.volume / bps * profile[:, None] * np.exp(0.4 * z[6] + 0.25 * (move - 0.8))), 1.0)
    return {"open": open_, "high": high, "low": low, "close": close, "adj_close": close, "volume": volume}


def intraday_grid(session: str, interval: str, first: pd.Timestamp, n_bars: int, end_date: Any) -> pd.DatetimeIndex:
    """The first ``n_bars`` bars of ``session`` from ``first`` on, cut at ``end_date`` (its session date)."""
    from qlop.api import session_bars, session_ids

    stamps = session_bars(session, interval, first, n_bars=n_bars)
    if end_date is not None:
        last_day = (pd.Timestamp(end_date).normalize() - pd.Timestamp(0)).days
        stamps = stamps[session_ids(stamps, session) <= last_day]
    return stamps


def synthetic_intraday_panel(
    names: list[str], stamps: pd.DatetimeIndex, session: str, interval: str, p: SyntheticParams
) -> pd.DataFrame:
    """The canonical intraday panel (UTC bar starts) for ``names`` over the bar grid ``stamps``."""
    from qlop.api import bars_per_session, session_ids, sessions_per_year

    sid = session_ids(stamps, session)
    opens = np.r_[True, sid[1:] != sid[:-1]]
    start_of = np.maximum.accumulate(np.where(opens, np.arange(len(sid)), 0))
    ends = np.r_[np.flatnonzero(opens)[1:], len(sid)] - 1
    last_of = np.repeat(ends, np.diff(np.r_[np.flatnonzero(opens), len(sid)]))
    span = np.maximum(last_of - start_of, 1)
    position = (np.arange(len(sid)) - start_of) / span
    bps, per_year = bars_per_session(interval, session), sessions_per_year(session)

    def block(chunk: list[str], n_b: int, prm: SyntheticParams) -> dict[str, np.ndarray]:
        return generate_intraday_block(chunk, opens, position, bps, per_year, prm)

    return synthetic_panel(names, pd.DatetimeIndex(stamps), p, block)


class SyntheticSource(BaseDataSourcePlugin):
    """Seeded GBM + stochastic volatility + jumps; any number of tickers and bars."""

    params_model = SyntheticParams

    def load_data(
        self, tickers: list[str] | None, start_date: Any = None, end_date: Any = None, interval: str = "1d"
    ) -> pd.DataFrame:
        from qlop.api import INTRADAY_INTERVALS, requested_bars, require_daily

        require_daily(interval, "synthetic", ("1d", *INTRADAY_INTERVALS))
        p = self.params
        names = list(tickers) if tickers else [f"SYN{i:05d}" for i in range(p.n_tickers)]
        if len(set(names)) != len(names):
            raise DataError("synthetic: tickers must be unique")
        try:
            first = pd.Timestamp(start_date if start_date is not None else p.start).normalize()
        except ValueError:
            raise DataError(f"synthetic: start {p.start!r} is not a date") from None
        if interval != "1d":
            bars = requested_bars(interval)
            session = bars.session or "24/7"
            stamps = intraday_grid(session, interval, first, p.n_bars, end_date)
            if not len(stamps):
                raise DataError(f"synthetic: no {session} session between {first.date()} and {end_date}")
            return synthetic_intraday_panel(names, stamps, session, interval, p)
        dates = pd.bdate_range(first, periods=p.n_bars)
        if end_date is not None:
            dates = dates[dates <= pd.Timestamp(end_date)]
            if not len(dates):
                raise DataError(f"synthetic: no business day between {first.date()} and {end_date}")
        return synthetic_panel(names, dates, p)

    def back_adjusted(self, tickers: list[str]) -> bool:
        """Never: simulated paths have no corporate actions."""
        return False

    def unknown_tickers(self, tickers: list[str]) -> dict[str, str]:
        """Nothing is unknown: any name gets a simulated path."""
        return {}
