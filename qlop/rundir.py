"""Claiming a run directory: refuse places a run must never write into, and hold a lock while writing.

Before a run or a stage command writes into a directory:

- ``/``, the home directory and their ancestors are refused (a run replaces and deletes artefacts by
  name inside its directory; those are never the place for it);
- a non-empty directory that is not a QLOP run (no ``manifest.json``, and holding files that are not
  QLOP artefacts) is refused unless the caller allows it (``qlop run --force``);
- a lock file (``.qlop.lock``: the holder's PID, host, start time and command) is taken with an
  exclusive ``flock`` held for the whole run, so a second ``qlop run`` into the same directory is
  refused in one line naming the holder. A lock left by a process that died (``kill -9``, a power
  cut) is stale: the kernel released its ``flock``, so the next run takes it over, and says so.
  Where ``flock`` is not supported, a lock whose PID no longer runs on this host is stale.

Imports nothing heavy (the CLI and the GUI's launcher use it).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import json
import logging
import os
import socket
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qlop.errors import QlopError, file_errors
from qlop.layout import RunLayout

log = logging.getLogger("qlop.run")


#: Locks this process holds: resolved run dir -> (thread id, lock, depth).
_HELD: dict[Path, tuple[int, "RunLock", int]] = {}
_HELD_GUARD = threading.Lock()


class RunDirError(QlopError):
    """The run directory is not a place a run may write into."""


class RunDirBusy(RunDirError):
    """Another process holds the run directory's lock."""


def _is_temporary(name: str) -> bool:
    return name.startswith(".") and (".tmp" in name or name.endswith(".old"))


def foreign_entries(path: Path) -> list[str]:
    """Entries of ``path`` that are not QLOP run artefacts (empty for a run directory). Before its manifest
    exists a run directory may hold QLOP's own artefacts (a run killed early, or stage commands run one
    by one) and temporary files."""
    if RunLayout(path).is_run():
        return []
    return sorted(
        p.name for p in path.iterdir() if p.name not in RunLayout.top_level_names() and not _is_temporary(p.name)
    )


def check_run_dir(path: str | Path, *, allow_foreign: bool = False, option: str = "--run-dir") -> Path:
    """Refuse ``/``, the home directory (and every ancestor of either), a path through a file, and
    (unless ``allow_foreign``) a non-empty directory that is not a QLOP run. Returns the path."""
    path = Path(path)
    resolved = path.expanduser().resolve()
    home = Path.home().resolve()
    if resolved == Path(resolved.anchor) or resolved == home or resolved in home.parents:
        what = (
            "the file system root"
            if resolved == Path(resolved.anchor)
            else ("the home directory" if resolved == home else "a parent of the home directory")
        )
        raise RunDirError(
            f"{option}: {path} is {what}; a run writes and deletes files by name in its "
            "directory: give it a directory of its own (e.g. runs/my-run)"
        )
    if path.exists() and not path.is_dir():
        raise RunDirError(f"{option}: {path} exists and is not a directory")
    if path.is_dir() and not allow_foreign:
        with file_errors(path, "read the run directory"):
            foreign = foreign_entries(path)
        if foreign:
            shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
            raise RunDirError(
                f"{option}: {path} is not empty and is not a QLOP run (it holds {shown}); "
                "use an empty or new directory, or --force to write into it anyway"
            )
    return path


# -- the lock ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Holder:
    """Who holds (or held) a lock, as written in the lock file."""

    pid: int | None
    host: str | None
    started_utc: str | None
    command: str | None

    @classmethod
    def read(cls, path: Path) -> "Holder":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        if not isinstance(data, dict):
            data = {}
        pid = data.get("pid")
        return cls(
            pid if isinstance(pid, int) and not isinstance(pid, bool) else None,
            _str(data.get("host")),
            _str(data.get("started_utc")),
            _str(data.get("command")),
        )

    def describe(self) -> str:
        parts = [f"pid {self.pid}" if self.pid is not None else "an unknown process"]
        if self.host:
            parts.append(f"on {self.host}")
        if self.started_utc:
            parts.append(f"since {self.started_utc}")
        return " ".join(parts)

    def alive(self) -> bool | None:
        """True/False when it can be told (same host), None otherwise."""
        if self.pid is None or self.host != socket.gethostname():
            return None
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _me(command: str | None) -> dict[str, Any]:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started_utc": _utc_now(),
        "command": command if command is not None else " ".join(["qlop", *sys.argv[1:]]),
    }


