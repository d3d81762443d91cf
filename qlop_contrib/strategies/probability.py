"""``probability_threshold``: trade the predicted probability of a leverage opportunity."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from qlop.api import BaseStrategyPlugin
from qlop_contrib.strategies._common import latched, prediction_column, signal_frame
from qlop_contrib.strategies.params import ProbabilityThresholdParams


class ProbabilityThreshold(BaseStrategyPlugin):
    """Long when ``prob >= entry``, short when ``prob <= short_entry``.

    Two ways out, chosen by the params:

    - barriers ('label' or 'custom') and no ``exit``: every row whose probability clears a threshold
      asks for a trade while the ticker is flat, and the trade leaves only by its take-profit,
      stop-loss, horizon or liquidation. With the label's barriers each trade is exactly the one the
      label scored, so the backtest measures what the model was trained to find.
    - ``exit`` / ``short_exit`` (or barriers 'none'): the signal is a latched state, long from
      ``prob >= entry`` until ``prob < exit``; the engine closes the position at the next open when the
      state drops (barriers, if on, still apply).

    Rows without a prediction give no signal (flat).
    """

    params_model = ProbabilityThresholdParams
    needs_predictions = True

    @property
    def _signal_exits(self) -> bool:
        p = self.params
        return p.barriers == "none" or p.exit is not None or p.short_exit is not None

    def generate_signals(self, data: pd.DataFrame, model_predictions: pd.DataFrame | None) -> pd.DataFrame:
        p: ProbabilityThresholdParams = self.params
        prob = prediction_column(data, model_predictions, self.name).to_numpy()
        known = np.isfinite(prob)
        with np.errstate(invalid="ignore"):
            long_in = known & (prob >= p.entry)
            short_in = known & (prob <= p.short_entry) if p.short_entry is not None else np.zeros_like(known)
        if self._signal_exits:
            codes = pd.factorize(data.index.get_level_values(0))[0]
            long_out = p.exit if p.exit is not None else p.entry
            with np.errstate(invalid="ignore"):
                long_state = latched(long_in, ~known | (prob < long_out), codes)
                if p.short_entry is not None:
                    short_out = p.short_exit if p.short_exit is not None else p.short_entry
                    short_state = latched(short_in, ~known | (prob > short_out), codes)
                else:
                    short_state = np.zeros_like(long_state)
            signal = long_state.astype(np.int8) - short_state.astype(np.int8)
        else:
            signal = long_in.astype(np.int8) - short_in.astype(np.int8)
        safe = np.where(known, prob, 0.5)
        score = np.where(signal < 0, 1.0 - safe, safe)
        weight = None
        if p.sizing == "probability":
            edge = np.where(signal < 0, 0.5 - safe, safe - 0.5) / 0.5
            weight = np.clip(edge, 0.0, 1.0)
        return signal_frame(data.index, signal, weight, score)

    def probability_thresholds(self) -> dict[str, float]:
        """The levels set in the params: ``entry`` always; ``exit``, ``short_entry``, ``short_exit`` if set."""
        p: ProbabilityThresholdParams = self.params
        levels = {"entry": p.entry, "exit": p.exit, "short_entry": p.short_entry, "short_exit": p.short_exit}
        return {name: float(v) for name, v in levels.items() if v is not None}

    def barriers(self) -> dict[str, Any] | None:
        """The exits the engine applies: the label's (``from_label``) with explicit overrides, or None."""
        p: ProbabilityThresholdParams = self.params
        if p.barriers == "none":
            return None
        return {
            "from_label": p.barriers == "label",
            "take_profit": p.take_profit,
            "stop_loss": p.stop_loss,
            "horizon": p.horizon,
            "exit_on_signal": self._signal_exits,
        }
