"""QLOP's user-facing errors.

Every error a user can cause (bad config, bad data, unknown plugin) is a ``QlopError``: the CLI prints
its message on one line and exits with ``exit_code`` (2), with a traceback only under ``-v``. Anything
else is a bug and surfaces with its traceback.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence


class QlopError(Exception):
    """Base class for errors the user can fix; the message is the one line the CLI prints."""

    exit_code: int = 2


class ConfigError(QlopError):
    """A configuration value is missing or invalid; the message starts with the field path.

    ``problems`` holds the message's parts, one ``field.path: message`` each (the message joins them
    with ``"; "``), so a form can show each problem next to the field it concerns.
    """

    def __init__(self, message: str = "", problems: Sequence[str] | None = None) -> None:
        super().__init__(message)
        self.problems: tuple[str, ...] = tuple(problems) if problems else ((message,) if message else ())


class DataError(QlopError):
    """Input market data is unusable; the message names file, ticker, date and column where known."""


class PluginError(QlopError):
    """A plugin could not be found, loaded or used; the message names the plugin."""


class UnknownComponentError(PluginError):
    """No plugin provides the requested component name."""


class ComponentConflictError(PluginError):
    """Two or more plugins provide the same component name."""


class StageError(QlopError):
    """A plugin component failed while a run was going; names the plugin, its version and the stage."""


class ArtifactError(QlopError):
    """A run artefact is missing, stale or fails its integrity check."""


class FileSystemError(QlopError, OSError):
    """A file or directory could not be read or written (permission, space, not a directory, ...);
    the message names the path, what QLOP was doing and why. Also an ``OSError``, so code that
    tolerates a failed read (``except OSError``) keeps doing so."""


#: errno -> what a user reads (and can fix) when a read or write fails.
_REASONS: dict[str, str] = {
    "EACCES": "permission denied (check the permissions, or use another directory)",
    "EPERM": "operation not permitted (check the permissions, or use another directory)",
    "EROFS": "the file system is read-only (use another directory)",
    "ENOSPC": "no space left on the device (free some space, or use another directory)",
    "EDQUOT": "disk quota exceeded (free some space, or use another directory)",
    "EFBIG": "the file is too large for the file system",
    "EISDIR": "it is a directory, not a file",
    "ENOTDIR": "a part of the path is a file, not a directory",
    "ENOENT": "no such file or directory",
    "EEXIST": "it already exists",
    "ENOTEMPTY": "the directory is not empty",
    "ENAMETOOLONG": "the name is too long",
    "ELOOP": "too many levels of symbolic links",
    "EMFILE": "too many open files",
    "EIO": "input/output error on the device",
    "EBUSY": "the file or directory is busy",
    "ETXTBSY": "the file is busy",
    "EXDEV": "it is on another file system",
}
#: errnos that are the state of the machine, never a bug in QLOP: always reported as one line.
ENVIRONMENTAL = frozenset(_REASONS) - {"EEXIST", "ENOTEMPTY", "EXDEV"}


def _errno_name(exc: OSError) -> str | None:
    import errno
    import re

    code = exc.errno
    if code is None:  # pyarrow and some libraries put "[errno 28] ..." in the text only
        found = re.search(r"\[errno (\d+)\]", str(exc), flags=re.IGNORECASE)
        code = int(found.group(1)) if found else None
    return errno.errorcode.get(code) if code is not None else None


def is_environmental(exc: BaseException) -> bool:
    """An OS error caused by the machine's state (permissions, space, paths), not by QLOP's code."""
    return isinstance(exc, OSError) and _errno_name(exc) in ENVIRONMENTAL


def _temporary(path: str) -> bool:
    """A temporary sibling or folder of an atomic write (``.<name>.<random>.tmp``): not worth naming."""
    return any(part.startswith(".") and ".tmp" in part for part in path.replace("\\", "/").split("/"))


def file_error(exc: OSError, path: object = None, action: str = "write") -> FileSystemError:
    """The one translation of an OS error during a read or write into QLOP's one-line user error:
    ``<path>: cannot <action>: <reason>``. ``path`` is what the user knows (the artefact, not the
    temporary sibling an atomic write used); a different path the error names is added after the
    reason (the part of the path that is a file, the file that could not be read)."""
    name = _errno_name(exc)
    reason = _REASONS.get(name or "") or (exc.strerror or str(exc) or type(exc).__name__).strip()
    where = str(path) if path is not None else str(exc.filename or "")
    culprit = str(exc.filename) if exc.filename else ""
    if culprit and where and culprit != where and not _temporary(culprit):
        reason += f" ({culprit})"
    return FileSystemError(f"{where}: cannot {action}: {reason}" if where else f"cannot {action}: {reason}")


@contextlib.contextmanager
def file_errors(path: object, action: str = "write") -> Iterator[None]:
    """``with file_errors(path, "read"):`` turns an OS error raised inside into :func:`file_error`."""
    try:
        yield
    except QlopError:
        raise
    except OSError as exc:
        raise file_error(exc, path, action) from exc
