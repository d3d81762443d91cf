from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from relayproc import RelayProcess  # noqa: E402

TOKEN = "test-token-0123456789"


@pytest.fixture
def relay():
    proc = RelayProcess(TOKEN).start()
    yield proc
    proc.stop()
