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

    With ``weighting`` ``equal``, ``score`` or ``inverse_vol`` the output is a target ``weight`` per
    row instead (a target-weight book, see ``docs/backtest.md``): on each rebalance date every ticker
    gets its weight (0 when not selected) and positions are resized to it; between them NaN holds.
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
        if p.weighting == "signal":
            return signal_frame(data.index, signal, score=score)
        weight = self._weights(data, signal, score, np.isin(dates, rebalances))
        return pd.DataFrame({"weight": weight}, index=data.index)

    def _weights(self, data: pd.DataFrame, signal: np.ndarray, score: np.ndarray, on_reb: np.ndarray) -> np.ndarray:
        """Target weights on rebalance dates (0 for a ticker not selected), NaN (hold) between them.

        The selected tickers' raw weights (1, the side's probability, or 1 / the ticker's realised
        volatility over ``vol_lookback`` returns to that close, annualised over 252 bars) are scaled to
        sum to ``gross`` on each date, signed by side; a ticker without enough history for its
        volatility gets 0 and the others share the gross."""
        p: TopKParams = self.params
        if p.weighting == "equal":
            raw = np.ones(len(data))
        elif p.weighting == "score":
            raw = np.nan_to_num(score, nan=0.0)
        else:
            close = data["close"].astype(np.float64)
            ret = close.groupby(level=0, sort=False).pct_change()
            vol = ret.groupby(level=0, sort=False).rolling(p.vol_lookback).std().droplevel(0).reindex(data.index)
            vol = vol.to_numpy() * np.sqrt(252.0)
            with np.errstate(divide="ignore", invalid="ignore"):
                raw = np.where(np.isfinite(vol) & (vol > 0), 1.0 / vol, 0.0)
        raw = np.where(signal != 0, raw, 0.0)
        dates = data.index.get_level_values(1)
        total = pd.Series(raw).groupby(dates.to_numpy()).transform("sum").to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            w = np.where(total > 0, p.gross * raw / total, 0.0) * signal
        return np.where(on_reb, w, np.nan)
