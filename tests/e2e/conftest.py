"""tests/e2e: helpers live in e2e_helpers.py; the relay process helper is shared with tests/live."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "live"))

from e2e_helpers import write_config  # noqa: E402


@pytest.fixture
def small_config(tmp_path: Path) -> Path:
    return write_config(tmp_path / "small.toml")
