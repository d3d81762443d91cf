"""Constructing and calling plugin components inside a run.

An error raised *inside* a component stops the run (a silently skipped step gives a wrong backtest)
and is reported naming the plugin, its version, the component and the stage.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from qlop.errors import QlopError, StageError, file_error, is_environmental
from qlop.plugins.manager import get_plugin_manager


def create(kind: str, name: str, params: Any, field_path: str, manager: Any = None) -> Any:
    """Build component ``name`` of ``kind`` with its params validated (errors name ``field_path``)."""
    pm = manager or get_plugin_manager()
    return pm.create(kind, name, params, field_path)


@contextlib.contextmanager
def component_errors(stage: str, kind: str, name: str, manager: Any = None) -> Iterator[None]:
    """Wrap a call into a component so a failure names its plugin and version."""
    try:
        yield
    except QlopError:
        raise
    except Exception as exc:
        if is_environmental(exc):  # a file the component reads or writes: the path and the reason
            raise file_error(exc, action="use") from exc
        pm = manager or get_plugin_manager()
        try:
            record = pm.provider(kind, name)
            who = f"plugin {record.name!r} {record.version or ''}".rstrip()
        except Exception:
            who = "unknown plugin"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise StageError(
            f"{stage}: {kind.replace('_', ' ')} {name!r} ({who}) failed: {type(exc).__name__}: {first}"
        ) from exc
