"""`qlop gui` as a process: one command starts the app and its relay; SIGTERM stops both."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from qlop.cli.gui import free_port, is_up
from qlop.gui.launcher import QLOP_ARGV
from qlop.live.protocol import healthz_url

pytestmark = pytest.mark.slow


def children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out += [int(c) for c in (task / "children").read_text().split()]
    return out


def cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")


def environ(pid: int) -> dict[str, str]:
    items = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace").split("\0")
    return dict(i.split("=", 1) for i in items if "=" in i)


def gone(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    return not status.exists() or "zombie" in status.read_text()


def start_gui(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    full_env = {**{k: v for k, v in os.environ.items() if not k.startswith("QLOP_")}, **(env or {})}
    proc = subprocess.Popen(
        [*QLOP_ARGV, "gui", "--port", str(port), "--runs-dir", str(tmp_path / "runs"), *args],
        env=full_env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    proc.output_lines, proc.output_reader = lines, reader  # type: ignore[attr-defined]
    deadline = time.monotonic() + 90
    # Ready means what the user is told: the command has announced its URL (the app answers by then).
    while not any(line.startswith("QLOP GUI:") for line in list(lines)):
        assert proc.poll() is None, "".join(lines)
        assert time.monotonic() < deadline, "".join(lines)
        time.sleep(0.2)
    assert is_up(f"{base}/_stcore/health")
    return proc, base


def stop_and_check(proc: subprocess.Popen, kids: list[int]) -> str:
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    proc.output_reader.join(timeout=10)  # type: ignore[attr-defined]
    out = "".join(proc.output_lines)  # type: ignore[attr-defined]
    assert proc.returncode == 0, out
    time.sleep(0.3)
    assert all(gone(k) for k in kids), f"still running: {[cmdline(k) for k in kids if not gone(k)]}"
    return out


def test_gui_starts_its_own_relay_on_loopback_and_stops_it(tmp_path: Path):
    proc, base = start_gui(tmp_path)
    kids = children(proc.pid)
    relays = [k for k in kids if "serve" in cmdline(k)]
    apps = [k for k in kids if "streamlit" in cmdline(k)]
    assert len(relays) == 1 and len(apps) == 1
    relay_cmd, app_cmd = cmdline(relays[0]), cmdline(apps[0])
    token = environ(relays[0])["QLOP_WS_TOKEN"]
    assert len(token) >= 32 and token not in " ".join(relay_cmd + app_cmd)  # not on any command line
    assert environ(apps[0])["QLOP_WS_TOKEN"] == token  # the app's server side subscribes with it
    assert relay_cmd[relay_cmd.index("--host") + 1] == "127.0.0.1"
    for flag, value in (
        ("--server.address", "127.0.0.1"),
        ("--server.headless", "true"),
        ("--browser.gatherUsageStats", "false"),
    ):
        assert app_cmd[app_cmd.index(flag) + 1] == value
    ws_url = environ(apps[0])["QLOP_GUI_WS_URL"]
    assert is_up(healthz_url(ws_url))
    out = stop_and_check(proc, kids)
    assert f"QLOP GUI: {base}" in out


def test_gui_uses_a_running_relay_given_with_ws_url(tmp_path: Path):
    port = free_port()
    env = {**os.environ, "QLOP_WS_TOKEN": "shared-token-for-the-test-0123456789"}
    relay = subprocess.Popen(
        [*QLOP_ARGV, "ws", "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 30
        while not is_up(f"http://127.0.0.1:{port}/healthz"):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        proc, _ = start_gui(tmp_path, "--ws-url", f"ws://127.0.0.1:{port}", env={"QLOP_WS_TOKEN": env["QLOP_WS_TOKEN"]})
        kids = children(proc.pid)
        assert [k for k in kids if "serve" in cmdline(k)] == []  # no relay of its own
        app = next(k for k in kids if "streamlit" in cmdline(k))
        assert environ(app)["QLOP_GUI_WS_URL"] == f"ws://127.0.0.1:{port}"
        out = stop_and_check(proc, kids)
        assert f"Using the relay at ws://127.0.0.1:{port}" in out
        assert relay.poll() is None  # a relay the GUI did not start is left running
    finally:
        relay.terminate()
        relay.wait(timeout=10)
