"""The shared cluster module: a local cluster or an existing scheduler, and the shared-path probe."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from qlop.scale import cluster
from qlop.scale.cluster import ClusterError, ClusterSpec, check_shared_path, dask_client


def test_workers_and_scheduler_are_exclusive_and_workers_positive() -> None:
    with pytest.raises(ClusterError, match="exclusive"):
        ClusterSpec(workers=2, scheduler="tcp://127.0.0.1:8786")
    with pytest.raises(ClusterError, match="at least 1, got 0"):
        ClusterSpec(workers=0)
    assert ClusterSpec().local_workers == (os.cpu_count() or 1)


class _FakeClient:
    """Runs the probe in-process as two workers; ``elsewhere`` sees a different directory at the path
    (as a machine without the shared mount would)."""

    def __init__(self, elsewhere: Path) -> None:
        self.elsewhere = elsewhere

    def run(self, func, directory, name, token):
        good = func(directory, name, token)
        self.elsewhere.mkdir(parents=True, exist_ok=True)
        bad = func(str(self.elsewhere), name, token)
        return {"tcp://10.0.0.1:4001": good, "tcp://10.0.0.2:4002": bad}


def test_probe_refuses_naming_the_worker_that_cannot_see_the_directory(tmp_path: Path) -> None:
    shared = tmp_path / "sweep"
    with pytest.raises(ClusterError) as info:
        check_shared_path(_FakeClient(tmp_path / "other-machine"), shared)
    message = str(info.value)
    assert "\n" not in message
    assert "tcp://10.0.0.2:4002" in message and "10.0.0.1" not in message
    assert str(shared.resolve()) in message
    assert not [p for p in shared.iterdir() if p.name.startswith(cluster.PROBE_PREFIX)]  # probe file removed


def test_probe_reports_a_directory_with_other_content_at_the_same_path(tmp_path: Path) -> None:
    shared = tmp_path / "sweep"
    shared.mkdir()

    class SameNameOtherContent:
        def run(self, func, directory, name, token):
            other = tmp_path / "other"
            other.mkdir()
            (other / name).write_text("another token", encoding="utf-8")
            return {"tcp://w:1": func(str(other), name, token)}

    with pytest.raises(ClusterError, match=r"tcp://w:1 .*different directory"):
        check_shared_path(SameNameOtherContent(), shared)


@pytest.mark.slow
def test_local_cluster_has_single_thread_worker_processes_that_see_the_directory(tmp_path: Path) -> None:
    with dask_client(ClusterSpec(workers=2)) as client:
        info = client.scheduler_info()["workers"]
        assert len(info) == 2
        assert all(w["nthreads"] == 1 for w in info.values())
        pids = client.run(os.getpid)
        assert os.getpid() not in pids.values() and len(set(pids.values())) == 2
        assert check_shared_path(client, tmp_path / "sweep") == 2


@pytest.mark.slow
def test_existing_scheduler_is_used_and_left_running(tmp_path: Path, dask_processes) -> None:
    with dask_client(ClusterSpec(scheduler=dask_processes.address)) as client:
        assert check_shared_path(client, tmp_path / "sweep") >= 1
        assert client.submit(sum, [1, 2, 3]).result() == 6
    assert dask_processes.scheduler.poll() is None


def test_unreachable_scheduler_is_one_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ClusterError, match=f"cannot reach the scheduler at tcp://127.0.0.1:{port}"):
        with dask_client(ClusterSpec(scheduler=f"tcp://127.0.0.1:{port}"), timeout=2):
            pass


def test_a_sweep_whose_scheduler_is_unreachable_says_so_and_records_it(tmp_path: Path) -> None:
    import json
    import socket

    from click.testing import CliRunner
    from scale_helpers import write_base, write_sweep

    from qlop.cli.main import cli

    write_base(tmp_path / "base.toml", tmp_path / "runs")
    path = write_sweep(tmp_path / "s.toml", "base.toml", [("backtest.strategy_params.entry", "[0.55]")])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    import dask

    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        result = CliRunner().invoke(
            cli,
            ["sweep", "-c", str(path), "--scheduler", f"tcp://127.0.0.1:{port}", "--sweep-dir", str(tmp_path / "out")],
        )
    assert result.exit_code == 2
    assert result.output.splitlines()[-1].startswith(f"Error: cannot reach the scheduler at tcp://127.0.0.1:{port}")
    sweep = json.loads((tmp_path / "out" / "sweep.json").read_text())
    assert sweep["status"] == "failed" and sweep["error"].startswith("cannot reach the scheduler")
    assert [v["status"] for v in sweep["variants"]] == ["pending"]
