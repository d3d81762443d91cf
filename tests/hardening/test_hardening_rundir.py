"""Run-directory safety: never ``/`` or the home directory, never a foreign non-empty directory unless
``--force``, and one writer at a time (a lock with the holder's PID and host; stale locks taken over)."""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from hardening_helpers import DATA_ONLY, QLOP_MAIN, assert_complete_or_none, one_error_line, qlop_env

from qlop.layout import RunLayout
from qlop.rundir import Holder, RunDirBusy, RunDirError, RunLock, check_run_dir

SLEEPY_PLUGIN = """
import os, time
import pandas as pd
from qlop.api import BaseFeatureStepPlugin, ComponentSpec, NoParams, hookimpl

class Sleepy(BaseFeatureStepPlugin):
    params_model = NoParams
    def transform(self, data):
        time.sleep(float(os.environ.get("QLOP_TEST_SLEEP", "0")))
        return pd.DataFrame({"sleepy_one": 1.0}, index=data.index)

@hookimpl
def qlop_register_feature_step():
    return ComponentSpec(name="sleepy", factory=Sleepy, params_model=NoParams, summary="test: sleeps")
"""


# -- where a run may write -------------------------------------------------------------------


def test_root_home_and_their_parents_are_refused(tmp_path, monkeypatch):
    home = tmp_path / "home" / "me"
    home.mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    for path, what in (
        ("/", "the file system root"),
        (home, "the home directory"),
        (home.parent, "a parent of the home directory"),
        (home / ".", "the home directory"),
    ):
        with pytest.raises(RunDirError, match=f"--run-dir: {str(path)}.* is {what}; a run writes"):
            check_run_dir(path, allow_foreign=True)
    assert check_run_dir(home / "runs" / "r1") == home / "runs" / "r1"


def test_foreign_non_empty_directory_needs_force(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    for name in ("notes.txt", "src", "data.csv", "setup.py"):
        (project / name).write_text("x")
    with pytest.raises(
        RunDirError,
        match=r"is not empty and is not a QLOP run \(it holds data.csv, notes.txt, "
        r"setup.py and 1 more\); use an empty or new directory, or --force",
    ):
        check_run_dir(project)
    assert check_run_dir(project, allow_foreign=True) == project
    # a run directory, or one holding only QLOP artefacts (stage commands, a run killed early), is fine
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "data.parquet").write_text("x")
    (tmp_path / "run" / ".config.json.abc.tmp").write_text("x")
    assert check_run_dir(tmp_path / "run") == tmp_path / "run"
    (tmp_path / "run" / "mine.txt").write_text("x")
    (tmp_path / "run" / "manifest.json").write_text("{}")
    assert check_run_dir(tmp_path / "run") == tmp_path / "run"


def test_cli_refuses_root_home_and_foreign_dirs_in_one_line(run_qlop, tmp_path):
    config = tmp_path / "c.toml"
    config.write_text(DATA_ONLY)
    home = tmp_path / "home"
    (home / "stuff").mkdir(parents=True)
    assert "is the file system root" in one_error_line(run_qlop("run", "-c", config, "--run-dir", "/"))
    line = one_error_line(run_qlop("run", "-c", config, "--run-dir", home, HOME=str(home)))
    assert line == (
        f"Error: --run-dir: {home} is the home directory; a run writes and deletes files by name in "
        "its directory: give it a directory of its own (e.g. runs/my-run)"
    )
    assert "is the file system root" in one_error_line(run_qlop("data", "load", "-c", config, "--run-dir", "/"))
    line = one_error_line(run_qlop("run", "-c", config, "--run-dir", home, HOME="/nonexistent"))
    assert "is not empty and is not a QLOP run (it holds stuff)" in line
    assert sorted(p.name for p in home.iterdir()) == ["stuff"]
    forced = run_qlop("run", "-c", config, "--run-dir", home, "--force", HOME="/nonexistent")
    assert forced.returncode == 0, forced.stderr[-3000:]
    assert (home / "manifest.json").is_file() and (home / "stuff").is_dir()
    again = run_qlop("run", "-c", config, "--run-dir", home, HOME="/nonexistent")  # now it is a QLOP run
    assert again.returncode == 0, again.stderr[-3000:]


# -- the lock ----------------------------------------------------------------------------------

HOLDER = """
import sys, time
from qlop.rundir import RunLock
lock = RunLock(sys.argv[1], "qlop run -c holder.toml").acquire()
print("held", flush=True)
time.sleep(120)
"""


