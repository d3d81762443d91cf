"""The one way QLOP gets a ``dask.distributed`` client: a local cluster or an existing scheduler.

``--workers N`` starts a ``LocalCluster`` of N worker *processes* with one thread each (QLOP's stages
are numpy/numba/xgboost code that holds the GIL or sets its own threads, so processes, not threads, scale
them); N defaults to the machine's cores. ``--scheduler tcp://HOST:PORT`` connects to a cluster started
elsewhere (``dask scheduler`` / ``dask worker``, dask-jobqueue, Kubernetes). QLOP has no process pool or
scheduler of its own.

Workers write run directories that the client then reads, so every worker must see a directory at the
same path: :func:`check_shared_path` probes that with a task on every worker before work starts and
refuses with one line naming the worker that cannot.

Inside one run (``qlop run --workers N``) the stages find the run's cluster through
:func:`active_session`: a :class:`ClusterSession` opened on first use, so a run whose stages all come
from the cache never starts a cluster. Components reach it through :func:`cluster_client`
(``qlop.api.cluster_client``); inside a sweep's task they may not (:func:`refuse_nested_cluster`).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import secrets
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qlop.errors import QlopError

log = logging.getLogger("qlop.scale")

PROBE_PREFIX = ".qlop-probe-"


class ClusterError(QlopError):
    """The cluster cannot be reached or cannot do the work (no workers, a worker cannot see a path)."""


@dataclass(frozen=True)
class ClusterSpec:
    """Where tasks run: ``workers`` local processes, or the cluster behind ``scheduler``."""

    workers: int | None = None
    scheduler: str | None = None

    def __post_init__(self) -> None:
        if self.workers is not None and self.scheduler is not None:
            raise ClusterError(
                "--workers and --scheduler are exclusive: --workers starts a local cluster, "
                "--scheduler uses an existing one"
            )
        if self.workers is not None and self.workers < 1:
            raise ClusterError(f"--workers must be at least 1, got {self.workers}")

    @property
    def local_workers(self) -> int:
        """Worker processes of the local cluster (the cores when not given)."""
        return self.workers if self.workers is not None else max(1, os.cpu_count() or 1)

    def describe(self) -> str:
        return f"scheduler {self.scheduler}" if self.scheduler else f"local cluster, {self.local_workers} worker(s)"


@contextlib.contextmanager
def dask_client(spec: ClusterSpec | None = None, *, timeout: float | None = None) -> Iterator[Any]:
    """A ``distributed.Client`` for ``spec``; a local cluster is shut down on exit, a remote one is left up.

    ``timeout`` (seconds to reach an existing scheduler and for its first worker to join) defaults to
    Dask's own ``distributed.comm.timeouts.connect`` (30 s; ``DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT``)."""
    spec = spec or ClusterSpec()
    try:
        import dask
        from dask.utils import parse_timedelta
        from distributed import Client, LocalCluster
    except ImportError as exc:  # a core dependency; only a broken install lands here
        raise ClusterError(f"dask.distributed is not importable: {exc}") from exc
    if timeout is None:
        timeout = float(parse_timedelta(dask.config.get("distributed.comm.timeouts.connect"), "s"))
    if spec.scheduler:
        try:
            client = Client(spec.scheduler, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise ClusterError(f"cannot reach the scheduler at {spec.scheduler}: {exc}") from None
        try:
            try:
                client.wait_for_workers(1, timeout=timeout)
            except TimeoutError:
                raise ClusterError(
                    f"the scheduler at {spec.scheduler} has no workers (none joined within {timeout:g} s)"
                ) from None
            yield client
        finally:
            client.close()
        return
    cluster = LocalCluster(
        n_workers=spec.local_workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",
        silence_logs=logging.ERROR,
    )  # any free port: no clash
    try:
        client = Client(cluster, set_as_default=False)
        try:
            yield client
        finally:
            client.close()
    finally:
        cluster.close()


def _probe(directory: str, name: str, token: str) -> dict[str, str | None]:
    """Runs on a worker: can it read the client's probe file and create files next to it?"""
    path = Path(directory)
    host = socket.gethostname()
    try:
        seen = (path / name).read_text(encoding="utf-8")
    except OSError as exc:
        return {"host": host, "error": f"cannot read {path / name}: {exc.strerror or exc}"}
    if seen != token:
        return {"host": host, "error": f"{path} is a different directory there (probe token differs)"}
    try:
        fd = os.open(path / f"{name}.{os.getpid()}", os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)
        os.close(fd)
        os.unlink(path / f"{name}.{os.getpid()}")
    except OSError as exc:
        return {"host": host, "error": f"cannot write in {path}: {exc.strerror or exc}"}
    return {"host": host, "error": None}


def check_shared_path(client: Any, directory: str | Path) -> int:
    """Make sure every worker sees ``directory`` at the same absolute path; return how many were probed.

    The client writes a random token into a probe file; a task on each worker reads it back and creates a
    file beside it. A worker on a machine without the shared filesystem (or with a different directory at
    that path) fails the probe and the whole command refuses, naming it, before any work is scheduled.
    """
    directory = Path(directory).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(16)
    name = f"{PROBE_PREFIX}{token[:12]}"
    probe_file = directory / name
    probe_file.write_text(token, encoding="utf-8")
    try:
        answers: dict[str, dict[str, str | None]] = client.run(_probe, str(directory), name, token)
    finally:
        with contextlib.suppress(OSError):
            probe_file.unlink()
    if not answers:
        raise ClusterError("the cluster has no workers")
    for address, answer in sorted(answers.items()):
        if answer.get("error"):
            raise ClusterError(
                f"worker {address} (host {answer.get('host')}) cannot use {directory}: "
                f"{answer['error']}; every worker must see it at the same path (shared storage)"
            )
    return len(answers)


class ClusterSession:
    """One run's cluster, started (or connected to) on first use and shut down with the run."""

    def __init__(self, spec: ClusterSpec | None = None) -> None:
        self.spec = spec or ClusterSpec()
        self._stack = contextlib.ExitStack()
        self._client: Any = None

    @property
    def started(self) -> bool:
        return self._client is not None

    @property
    def client(self) -> Any:
        """The ``distributed.Client`` (the cluster starts here the first time it is asked for)."""
        if self._client is None:
            log.info("starting Dask: %s", self.spec.describe())
            self._client = self._stack.enter_context(dask_client(self.spec))
        return self._client

    def n_workers(self) -> int:
        """Workers connected now (the client is started if it was not)."""
        return len(self.client.scheduler_info(n_workers=-1).get("workers") or {})

    def close(self) -> None:
        self._client = None
        self._stack.close()


_session: contextvars.ContextVar[ClusterSession | None] = contextvars.ContextVar("qlop_cluster", default=None)


@contextlib.contextmanager
def cluster_session(spec: ClusterSpec | None = None) -> Iterator[ClusterSession]:
    """Make a (lazily started) cluster the current run's for the duration of the block."""
    session = ClusterSession(spec)
    token = _session.set(session)
    try:
        yield session
    finally:
        _session.reset(token)
        session.close()


def active_session() -> ClusterSession | None:
    """The current run's cluster session (``--workers`` / ``--scheduler`` or one a stage opened), or None."""
    return _session.get()


def on_worker() -> bool:
    """True inside a task on a Dask worker (a sweep's stage task)."""
    try:
        from distributed import get_worker

        get_worker()
    except (ImportError, ValueError):
        return False
    return True


@contextlib.contextmanager
def cluster_client() -> Iterator[Any]:
    """The Dask client a component may spread its own work over (``xgboost.dask`` training).

    The current run's cluster, started now if it was not. Raises :class:`ClusterError` when the run
    has none (the train stage opens one for a model that ``uses_cluster``).
    """
    session = active_session()
    if session is None:
        raise ClusterError("no Dask cluster for this run: run with --workers N or --scheduler ADDRESS")
    yield session.client


def refuse_nested_cluster(what: str) -> None:
    """Inside a task on a worker (a sweep's stage) a component must not spread work over the cluster.

    Why: the sweep keeps every single-thread worker busy with its own tasks; a training that needs a
    task on every worker at once (``xgboost.dask``'s collective rounds) would wait for workers that
    wait for it.
    """
    if on_worker():
        raise ClusterError(
            f"{what}: cannot train across the cluster from inside a sweep's task (the sweep "
            "already spreads its variants over the workers); use it with qlop run --workers N "
            "or --scheduler ADDRESS"
        )
