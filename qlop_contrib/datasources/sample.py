"""``sample``: the embedded real dataset, offline, any subset of tickers and dates.

Ticker names: the 29 primary tickers (default set), ``GSPC`` (S&P 500 index, the usual benchmark) and
``IXIC`` (NASDAQ Composite) resolve in the primary folder and ``extra/index``; ``wiki_unadjusted/AAPL``
(also ``MSFT``, ``IBM``, ``GOOG``) addresses the unadjusted Quandl WIKI extras and keeps that label,
so it can sit beside ``AAPL`` in one panel. ``collection = "wiki_unadjusted"`` makes plain names
resolve there first (labels stay plain). See ``qlop_contrib/data/ohlcv/PROVENANCE.md``.
"""

from __future__ import annotations

import difflib
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from qlop.api import BaseDataSourcePlugin, DataError
from qlop_contrib.datasources._tabular import canonical_columns, concat_panels, require_rows, to_panel
from qlop_contrib.datasources.params import SampleParams

#: The primary set, in PROVENANCE.md order: the default when no tickers are given.
PRIMARY_TICKERS: tuple[str, ...] = (
    "AAPL",
    "MSFT",
    "AMZN",
    "GOOGL",
    "NVDA",
    "INTC",
    "CSCO",
    "ORCL",
    "IBM",
    "AMD",
    "JPM",
    "BAC",
    "C",
    "GS",
    "XOM",
    "CVX",
    "JNJ",
    "PFE",
    "MRK",
    "UNH",
    "PG",
    "KO",
    "WMT",
    "HD",
    "DIS",
    "GE",
    "BA",
    "SPY",
    "QQQ",
)
BENCHMARK = "GSPC"
COLLECTIONS = ("wiki_unadjusted", "index")
_DTYPES = {
    "Open": "float64",
    "High": "float64",
    "Low": "float64",
    "Close": "float64",
    "Adj Close": "float64",
    "Volume": "float64",
}


def data_dir() -> Path:
    """Folder of the embedded CSVs (inside the installed package)."""
    return Path(str(resources.files("qlop_contrib.data") / "ohlcv"))


def available_tickers() -> list[str]:
    """Every name the sample source accepts, primary first."""
    root = data_dir()
    names = sorted(p.stem for p in root.glob("*.csv") if p.stem != "manifest")
    extras = [f"{c}/{p.stem}" for c in COLLECTIONS for p in sorted((root / "extra" / c).glob("*.csv"))]
    plain_index = [p.stem for p in sorted((root / "extra" / "index").glob("*.csv"))]
    return names + plain_index + extras


def resolve(ticker: str, collection: str = "primary") -> tuple[str, Path]:
    """(label, file) for a requested ticker; unknown names fail with the closest matches."""
    root = data_dir()
    name = ticker.strip()
    if "/" in name:
        coll, _, stem = name.partition("/")
        path = root / "extra" / coll.lower() / f"{stem.upper()}.csv"
        label = f"{coll.lower()}/{stem.upper()}"
        if coll.lower() in COLLECTIONS and path.is_file():
            return label, path
    else:
        stem = name.upper().lstrip("^")
        order = ([root / "extra" / "wiki_unadjusted"] if collection == "wiki_unadjusted" else []) + [
            root,
            root / "extra" / "index",
        ]
        for folder in order:
            path = folder / f"{stem}.csv"
            if path.is_file():
                return stem, path
    raise DataError(
        f"sample: ticker {ticker}: {not_in_dataset(name)} "
        f"(available: {', '.join(PRIMARY_TICKERS)}, {BENCHMARK}, IXIC, wiki_unadjusted/AAPL|MSFT|IBM|GOOG)"
    )


def not_in_dataset(name: str) -> str:
    """``not in the embedded dataset; did you mean AAPL?`` (the closest names, when any is close)."""
    known = available_tickers()
    close = difflib.get_close_matches(name.strip().upper(), [k.upper() for k in known], n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return f"not in the embedded dataset{hint}"


def read_sample_file(path: Path, label: str, start: Any = None, end: Any = None) -> pd.DataFrame:
    """One embedded CSV as a validated panel (the same checks as any user file)."""
    try:
        raw = pd.read_csv(path, dtype=_DTYPES)
    except (ValueError, OSError) as exc:
        raise DataError(f"{path}: cannot read: {str(exc).splitlines()[0]}") from None
    return to_panel(canonical_columns(raw, str(path)), str(path), ticker=label, start=start, end=end)


class SampleSource(BaseDataSourcePlugin):
    """The embedded real daily OHLCV dataset (no network)."""

    params_model = SampleParams

    def default_tickers(self) -> list[str]:
        if self.params.collection == "wiki_unadjusted":
            return sorted(p.stem for p in (data_dir() / "extra" / "wiki_unadjusted").glob("*.csv"))
        return list(PRIMARY_TICKERS)

    def load_data(
        self, tickers: list[str] | None, start_date: Any = None, end_date: Any = None, interval: str = "1d"
    ) -> pd.DataFrame:
        from qlop.api import require_daily, ticker_progress

        require_daily(interval, "sample")
        wanted = list(tickers) if tickers else self.default_tickers()
        resolved: dict[str, Path] = {}
        for t in wanted:
            label, path = resolve(t, self.params.collection)
            if label in resolved:
                raise DataError(f"sample: ticker {t}: listed twice (as {label})")
            resolved[label] = path
        parts = []
        with ticker_progress(len(resolved)) as progress:
            for label, path in resolved.items():
                parts.append(read_sample_file(path, label, start_date, end_date))
                progress.advance(message=label)
        panel = concat_panels(parts)
        require_rows(panel, list(resolved), "sample", start_date, end_date)
        return panel

    def back_adjusted(self, tickers: list[str]) -> bool:
        """True when any of ``tickers`` is a primary file (split- and dividend-adjusted back from
        2017-11-10, see PROVENANCE.md); the indexes and the ``wiki_unadjusted`` files are not adjusted."""
        root = data_dir()
        return any(
            path.parent == root and path.stem in PRIMARY_TICKERS
            for path in (resolve(t, self.params.collection)[1] for t in tickers)
        )

    def unknown_tickers(self, tickers: list[str]) -> dict[str, str]:
        """The tickers no embedded file answers to, each with the closest names the dataset has."""
        unknown = {}
        for t in tickers:
            try:
                resolve(t, self.params.collection)
            except DataError:
                unknown[t] = not_in_dataset(t)
        return unknown

    def cache_token(self) -> str:
        """The dataset's manifest hash: a changed embedded file invalidates cached panels."""
        from qlop.api import sha256_file

        return sha256_file(data_dir() / "manifest.csv")
