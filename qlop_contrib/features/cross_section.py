"""Cross-sectional features: where a ticker stands among all tickers on the same date.

Only same-date values are compared, so the step is as causal as its input column: on a daily panel
every ticker's bar for date t is known at t's close. The result depends on which tickers the panel
holds (a universe choice, made in the data config).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from qlop.api import TickerGroups, number
from qlop_contrib.features.base import PanelStep, reads_features_only

if TYPE_CHECKING:
    import pandas as pd


def cross_rank(x: np.ndarray, date_codes: np.ndarray, min_count: int = 2) -> np.ndarray:
    """Percentile rank of ``x`` among the rows with the same date code, in [0, 1].

    ``(r - 1) / (m - 1)`` where ``r`` is the 1-based rank (ties get their average rank) and ``m`` the
    number of non-NaN values that date; NaN for NaN inputs and for dates with fewer than
    ``min_count`` values. Vectorised: one sort by (date, value), then run boundaries.
    """
    out = np.full(len(x), np.nan)
    rows = np.flatnonzero(~np.isnan(x))
    if not len(rows):
        return out
    d = date_codes[rows]
    v = x[rows]
    # By value (any order among equal values: ties share their average rank), then stably by date:
    # two sorts, the second a radix sort of small integers, beat one lexsort by about 2x.
    order = np.argsort(v)
    order = order[np.argsort(d[order], kind="stable")]
    sd, sv = d[order], v[order]
    m = len(order)
    at = np.arange(m, dtype=np.int64)
    new_date = np.empty(m, dtype=bool)
    new_date[0] = True
    np.not_equal(sd[1:], sd[:-1], out=new_date[1:])
    date_first = np.flatnonzero(new_date)
    date_size = np.diff(np.append(date_first, m))
    date_id = np.cumsum(new_date) - 1
    ordinal = at - date_first[date_id]
    new_run = new_date.copy()
    new_run[1:] |= sv[1:] != sv[:-1]
    run_first = np.flatnonzero(new_run)
    run_last = np.append(run_first[1:], m) - 1
    run_id = np.cumsum(new_run) - 1
    avg = (ordinal[run_first] + ordinal[run_last]) / 2.0
    size = date_size[date_id].astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = avg[run_id] / (size - 1.0)
    pct[size < max(min_count, 2)] = np.nan
    out[rows[order]] = pct
    return out


class XrankParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    columns: list[str] = Field(..., min_length=1, description="Columns to rank across tickers per date")
    min_count: int = number(
        2, ge=2, le=100_000, unit="tickers", description="Fewest non-missing tickers on a date to rank it"
    )

    @field_validator("columns")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("values must be unique")
        return v


class XrankStep(PanelStep):
    """``xrank_<column>``: percentile rank across tickers on the same date (0 lowest, 1 highest)."""

    params_model: ClassVar[type[BaseModel]] = XrankParams

    @property
    def scale_free(self) -> bool:  # type: ignore[override]
        """A rank of earlier features is as scale-free as they are; a rank of raw prices is not (each
        ticker's back-adjustment factor is its own)."""
        return reads_features_only(list(self.params.columns))

    def input_columns(self) -> list[str]:
        return list(self.params.columns)

    def output_columns(self) -> list[str]:
        return [f"xrank_{c}" for c in self.params.columns]

    def compute(self, data: "pd.DataFrame", groups: TickerGroups) -> dict[str, np.ndarray]:
        codes = groups.date_codes
        out = [cross_rank(self.column(data, c), codes, self.params.min_count) for c in self.params.columns]
        return dict(zip(self.output_columns(), out))
