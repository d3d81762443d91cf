"""The canonical frames every stage exchanges, and their checks.

OHLCV panel: a DataFrame indexed by (``ticker``, ``date``), sorted and unique, float64 columns
``open high low close adj_close volume``, dates tz-naive at day resolution. Features, labels and
predictions use the same index.
"""

from __future__ import annotations

INDEX_NAMES: tuple[str, str] = ("ticker", "date")
PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close", "adj_close")
OHLCV_COLUMNS: tuple[str, ...] = (*PRICE_COLUMNS, "volume")
