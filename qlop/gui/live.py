"""Turn a task's event stream into what the live panel draws (pure; no Streamlit here).

The folding itself is the one progress model of :mod:`qlop.live.progress_model`, shared with the
terminal bars of ``qlop run`` and ``qlop ws tail --format pretty``, so the overall percentage, the ETAs
and the counters on the page are the numbers the events carry. This module keeps the page's names.
"""

from __future__ import annotations

from typing import Any

from qlop.formatting import duration
from qlop.live.progress_model import RunState, StageState, fold_events, log_line

#: The page's names for the shared model.
LiveView = RunState
StageView = StageState

__all__ = ["LiveView", "StageView", "format_eta", "log_line", "summarize"]


def summarize(events: list[dict[str, Any]]) -> LiveView:
    """Fold events (in seq order) into a :class:`LiveView`."""
    return fold_events(events)


def format_eta(seconds: float | None) -> str:
    """``ETA 1m05s`` in the one number style (``ETA -`` while unknown)."""
    return "ETA -" if seconds is None else f"ETA {duration(seconds)}"
