"""``qlop ws tail`` with a URL that is not a websocket URL is a usage error (exit 2), not "unreachable"."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("url", ["http://127.0.0.1:8765", "127.0.0.1:8765"])
def test_a_non_websocket_url_is_a_usage_error_naming_the_option(tmp_path, url):
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from qlop.cli.main import main; main()",
            "ws",
            "tail",
            "demo",
            "--wait",
            "0",
            "--ws-url",
            url,
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert f"Invalid value for --ws-url: '{url}': a relay URL starts with ws:// or wss://" in proc.stderr
    assert "Traceback" not in proc.stderr
