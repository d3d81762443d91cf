"""``top_k``: hold the k tickers the model likes most, re-chosen every n trading days."""

from __future__ import annotations

import numpy as np
import pandas as pd

from qlop.api import BaseStrategyPlugin
from qlop_contrib.strategies._common import prediction_column, signal_frame
from qlop_contrib.strategies.params import TopKParams


class TopK(BaseStrategyPlugin):
    """Cross-sectional ranking of the predicted probability.

    Rebalance dates are every ``rebalance_every``-th date on which any ticker has a prediction. On
    each, the ``k`` highest probabilities (at least ``min_prob``; ties go to the ticker that sorts
    first) are selected long, and optionally the ``short_k`` lowest short; the selection then stands
    until the next rebalance. A ticker selected twice in a row keeps its position (positions are not
    resized). Rows without a prediction are flat. Set ``position_size`` to about ``1 / k`` to invest
    the whole book.
    """

    params_model = TopKParams
    needs_predictions = True

    def generate_signals(self, data: pd.DataFrame, model_predictions: pd.DataFrame | None) -> pd.DataFrame:
        p: TopKParams = self.params
        prob = prediction_column(data, model_predictions, self.name)
        known = prob.notna().to_numpy()
        tickers = data.index.get_level_values(0).to_numpy()
        dates = data.index.get_level_values(1).to_numpy()
        pred_dates = np.unique(dates[known])
        signal = np.zeros(len(data), dtype=np.int8)
        if pred_dates.size == 0:
            return signal_frame(data.index, signal, score=np.full(len(data), np.nan))
        rebalances = pred_dates[:: p.rebalance_every]

        # selection on the rebalance dates
        on_reb = known & np.isin(dates, rebalances)
        frame = pd.DataFrame({"ticker": tickers[on_reb], "date": dates[on_reb], "prob": prob.to_numpy()[on_reb]})
        frame = frame[frame["prob"] >= p.min_prob] if p.min_prob > 0 else frame
        frame = frame.sort_values(["date", "prob", "ticker"], ascending=[True, False, True], kind="mergesort")
        rank_hi = frame.groupby("date", sort=False).cumcount().to_numpy()
        chosen = np.where(rank_hi < p.k, 1, 0).astype(np.int8)
        if p.short_k:
            frame_lo = frame.assign(_pos=np.arange(len(frame))).sort_values(
                ["date", "prob", "ticker"], ascending=[True, True, True], kind="mergesort"
            )
            eligible = chosen[frame_lo["_pos"].to_numpy()] == 0
            rank_lo = frame_lo[eligible].groupby("date", sort=False).cumcount().to_numpy()
            short_pos = frame_lo["_pos"].to_numpy()[eligible][rank_lo < p.short_k]
            chosen[short_pos] = -1
        selected = pd.Series(
            chosen, index=pd.MultiIndex.from_arrays([frame["ticker"].to_numpy(), frame["date"].to_numpy()])
        )

        # every row inherits the selection of the last rebalance at or before its date
        idx = np.searchsorted(rebalances, dates, side="right") - 1
        has_reb = idx >= 0
        last_reb = rebalances[np.maximum(idx, 0)]
        lookup = pd.MultiIndex.from_arrays([tickers, last_reb])
        state = selected.reindex(lookup).to_numpy()
        state = np.where(has_reb & known & ~pd.isna(state), state, 0)
        signal = state.astype(np.int8)
        score = prob.to_numpy()
        score = np.where(signal < 0, 1.0 - score, score)
        return signal_frame(data.index, signal, score=score)
