from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from relayproc import TEST_TOKEN, RelayProcess  # noqa: E402


@pytest.fixture
def relay():
    proc = RelayProcess(TEST_TOKEN).start()
    yield proc
    proc.stop()
