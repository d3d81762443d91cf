"""The base of QLOP's bundled feature steps: named float64 arrays computed on ticker blocks.

A bundled step declares the columns it reads (:meth:`PanelStep.input_columns`) and the columns it
writes (:meth:`PanelStep.output_columns`) before it runs, so the pipeline can report a missing input
or a name collision with the config field path, without computing anything. ``transform`` returns
a frame that wraps the computed arrays without copying them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from qlop.api import FINITE_COLUMNS_ATTR, OHLCV_COLUMNS, BaseFeatureStepPlugin, ConfigError, TickerGroups, ticker_groups

if TYPE_CHECKING:
    import pandas as pd


def fmt_param(value: Any) -> str:
    """A parameter as it appears in a column name: ``14``, ``2`` (for 2.0), ``0p02``, ``m1``."""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = repr(value) if isinstance(value, float) else str(value)
    return text.replace("-", "m").replace(".", "p").replace("+", "")


def reads_features_only(columns: list[str]) -> bool:
    """True when none of ``columns`` is a panel (price or volume) column.

    The ``scale_free`` of a step that passes values through unchanged in scale (a lag, a rank across
    tickers): it is scale-free on earlier features, not on raw prices.
    """
    return not any(c in OHLCV_COLUMNS for c in columns)


def col_tag(column: str, default: str) -> str:
    """``""`` for the default input column, else ``"_<column>"``: names say what they were computed on."""
    return "" if column == default else f"_{column}"


class PanelStep(BaseFeatureStepPlugin):
    """A causal step over the flat columns of a (ticker, date)-sorted panel.

    Subclasses implement :meth:`input_columns`, :meth:`output_columns` and :meth:`compute`.
    """

    def input_columns(self) -> list[str]:
        """Columns of ``data`` this step reads."""
        return []

    def output_columns(self) -> list[str]:
        """Columns this step writes, in order (known from the params alone)."""
        raise NotImplementedError

    def compute(self, data: "pd.DataFrame", groups: TickerGroups) -> dict[str, np.ndarray]:
        """The output arrays (float64, one value per row of ``data``)."""
        raise NotImplementedError

    def transform(self, data: "pd.DataFrame") -> "pd.DataFrame":
        import pandas as pd

        return pd.DataFrame(self.transform_arrays(data), index=data.index, copy=False)

    def transform_arrays(self, data: "pd.DataFrame") -> dict[str, np.ndarray]:
        """What :meth:`transform` returns, as ``{name: float64 array}`` (the pipeline's fast path)."""
        missing = [c for c in self.input_columns() if c not in data.columns]
        if missing:
            raise ConfigError(
                f"feature step {self.name!r}: column {missing[0]!r} not found "
                f"(available: {', '.join(map(str, data.columns))})"
            )
        return self.compute(data, ticker_groups(data.index))

    def inputs(self, data: "pd.DataFrame", names: list[str]) -> tuple[list[np.ndarray], bool]:
        """The arrays of columns ``names`` and whether all their values are finite.

        Uses the pipeline's hint (:data:`qlop.api.FINITE_COLUMNS_ATTR`) when present, so a column read
        by several steps is scanned once.
        """
        arrays = [self.column(data, n) for n in names]
        known = data.attrs.get(FINITE_COLUMNS_ATTR, ())
        finite = all(n in known or bool(np.isfinite(np.add.reduce(a))) for n, a in zip(names, arrays))
        return arrays, finite

    @staticmethod
    def column(data: "pd.DataFrame", name: str) -> np.ndarray:
        """Column ``name`` as a contiguous float64 array (a view when it already is one)."""
        return np.ascontiguousarray(data[name].to_numpy(dtype=np.float64))
