"""``parquet``: local Parquet files (a folder of ``<TICKER>.parquet`` or one long file).

A file's index is turned back into columns, so a ``Date`` index, a yfinance-style frame saved with
``to_parquet`` or a QLOP ``data.parquet`` (index ``ticker``, ``date``) all load.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from qlop_contrib.datasources._files import FileSource
from qlop_contrib.datasources.params import ParquetParams


class ParquetSource(FileSource):
    """Parquet files read with pyarrow."""

    params_model = ParquetParams
    suffixes = (".parquet", ".pq")

    def read_file(self, path: Path) -> pd.DataFrame:
        df = pd.read_parquet(path, engine="pyarrow")
        if not isinstance(df.index, pd.RangeIndex) or any(n is not None for n in df.index.names):
            df = df.reset_index()
        if isinstance(df.columns, pd.MultiIndex):
            df.columns = [" ".join(str(p) for p in c if str(p)) for c in df.columns]
        return df
