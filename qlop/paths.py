"""Well-known locations: the user cache folder (``QLOP_CACHE_DIR`` overrides it)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """QLOP's cache folder; created on demand by whoever writes into it."""
    env = os.environ.get("QLOP_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("qlop"))
