"""Repo-level pytest configuration for QLOP's own suite.

Every test gets a private cache folder and a fresh process-wide plugin manager, so no test depends on
another's plugins or cached data.
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated_qlop_state(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    from qlop.plugins import manager

    monkeypatch.setenv("QLOP_CACHE_DIR", str(tmp_path_factory.mktemp("qlop-cache")))
    for var in ("QLOP_DISABLE_PLUGINS", "QLOP_LOAD_PLUGINS", "QLOP_DISABLE_PLUGIN_AUTOLOAD",
                "QLOP_PLUGINS_DIR", "QLOP_WS_TOKEN", "QLOP_WS_URL"):
        monkeypatch.delenv(var, raising=False)
    manager.reset()
    yield
    manager.reset()
