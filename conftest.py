"""Repo-level pytest configuration for QLOP's own suite.

Every test gets a private cache folder and a fresh process-wide plugin manager, so no test depends on
another's plugins or cached data.
"""

from __future__ import annotations

import os

import pytest

# OpenMP threads (XGBoost, scikit-learn) spin while idle by default; on the shared 2-core machine that
# made XGBoost fits 10-20x slower. OpenMP reads this once when first loaded, so set it before any test
# module imports scikit-learn or XGBoost (see docs/models.md).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@pytest.fixture(autouse=True)
def _isolated_qlop_state(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    from qlop.plugins import manager

    monkeypatch.setenv("QLOP_CACHE_DIR", str(tmp_path_factory.mktemp("qlop-cache")))
    for var in ("QLOP_DISABLE_PLUGINS", "QLOP_LOAD_PLUGINS", "QLOP_DISABLE_PLUGIN_AUTOLOAD", "QLOP_STRICT_PLUGINS",
                "QLOP_PLUGINS_DIR", "QLOP_WS_TOKEN", "QLOP_WS_URL"):
        monkeypatch.delenv(var, raising=False)
    manager.reset()
    yield
    manager.reset()


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--disable-dev-shm-usage", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    """Headless Debian chromium driven by playwright (for tests marked ``browser``).

    Module-scoped on purpose: playwright's sync API keeps an event loop running in the main thread
    while it is open, which would break ``asyncio.run`` in every test collected after it.

    Skips with a reason when chromium is absent, except under ``QLOP_STRICT_BROWSER=1`` (CI), where a
    missing browser is a failure: the browser tests must run there.
    """
    import os

    if not os.path.exists(CHROMIUM):
        reason = f"{CHROMIUM} is not installed (apt-get install chromium); browser tests need it"
        if os.environ.get("QLOP_STRICT_BROWSER") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield instance
        finally:
            instance.close()
