"""Shared logic of the local-file sources: a folder of ``<TICKER>.<ext>`` files or one long file."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from qlop.api import BaseDataSourcePlugin, DataError
from qlop_contrib.datasources._tabular import (
    canonical_columns,
    concat_panels,
    require_rows,
    to_panel,
)

#: Intervals a local file can represent: bars by date, or intraday bars with timestamps.
FILE_INTERVALS = ("1m", "5m", "15m", "30m", "1h", "4h", "1d", "5d", "1wk", "1mo", "3mo")


class FileSource(BaseDataSourcePlugin):
    """Base of ``csv`` and ``parquet``: subclasses only say how to read one file."""

    suffixes: ClassVar[tuple[str, ...]] = ()
    _bars: Any = None  # the intraday bars of the load in progress (None: daily)

    def read_file(self, path: Path) -> pd.DataFrame:  # pragma: no cover - abstract
        raise NotImplementedError

    def _read(self, path: Path) -> pd.DataFrame:
        try:
            return self.read_file(path)
        except DataError:
            raise
        except FileNotFoundError:
            raise DataError(f"{path}: no such file") from None
        except Exception as exc:  # parser errors come in many types; the user needs the first line
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DataError(f"{path}: cannot read: {first}") from None

    def _columns(self, raw: pd.DataFrame, source: str, need_ticker: bool) -> pd.DataFrame:
        p = self.params
        return canonical_columns(raw, source, p.columns, p.ticker_column, need_ticker=need_ticker)

    def files(self, folder: Path) -> dict[str, Path]:
        """Ticker (file stem) -> file, for every matching file in ``folder``."""
        found: dict[str, Path] = {}
        for f in sorted(folder.iterdir()):
            if f.is_file() and f.suffix.lower() in self.suffixes and not f.name.startswith("."):
                found[f.stem] = f
        return found

    def unknown_tickers(self, tickers: list[str]) -> dict[str, str] | None:
        """A folder of files: the tickers without a file (names matched as :meth:`load_data` does).
        One long file: None (telling would mean reading it)."""
        import difflib

        path = Path(self.params.path).expanduser()
        if not path.is_dir():
            return None
        available = self.files(path)
        by_upper = {k.upper(): k for k in available}
        unknown = {}
        for t in tickers:
            if t not in available and t.upper() not in by_upper:
                close = difflib.get_close_matches(t.upper(), list(by_upper), n=3, cutoff=0.6)
                hint = f"; did you mean {', '.join(by_upper[c] for c in close)}?" if close else ""
                unknown[t] = f"no file {t}{self.suffixes[0]} in {path}{hint}"
        return unknown

    def load_data(
        self, tickers: list[str] | None, start_date: Any = None, end_date: Any = None, interval: str = "1d"
    ) -> pd.DataFrame:
        from qlop.api import is_intraday, requested_bars, require_daily

        require_daily(interval, self.name, FILE_INTERVALS)
        self._bars = requested_bars(interval) if is_intraday(interval) else None
        path = Path(self.params.path).expanduser()
        if path.is_dir():
            return self._load_folder(path, list(tickers or []), start_date, end_date)
        if path.is_file():
            return self._load_long(path, list(tickers or []), start_date, end_date)
        raise DataError(f"{path}: no such file or folder (data.data_source_params.path)")

    def _load_folder(self, folder: Path, tickers: list[str], start: Any, end: Any) -> pd.DataFrame:
        from qlop.api import ticker_progress

        available = self.files(folder)
        if not available:
            raise DataError(f"{folder}: no {'/'.join(self.suffixes)} files in this folder")
        by_upper = {k.upper(): k for k in available}
        chosen: list[str] = []
        for t in tickers or list(available):
            stem = t if t in available else by_upper.get(t.upper())
            if stem is None:
                shown = ", ".join(list(available)[:20]) + (" ..." if len(available) > 20 else "")
                raise DataError(f"{folder}: ticker {t}: no file {t}{self.suffixes[0]} (found: {shown})")
            chosen.append(stem)
        parts = []
        with ticker_progress(len(chosen)) as progress:
            for stem in chosen:
                f = available[stem]
                frame = self._columns(self._read(f), str(f), need_ticker=False)
                frame = frame.drop(columns="ticker", errors="ignore")
                parts.append(
                    to_panel(
                        frame,
                        str(f),
                        ticker=stem,
                        date_format=self.params.date_format,
                        start=start,
                        end=end,
                        bars=self._bars,
                        timezone=self.params.timezone,
                    )
                )
                progress.advance(message=stem)
        panel = concat_panels(parts)
        require_rows(panel, chosen, str(folder), start, end)
        return panel

    def _load_long(self, path: Path, tickers: list[str], start: Any, end: Any) -> pd.DataFrame:
        from qlop.api import ticker_progress

        with ticker_progress(len(tickers) or 1) as progress:
            frame = self._columns(self._read(path), str(path), need_ticker=True)
            frame["ticker"] = frame["ticker"].astype(str).str.strip()
            if tickers:
                present = pd.unique(frame["ticker"])
                by_upper = {str(t).upper(): t for t in present}
                chosen = []
                for t in tickers:
                    hit = t if t in set(present) else by_upper.get(t.upper())
                    if hit is None:
                        raise DataError(f"{path}: ticker {t}: not in column {self.params.ticker_column!r}")
                    chosen.append(hit)
                frame = frame.loc[frame["ticker"].isin(chosen)]
            else:
                chosen = list(pd.unique(frame["ticker"]))
            panel = to_panel(
                frame,
                str(path),
                date_format=self.params.date_format,
                start=start,
                end=end,
                bars=self._bars,
                timezone=self.params.timezone,
            )
            progress.advance(progress.total - progress.step if progress.total else 1, message=path.name)
        require_rows(panel, chosen, str(path), start, end)
        return panel

    def cache_token(self) -> str:
        """Size and mtime of every input file: editing a file invalidates the cached panel."""
        path = Path(self.params.path).expanduser()
        files = list(self.files(path).values()) if path.is_dir() else [path]
        stats = []
        for f in files:
            try:
                st = f.stat()
                stats.append(f"{f.resolve()}:{st.st_size}:{st.st_mtime_ns}")
            except OSError:
                stats.append(f"{f}:missing")
        return "|".join(stats)
