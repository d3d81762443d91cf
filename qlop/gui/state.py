"""Long-lived objects of the GUI server, held in ``st.cache_resource``.

- :func:`task_registry`: process-wide, so every browser tab (and a reloaded page) finds a task again.
- :func:`session_subscriber`: one relay subscriber thread per browser session and task; released
  (its thread stopped) when the session ends.
"""

from __future__ import annotations

import streamlit as st

from qlop.gui.launcher import TaskRegistry
from qlop.gui.subscriber import Subscriber


@st.cache_resource(show_spinner=False)
def task_registry() -> TaskRegistry:
    return TaskRegistry()


def _release(subscriber: Subscriber) -> None:
    subscriber.stop()


@st.cache_resource(scope="session", on_release=_release, show_spinner=False, max_entries=8)
def session_subscriber(task_id: str) -> Subscriber:
    """Subscribe to ``task_id`` from its first event (a new tab or a reload replays everything)."""
    from qlop.gui.settings import settings

    cfg = settings()
    return Subscriber(cfg.ws_url, task_id, cfg.token, since=0).start()
