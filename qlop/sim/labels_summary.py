"""Per-ticker summary of a labels frame: how often the label fires and how the trades ended.

``qlop features build`` prints it so a user sees at once whether a label is degenerate (base rate near
0 or 1) or dominated by one exit (e.g. most trades liquidated).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from qlop.sim.engine import REASONS

if TYPE_CHECKING:
    import pandas as pd

#: Exit reasons a label can carry, in display order.
LABEL_REASONS: tuple[str, ...] = ("tp", "sl", "liquidation", "horizon")


def summarize_labels(labels: "pd.DataFrame", total: bool = True) -> "pd.DataFrame":
    """One row per ticker (plus ``ALL`` when ``total``), columns:

    ``n_rows``, ``n_labelled`` (non-NaN ``label``), ``base_rate`` (mean label over labelled rows: the
    positive rate of a classification label, the mean of a regression one), ``mean_net_return`` when
    the frame has ``net_return``, and when it has ``exit_reason`` the share of labelled rows per
    reason (``tp``, ``sl``, ``liquidation``, ``horizon``, then any other reason present).
    """
    import pandas as pd

    if "label" not in labels.columns:
        raise ValueError("summarize_labels: the frame has no 'label' column")
    tickers = labels.index.get_level_values(0) if labels.index.nlevels > 1 else pd.Index(["ALL"] * len(labels))
    label = labels["label"].to_numpy(dtype=np.float64)
    known = ~np.isnan(label)
    work = pd.DataFrame({"ticker": np.asarray(tickers, dtype=object), "known": known,
                         "label": np.where(known, label, np.nan)})
    if "net_return" in labels.columns:
        work["net_return"] = labels["net_return"].to_numpy(dtype=np.float64)
    reasons: list[str] = []
    if "exit_reason" in labels.columns:
        raw = labels["exit_reason"].to_numpy(dtype=object)
        present = {r for r in pd.unique(raw[known]) if isinstance(r, str)}
        reasons = list(LABEL_REASONS)
        reasons += sorted(present - set(reasons), key=lambda r: REASONS.index(r) if r in REASONS else len(REASONS))
        for r in reasons:
            work[r] = known & (raw == r)

    def _agg(frame: "pd.DataFrame") -> "pd.DataFrame":
        g = frame.groupby("ticker", sort=True)
        out = pd.DataFrame({"n_rows": g.size(), "n_labelled": g["known"].sum()})
        out["base_rate"] = g["label"].mean()
        if "net_return" in frame.columns:
            out["mean_net_return"] = g["net_return"].mean()
        for r in reasons:
            out[r] = g[r].sum() / out["n_labelled"].where(out["n_labelled"] > 0)
        return out

    out = _agg(work)
    if total and len(work):
        out = pd.concat([out, _agg(work.assign(ticker="ALL"))])
    out.index.name = "ticker"
    out["n_rows"] = out["n_rows"].astype(np.int64)
    out["n_labelled"] = out["n_labelled"].astype(np.int64)
    return out
