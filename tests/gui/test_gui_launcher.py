"""The launcher: the command line of a streamed run, its environment, and clean cancellation."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from qlop.gui.launcher import Task, TaskRegistry, new_run_dir, run_command

SCRIPT = """
import signal, sys, time
mode = sys.argv[1]
if mode == "ignore-int":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    print("ready", flush=True)
    while True: time.sleep(0.05)
try:
    print("ready", flush=True)
    while True: time.sleep(0.05)
except KeyboardInterrupt:
    sys.exit(130)
"""


def start(tmp_path: Path, mode: str) -> Task:
    script = tmp_path / "child.py"
    script.write_text(SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script), mode], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return Task("t", tmp_path / "run", tmp_path / "c.json", proc, tmp_path / "c.log")


def test_run_command_streams_to_the_relay_without_the_token(tmp_path: Path):
    argv = run_command(tmp_path / "c.json", tmp_path / "run", "abc", "ws://127.0.0.1:9", ("-p", "mod"))
    assert argv[3:] == [
        "-p",
        "mod",
        "--stream-to-ws",
        "abc",
        "--ws-url",
        "ws://127.0.0.1:9",
        "run",
        "-c",
        str(tmp_path / "c.json"),
        "--run-dir",
        str(tmp_path / "run"),
    ]
    assert new_run_dir(tmp_path, "0123456789abcdef").name.endswith("-01234567")


def test_cancel_interrupts_with_sigint_first(tmp_path: Path):
    task = start(tmp_path, "normal")
    assert task.cancel(grace=10) == 130  # the CLI's exit code after KeyboardInterrupt
    assert task.cancel_requested and not task.running


def test_cancel_escalates_to_sigterm_when_sigint_is_ignored(tmp_path: Path):
    task = start(tmp_path, "ignore-int")
    assert task.cancel(grace=0.5, term_grace=5) == -signal.SIGTERM


def test_launch_passes_the_token_in_the_environment_only(tmp_path: Path, monkeypatch):
    """The child gets QLOP_WS_TOKEN from the registry, not the GUI's own env, and never in argv."""
    monkeypatch.setenv("QLOP_WS_TOKEN", "stale")
    registry = TaskRegistry()
    config = tmp_path / "c.json"
    config.write_text("{}")
    from qlop.gui import launcher

    probe = "import json, os, sys; print(json.dumps({'argv': sys.argv[1:], 'token': os.environ.get('QLOP_WS_TOKEN')}))"
    monkeypatch.setattr(launcher, "run_command", lambda *a: [sys.executable, "-c", probe, *a[2:4]])
    assert launcher.QLOP_ARGV[:2] == (sys.executable, "-c")
    env = dict(os.environ)
    task = registry.launch(config, tmp_path / "run", "ws://127.0.0.1:9", "s3cret", task_id="tid", env=env)
    assert task.process.wait(timeout=30) == 0
    import json

    out = json.loads(task.log_path.read_text())
    assert out == {"argv": ["tid", "ws://127.0.0.1:9"], "token": "s3cret"}
    assert registry.get("tid") is task and registry.tasks() == [task]