def hold_lock(run_dir: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(run_dir)], stdout=subprocess.PIPE, text=True, env=qlop_env()
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_writer_is_refused_and_a_dead_holder_is_stale(run_qlop, tmp_path):
    config = tmp_path / "c.toml"
    config.write_text(DATA_ONLY)
    run_dir = tmp_path / "run"
    holder = hold_lock(run_dir)
    try:
        held = json.loads((run_dir / RunLayout.LOCK).read_text())
        assert (held["pid"], held["host"], held["command"]) == (
            holder.pid,
            socket.gethostname(),
            "qlop run -c holder.toml",
        )
        line = one_error_line(run_qlop("run", "-c", config, "--run-dir", run_dir))
        assert line.startswith(
            f"Error: {run_dir}: another QLOP run is writing into this directory (pid "
            f"{holder.pid} on {socket.gethostname()} since "
        )
        assert line.endswith("): wait for it to finish or use another run directory")
        assert "another QLOP run" in one_error_line(run_qlop("data", "load", "-c", config, "--run-dir", run_dir))
        assert sorted(p.name for p in run_dir.iterdir()) == [RunLayout.LOCK]  # the refused runs wrote nothing
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert Holder.read(run_dir / RunLayout.LOCK).pid == holder.pid  # left behind by kill -9: stale
    proc = run_qlop("run", "-c", config, "--run-dir", run_dir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"took over a stale run lock (pid {holder.pid}" in proc.stderr
    assert_complete_or_none(run_dir)


@pytest.mark.slow
def test_two_concurrent_runs_into_one_directory(run_qlop, tmp_path):
    """A real `qlop run` mid-stage, and a second one started into the same directory."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "sleepy_step.py").write_text(SLEEPY_PLUGIN)
    config = tmp_path / "c.toml"
    config.write_text(DATA_ONLY + '[features]\nsteps = [{ step_type = "sleepy" }]\n')
    run_dir = tmp_path / "run"
    env = qlop_env(QLOP_CACHE_DIR=str(tmp_path / "cache"), QLOP_TEST_SLEEP="6")
    first = subprocess.Popen(
        [
            sys.executable,
            "-c",
            QLOP_MAIN,
            "--plugins-dir",
            str(plugins),
            "run",
            "-c",
            str(config),
            "--run-dir",
            str(run_dir),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 60
        while not (run_dir / "data.parquet").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        second = run_qlop("--plugins-dir", plugins, "run", "-c", config, "--run-dir", run_dir)
        line = one_error_line(second)
        assert f"another QLOP run is writing into this directory (pid {first.pid} on " in line
        out, err = first.communicate(timeout=120)
        assert first.returncode == 0, err[-3000:]
    finally:
        if first.poll() is None:
            first.kill()
    events = [json.loads(x) for x in (run_dir / "events.jsonl").read_text().splitlines()]
    assert len({e["task_id"] for e in events}) == 1  # the refused run added no events
    assert_complete_or_none(run_dir)


def test_lock_is_reentrant_in_one_thread_and_exclusive_across_threads(tmp_path):
    with RunLock(tmp_path / "r") as outer:
        with RunLock(tmp_path / "r"):
            assert (tmp_path / "r" / RunLayout.LOCK).exists()
        assert (tmp_path / "r" / RunLayout.LOCK).exists() and outer.path.exists()
        errors: list[BaseException] = []

        def other() -> None:
            try:
                RunLock(tmp_path / "r").acquire()
            except RunDirBusy as exc:
                errors.append(exc)

        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
        assert len(errors) == 1 and f"(pid {os.getpid()} on " in str(errors[0])
    assert not (tmp_path / "r" / RunLayout.LOCK).exists()


def test_without_flock_a_dead_pid_is_stale_and_a_live_one_holds(tmp_path, monkeypatch):
    import fcntl

    def no_flock(fd: int, op: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_flock)
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    lock = {"pid": int(dead.stdout), "host": socket.gethostname(), "started_utc": "2026-01-01T00:00:00Z"}
    (run_dir / RunLayout.LOCK).write_text(json.dumps(lock))
    with RunLock(run_dir) as taken:
        assert taken.replaced is not None and taken.replaced.pid == lock["pid"]
    (run_dir / RunLayout.LOCK).write_text(json.dumps({**lock, "pid": os.getppid()}))
    with pytest.raises(RunDirBusy, match=f"pid {os.getppid()} on {socket.gethostname()}"):
        RunLock(run_dir).acquire()
    (run_dir / RunLayout.LOCK).write_text(json.dumps({**lock, "host": "elsewhere"}))
    with pytest.raises(RunDirBusy, match=f"on elsewhere .*if that process is gone, delete {run_dir / RunLayout.LOCK}"):
        RunLock(run_dir).acquire()
