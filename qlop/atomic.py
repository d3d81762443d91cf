"""Atomic artefact writes: a reader sees the old file or the whole new one, never half of one.

Each writer writes to a temporary sibling and renames it into place (``os.replace`` is atomic on one
filesystem). An interrupted run therefore leaves no half-written artefact, and a rerun can resume.
A write that fails for a reason of the machine (permission, read-only or full file system, a path
through a file) removes its temporary file and raises :class:`qlop.errors.FileSystemError` naming the
artefact and the reason (:func:`qlop.errors.file_error`), so the CLI prints one line and exits 2.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from qlop.errors import QlopError, file_error, file_errors


def _mode(base: int) -> int:
    """``base`` less the umask: what a plain open()/mkdir() would give (mkstemp/mkdtemp use 0o600/0o700)."""
    umask = os.umask(0)
    os.umask(umask)
    return base & ~umask


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it is renamed onto ``path``."""
    path = Path(path)
    with file_errors(path, "write"):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{suffix}", dir=path.parent)
        os.close(fd)
    tmp_path = Path(tmp)
    try:
        try:
            yield tmp_path
        except QlopError:
            raise
        except OSError as exc:  # writing the temporary file (a full disk, a library's own error)
            raise file_error(exc, path, "write") from exc
        with file_errors(path, "write"):
            os.chmod(tmp_path, _mode(0o666))
            os.replace(tmp_path, path)
    finally:
        with contextlib.suppress(OSError):
            tmp_path.unlink()


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (readers see the old file or the whole new one); return it."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    return Path(path)


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` as UTF-8 to ``path`` atomically."""
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, data: Any) -> Path:
    """Write ``data`` as indented JSON (non-JSON values as ``str``) to ``path`` atomically."""
    return write_text(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def write_parquet(df: Any, path: str | Path) -> Path:
    """Write a DataFrame to Parquet atomically (pyarrow engine)."""
    with atomic_path(path, suffix=".parquet") as tmp:
        df.to_parquet(tmp, engine="pyarrow")
    return Path(path)


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temporary directory; on success it replaces ``path`` whole (old one removed)."""
    path = Path(path)
    with file_errors(path, "write"):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        try:
            yield tmp
        except QlopError:
            raise
        except OSError as exc:
            raise file_error(exc, path, "write") from exc
        with file_errors(path, "write"):
            os.chmod(tmp, _mode(0o777))
            if path.exists():
                old = path.with_name(f".{path.name}.old")
                shutil.rmtree(old, ignore_errors=True)
                os.replace(path, old)
                os.replace(tmp, path)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes, read in chunks (what manifests and bundles record)."""
    digest = hashlib.sha256()
    with file_errors(path, "read"), open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_json(data: Any) -> str:
    """Stable hash of JSON-able data (keys sorted): the basis of every cache key."""
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()
