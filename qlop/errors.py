"""QLOP's user-facing errors.

Every error a user can cause (bad config, bad data, unknown plugin) is a ``QlopError``: the CLI prints
its message on one line and exits with ``exit_code`` (2), with a traceback only under ``-v``. Anything
else is a bug and surfaces with its traceback.
"""

from __future__ import annotations


class QlopError(Exception):
    """Base class for errors the user can fix; the message is the one line the CLI prints."""

    exit_code: int = 2


class ConfigError(QlopError):
    """A configuration value is missing or invalid; the message starts with the field path."""


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
