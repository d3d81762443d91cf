"""``csv``: local CSV files (a folder of ``<TICKER>.csv`` or one long file with a ticker column)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from qlop.api import DataError
from qlop_contrib.datasources._files import FileSource
from qlop_contrib.datasources._tabular import _key
from qlop_contrib.datasources.params import CsvParams


class CsvSource(FileSource):
    """CSV files; prices are parsed by pandas' C parser, dates by the ``date_format`` param."""

    params_model = CsvParams
    suffixes = (".csv", ".txt")

    def read_file(self, path: Path) -> pd.DataFrame:
        sep = self.params.delimiter
        try:
            header = pd.read_csv(path, sep=sep, nrows=0).columns
        except pd.errors.EmptyDataError:
            raise DataError(f"{path}: empty file") from None
        # Text columns stay text: a ticker like 0700 or a date like 20200102 must not become a number.
        text_keys = {_key(self.params.ticker_column), "ticker", "symbol", "date", "datetime", "timestamp"}
        text_keys |= {_key(k) for k, v in self.params.columns.items() if v in ("ticker", "date")}
        dtypes = {c: "str" for c in header if _key(c) in text_keys}
        return pd.read_csv(path, sep=sep, dtype=dtypes)