def _busy(path: Path, holder: Holder) -> RunDirBusy:
    remote = "" if holder.alive() is not None else (f"; if that process is gone, delete {RunLayout(path).lock}")
    return RunDirBusy(
        f"{path}: another QLOP run is writing into this directory ({holder.describe()}): wait "
        f"for it to finish or use another run directory{remote}"
    )


class RunLock:
    """An exclusive lock on a run directory, held from :meth:`acquire` to :meth:`release`."""

    def __init__(self, run_dir: str | Path, command: str | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.path = RunLayout(self.run_dir).lock
        self.command = command
        self._fd: int | None = None
        self._outer: RunLock | None = None  # the lock this thread already held on the directory
        self.replaced: Holder | None = None  # a stale lock this one took over

    def acquire(self) -> "RunLock":
        """Take the lock (re-entrant within one thread: a stage command and the pipeline it calls)."""
        key = self.run_dir.resolve()
        with _HELD_GUARD:
            held = _HELD.get(key)
            if held is not None and held[0] == threading.get_ident():
                _HELD[key] = (held[0], held[1], held[2] + 1)
                self._outer = held[1]
                return self
        self._acquire()
        with _HELD_GUARD:
            _HELD[key] = (threading.get_ident(), self, 1)
        return self

    def _acquire(self) -> None:
        with file_errors(self.run_dir, "create the run directory"):
            self.run_dir.mkdir(parents=True, exist_ok=True)
        with file_errors(self.path, "take the run lock"):
            for _ in range(20):  # retried only when the file was replaced between open and lock
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    if not self._flock(fd):
                        raise _busy(self.run_dir, Holder.read(self.path))
                    if not self._same_file(fd):
                        os.close(fd)
                        continue
                except BaseException:
                    with contextlib.suppress(OSError):
                        os.close(fd)
                    raise
                self._fd = fd
                self._write(fd)
                return
        raise RunDirBusy(f"{self.run_dir}: the run lock {self.path} keeps changing; is another run starting?")

    def _flock(self, fd: int) -> bool:
        """Take the exclusive lock (False: someone holds it). Without flock support, decide from the
        PID written in the file (same host only)."""
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not on POSIX
            return self._by_pid()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return False
            if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
                return self._by_pid()
            raise

    def _by_pid(self) -> bool:
        holder = Holder.read(self.path)
        if holder.pid is None or holder.pid == os.getpid():
            return True
        return holder.alive() is False

    def _same_file(self, fd: int) -> bool:
        """The locked file is still the one at the lock's path (not unlinked by a finishing holder)."""
        try:
            return os.fstat(fd).st_ino == os.stat(self.path).st_ino
        except FileNotFoundError:
            return False

    def _write(self, fd: int) -> None:
        previous = Holder.read(self.path)
        if previous.pid is not None:  # the holder died without releasing it
            self.replaced = previous
            log.warning("%s: took over a stale run lock (%s)", self.run_dir, previous.describe())
        data = (json.dumps(_me(self.command)) + "\n").encode("utf-8")
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
        os.fsync(fd)

    def release(self) -> None:
        key = self.run_dir.resolve()
        with _HELD_GUARD:
            held = _HELD.get(key)
            if held is not None and held[0] == threading.get_ident():
                if held[2] > 1:
                    _HELD[key] = (held[0], held[1], held[2] - 1)
                    return
                del _HELD[key]
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()
        with contextlib.suppress(OSError):
            os.close(self._fd)
        self._fd = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


@contextlib.contextmanager
def claim_run_dir(
    path: str | Path, *, allow_foreign: bool = False, option: str = "--run-dir", command: str | None = None
) -> Iterator[RunLock]:
    """:func:`check_run_dir`, then hold the directory's :class:`RunLock` for the block."""
    check_run_dir(path, allow_foreign=allow_foreign, option=option)
    with RunLock(path, command) as lock:
        yield lock
