"""Launch ``qlop run`` as a subprocess streaming to the relay, and cancel it cleanly.

The run is an ordinary CLI process: ``qlop --stream-to-ws TASK --ws-url URL run -c CONFIG --run-dir DIR``
with the relay token in its environment (``QLOP_WS_TOKEN``), never on its command line where ``ps``
would show it. It gets its own session so a Ctrl-C in the terminal of ``qlop gui`` does not interrupt it
twice; the GUI cancels it explicitly. Cancelling sends SIGINT (the CLI stops at the next safe point and
leaves no partial artefact), then SIGTERM, then SIGKILL as a last resort.

:class:`TaskRegistry` is process-wide (one per GUI server), so a reloaded page or a second tab finds
the task again by its id.
"""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from qlop import layout
from qlop.live.protocol import TOKEN_ENV

#: ``qlop`` in a child process with this very interpreter (the console script may not be on PATH).
#: Not ``-m qlop.cli.main``: that executes the CLI module a second time as ``__main__``, so any
#: subcommand looking the global options up by their class (``ctx.find_object(CliState)``) would
#: miss ``--stream-to-ws``, ``-p`` and the rest.
QLOP_ARGV = (sys.executable, "-c", "import sys; from qlop.cli.main import main; sys.argv[0] = 'qlop'; main()")


def new_task_id() -> str:
    return uuid.uuid4().hex


def new_run_dir(runs_dir: Path, task_id: str) -> Path:
    """The run directory of a task: its run id is tagged with the task id (see :mod:`qlop.layout`)."""
    return layout.new_run_dir(runs_dir, task_id)


def find_run_dir(runs_dir: Path, task_id: str) -> Path | None:
    """The run directory a task launched by a GUI wrote to, found again by its task id.

    Lets a page re-attach to a task after the GUI server restarted and the relay forgot it.
    """
    return layout.find_tagged_run(runs_dir, task_id)


def run_command(
    config_path: Path, run_dir: Path, task_id: str, ws_url: str, global_args: tuple[str, ...] = ()
) -> list[str]:
    """The argv of a streamed run (the token travels in the environment, not here).

    ``global_args`` are the plugin-selection options ``qlop gui`` was started with (``-p``,
    ``--no-plugins``, ``--plugins-dir``), so the run sees the same plugins as the page.
    """
    return [
        *QLOP_ARGV,
        *global_args,
        "--stream-to-ws",
        task_id,
        "--ws-url",
        ws_url,
        "run",
        "-c",
        str(config_path),
        "--run-dir",
        str(run_dir),
    ]


def sweep_command(
    sweep_path: Path,
    sweep_dir: Path,
    task_id: str,
    ws_url: str,
    workers: int | None = None,
    global_args: tuple[str, ...] = (),
) -> list[str]:
    """The argv of a streamed sweep (``qlop sweep``; ``workers`` local worker processes, default the cores)."""
    return [
        *QLOP_ARGV,
        *global_args,
        "--stream-to-ws",
        task_id,
        "--ws-url",
        ws_url,
        "sweep",
        "-c",
        str(sweep_path),
        "--sweep-dir",
        str(sweep_dir),
        *(["--workers", str(workers)] if workers else []),
    ]


@dataclass
class Task:
    """One launched run (``kind`` ``run``) or sweep (``sweep``: ``run_dir`` is the sweep directory)."""

    task_id: str
    run_dir: Path
    config_path: Path
    process: subprocess.Popen
    log_path: Path
    started: float = field(default_factory=time.time)
    kind: str = "run"
    cancel_requested: bool = False
    ended_at: float | None = None

    @property
    def returncode(self) -> int | None:
        return self.process.poll()

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def cancel(self, grace: float = 15.0, term_grace: float = 5.0) -> int | None:
        """SIGINT, then SIGTERM, then SIGKILL; returns the exit code (None if it could not be reaped)."""
        self.cancel_requested = True
        for sig, wait in ((signal.SIGINT, grace), (signal.SIGTERM, term_grace), (signal.SIGKILL, 5.0)):
            if self.process.poll() is not None:
                break
            try:
                self.process.send_signal(sig)
            except ProcessLookupError:
                break
            try:
                self.process.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue
        return self.process.poll()


class TaskRegistry:
    """The runs launched by this GUI server, keyed by task id (shared by every browser session)."""

    def __init__(self) -> None:
        self._tasks: dict[str, Task] = {}
        self._lock = threading.Lock()
        atexit.register(self.shutdown)

    def launch(
        self,
        config_path: Path,
        run_dir: Path,
        ws_url: str,
        token: str | None,
        task_id: str | None = None,
        env: dict[str, str] | None = None,
        global_args: tuple[str, ...] = (),
        command: list[str] | None = None,
        kind: str = "run",
    ) -> Task:
        """Start ``qlop run`` for ``config_path`` into ``run_dir`` (or ``command``, e.g. a
        :func:`sweep_command`); its console output goes to a log file."""
        task_id = task_id or new_task_id()
        run_dir = Path(run_dir)
        log_path = Path(config_path).with_suffix(".log")
        child_env = dict(os.environ if env is None else env)
        child_env.pop(TOKEN_ENV, None)
        if token:
            child_env[TOKEN_ENV] = token
        child_env["PYTHONUNBUFFERED"] = "1"
        with open(log_path, "wb") as log:
            argv = command if command is not None else run_command(config_path, run_dir, task_id, ws_url, global_args)
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=child_env,
                start_new_session=True,
            )
        task = Task(task_id, run_dir, Path(config_path), process, log_path, kind=kind)
        with self._lock:
            self._tasks[task_id] = task
        return task

    def get(self, task_id: str) -> Task | None:
        with self._lock:
            return self._tasks.get(task_id)

    def tasks(self, kind: str | None = None) -> list[Task]:
        """Launched tasks, newest first (only runs or only sweeps with ``kind``)."""
        with self._lock:
            tasks = [t for t in self._tasks.values() if kind is None or t.kind == kind]
        return sorted(tasks, key=lambda t: t.started, reverse=True)

    def cancel(self, task_id: str) -> int | None:
        task = self.get(task_id)
        return task.cancel() if task else None

    def shutdown(self) -> None:
        """Cancel every run still going (the GUI server is stopping)."""
        for task in self.tasks():
            if task.running:
                task.cancel(grace=10.0, term_grace=3.0)
