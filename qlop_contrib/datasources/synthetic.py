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


def synthetic_panel(names: list[str], dates: pd.DatetimeIndex, p: SyntheticParams) -> pd.DataFrame:
    """The canonical panel for ``names`` (sorted) over ``dates``, built block by block."""
    names = sorted(names)
    n_t, n_b = len(names), len(dates)
    cols = {c: np.empty(n_t * n_b) for c in OHLCV_COLUMNS}
    from qlop.api import ticker_progress

    with ticker_progress(n_t) as progress:
        for lo in range(0, n_t, BLOCK):
            block = names[lo : lo + BLOCK]
            arrays = generate_block(block, n_b, p)
            for c in OHLCV_COLUMNS:
                # (n_bars, k) -> ticker-major rows: ticker lo's bars, then ticker lo+1's, ...
                cols[c][lo * n_b : (lo + len(block)) * n_b] = arrays[c].T.ravel()
            del arrays
            progress.advance(len(block), message=block[-1])
    codes_t = np.repeat(np.arange(n_t, dtype=np.int32), n_b)
    codes_d = np.tile(np.arange(n_b, dtype=np.int32), n_t)
    index = pd.MultiIndex(
        levels=[pd.Index(names, dtype="str"), dates.astype("datetime64[ns]")],
        codes=[codes_t, codes_d],
        names=["ticker", "date"],
        verify_integrity=False,
    )
    return pd.DataFrame(cols, index=index, copy=False)


class SyntheticSource(BaseDataSourcePlugin):
    """Seeded GBM + stochastic volatility + jumps; any number of tickers and bars."""

    params_model = SyntheticParams

    def load_data(
        self, tickers: list[str] | None, start_date: Any = None, end_date: Any = None, interval: str = "1d"
    ) -> pd.DataFrame:
        from qlop.api import require_daily

        require_daily(interval, "synthetic")
        p = self.params
        names = list(tickers) if tickers else [f"SYN{i:05d}" for i in range(p.n_tickers)]
        if len(set(names)) != len(names):
            raise DataError("synthetic: tickers must be unique")
        try:
            first = pd.Timestamp(start_date if start_date is not None else p.start).normalize()
        except ValueError:
            raise DataError(f"synthetic: start {p.start!r} is not a date") from None
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
