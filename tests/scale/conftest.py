"""A real Dask cluster of separate processes on 127.0.0.1 (``dask scheduler`` + ``dask worker``), for tests
that must see what a user's cluster does: tasks crossing process boundaries, workers dying by PID."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "e2e"))
sys.path.insert(0, str(Path(__file__).parents[1] / "live"))


@dataclass
class DaskProcesses:
    """A scheduler and its worker processes; ``workers`` are the ``dask worker`` processes (no nanny, so
    killing one by PID really loses that worker)."""

    address: str
    scheduler: subprocess.Popen
    workers: list[subprocess.Popen] = field(default_factory=list)


def _dask_cli() -> list[str]:
    exe = shutil.which("dask")
    return [exe] if exe else [sys.executable, "-m", "dask"]


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


def start_dask_processes(tmp: Path, n_workers: int = 2, timeout: float = 90.0) -> DaskProcesses:
    """Start ``dask scheduler`` on a free 127.0.0.1 port and ``n_workers`` single-thread ``dask worker``s."""
    from distributed import Client

    sched_file = tmp / "scheduler.json"
    env = dict(os.environ)
    logs = tmp / "dask-logs"
    logs.mkdir(exist_ok=True)
    scheduler = subprocess.Popen(
        [
            *_dask_cli(),
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--no-dashboard",
            "--scheduler-file",
            str(sched_file),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(logs / "scheduler.log", "wb"),
    )
    procs = DaskProcesses(address="", scheduler=scheduler)
    try:
        deadline = time.monotonic() + timeout
        while not sched_file.exists():
            if scheduler.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"dask scheduler did not start: {(logs / 'scheduler.log').read_text()[-2000:]}")
            time.sleep(0.2)
        import json

        while True:
            try:
                procs.address = json.loads(sched_file.read_text())["address"]
                break
            except (ValueError, KeyError):
                time.sleep(0.2)
        for i in range(n_workers):
            procs.workers.append(
                subprocess.Popen(
                    [
                        *_dask_cli(),
                        "worker",
                        procs.address,
                        "--host",
                        "127.0.0.1",
                        "--nthreads",
                        "1",
                        "--no-nanny",
                        "--no-dashboard",
                        "--name",
                        f"w{i}",
                    ],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=open(logs / f"worker{i}.log", "wb"),
                )
            )
        with Client(procs.address, timeout=timeout, set_as_default=False) as client:
            client.wait_for_workers(n_workers, timeout=max(1.0, deadline - time.monotonic() + 30))
        return procs
    except BaseException:
        stop_dask_processes(procs)
        raise


def stop_dask_processes(procs: DaskProcesses) -> None:
    for worker in procs.workers:
        _stop(worker)
    _stop(procs.scheduler)


@pytest.fixture
def dask_processes(tmp_path: Path) -> Iterator[DaskProcesses]:
    """A scheduler and two worker processes on 127.0.0.1, stopped after the test."""
    procs = start_dask_processes(tmp_path)
    try:
        yield procs
    finally:
        stop_dask_processes(procs)
