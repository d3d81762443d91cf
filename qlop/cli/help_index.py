"""The index ``qlop --help`` lists plugin commands from, so that help never imports a plugin.

Which commands exist depends on the plugin selection in effect (``--no-plugins``, ``-p``,
``--plugins-dir``, ``QLOP_DISABLE_PLUGINS``, ``QLOP_LOAD_PLUGINS``, ``QLOP_DISABLE_PLUGIN_AUTOLOAD``)
and on what is installed. So the index holds one list per *selection key*: a hash of those controls,
of the installed ``qlop`` entry points (distribution, version, name, module), of the plugins
directory's files and of QLOP's version. A list is written only by a full discovery under those
exact controls, and ``--help`` shows only the list for its own key: it never lists a command that
would not run under the same options, and after an install or uninstall (a new key) it lists none
until a command has discovered the plugins again.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from qlop.plugins.discovery import Selection, iter_entry_points

INDEX_FILE = "plugin-commands.json"
INDEX_FORMAT = 2
#: Selections remembered at most (the newest kept): a user switches between a handful of them.
MAX_KEYS = 16


def _index_path() -> Path:
    from qlop.paths import cache_dir

    return cache_dir() / INDEX_FILE


def _plugins_dir_state(directory: str | None) -> Any:
    if not directory:
        return None
    path = Path(directory).expanduser()
    try:
        files = sorted(path.glob("*.py"))
        return [str(path.resolve()), [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in files]]
    except OSError:
        return [str(path), None]


def selection_key(selection: Selection) -> str:
    """sha256 of everything that decides which plugin commands exist under ``selection``.

    Reads entry-point metadata and directory listings only: nothing is imported.
    """
    from qlop import __version__

    state = {
        "qlop": __version__,
        "no_plugins": selection.no_plugins,
        "builtins": selection.builtins,
        "autoload": selection.autoload,
        "disabled": sorted(selection.disabled),
        "only": sorted(selection.only) if selection.only is not None else None,
        "modules": list(selection.modules),
        "plugins_dir": _plugins_dir_state(selection.plugins_dir),
        "entry_points": [[e.distribution, e.version, e.name, e.value] for e in iter_entry_points()],
    }
    return hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()


def _read_all() -> dict[str, Any]:
    try:
        with open(_index_path(), encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("format") != INDEX_FORMAT or not isinstance(data.get("keys"), dict):
        return {}  # an older layout (one list for every selection) is never trusted
    return data["keys"]


def read(selection: Selection) -> dict[str, str] | None:
    """Plugin command name -> summary seen by the last full discovery under ``selection``; None when
    there has been none since the selection (or what is installed) last changed."""
    entry = _read_all().get(selection_key(selection))
    if not isinstance(entry, dict):
        return None
    return {str(k): str(v) for k, v in entry.items()}


def write(selection: Selection, commands: dict[str, str]) -> None:
    """Record the commands a full discovery under ``selection`` found (a failure never breaks a command)."""
    key = selection_key(selection)
    keys = _read_all()
    if keys.get(key) == commands:
        return
    keys.pop(key, None)
    keys[key] = dict(sorted(commands.items()))
    while len(keys) > MAX_KEYS:
        keys.pop(next(iter(keys)))
    try:
        from qlop.atomic import write_json

        write_json(_index_path(), {"format": INDEX_FORMAT, "keys": keys})
    except OSError:
        pass


def may_add_commands(selection: Selection) -> bool:
    """Whether any plugin outside QLOP may load under ``selection``: an unblocked entry point, a ``-p``
    module or a plugins directory. Only then is "not indexed yet" worth saying in ``--help`` (the
    bundled plugins add no command)."""
    if selection.modules or selection.plugins_dir:
        return True
    return any(
        selection.blocked_reason(e.name, True, e.distribution, entry_point=True) is None for e in iter_entry_points()
    )


def selection_from_options(no_plugins: bool, modules: list[str], plugins_dir: str | None) -> Selection:
    """The selection the CLI's global options and the environment give (as the plugin manager gets it)."""
    return Selection.from_env(no_plugins=no_plugins, modules=modules, plugins_dir=plugins_dir, environ=dict(os.environ))
