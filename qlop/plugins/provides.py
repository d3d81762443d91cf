"""What each plugin provided when it last loaded, so an unknown-name error can say why a name is missing.

A disabled plugin is never imported, so nothing it would provide can be known from the plugin itself
this time. Instead, whenever the process-wide plugin manager builds a registry, it records in the
cache folder which names each *active* plugin provided (``plugin-components.json``). When a name is
then unknown and the index says a plugin that is now disabled, failed or incompatible provided it,
the error says so - worded as what that plugin provided when it last loaded, which is all QLOP
knows. Plugins that are not loaded and were never seen provide nothing the index could name; the
error lists them as not searched.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from qlop.plugins.records import ACTIVE, DISABLED, FAILED, PluginRecord

INDEX_FILE = "plugin-components.json"
INDEX_FORMAT = 1
#: Not-loaded plugins named at most in one error (``QLOP_LOAD_PLUGINS=one`` can block dozens).
MAX_LISTED = 3


def _phrase(record: PluginRecord) -> str:
    if record.status == DISABLED:
        return f"is not loaded now: {record.error}"
    if record.status == FAILED:
        return f"failed to load this time: {record.error}"
    return f"is {record.status} now: {record.error}"


class ProvidesIndex:
    """The on-disk index of component names per plugin (one JSON file, rewritten atomically)."""

    def __init__(self, path: Path | None = None) -> None:
        if path is None:
            from qlop.paths import cache_dir

            path = cache_dir() / INDEX_FILE
        self.path = path
        self._plugins: dict[str, Any] | None = None

    def _data(self) -> dict[str, Any]:
        if self._plugins is None:
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                ok = isinstance(data, dict) and data.get("format") == INDEX_FORMAT
                self._plugins = dict(data["plugins"]) if ok and isinstance(data.get("plugins"), dict) else {}
            except (OSError, ValueError):
                self._plugins = {}
        return self._plugins

    def remember(self, kind: str, records: Iterable[PluginRecord]) -> None:
        """Record the ``kind`` names each active plugin provides (an empty list counts: it provides none)."""
        plugins = self._data()
        changed = False
        for record in records:
            if record.status != ACTIVE:
                continue
            old = plugins.get(record.name)
            kept: dict[str, Any] = {}
            if isinstance(old, dict) and old.get("distribution") == record.distribution:
                if isinstance(old.get("provides"), dict):
                    kept = old["provides"]
            provides = {**kept, kind: sorted(record.provides.get(kind, []))}
            new = {"distribution": record.distribution, "version": record.version, "provides": provides}
            if new != old:
                plugins[record.name] = new
                changed = True
        if changed:
            try:
                from qlop.atomic import write_json

                write_json(self.path, {"format": INDEX_FORMAT, "plugins": plugins})
            except OSError:
                pass  # an index that cannot be written only costs a less helpful error message

    def explain(self, kind: str, name: str, records: Iterable[PluginRecord]) -> tuple[str | None, str | None]:
        """Why component ``name`` of ``kind`` may be missing, as ``(cause, note)``.

        ``cause``: the plugins not loaded now that provided ``name`` when they last loaded. Otherwise
        ``note`` names the not-loaded plugins never seen providing ``kind``, which were not searched.
        """
        plugins = self._data()
        unseen: list[PluginRecord] = []
        causes: list[str] = []
        for record in records:
            if record.status == ACTIVE:
                continue
            entry = plugins.get(record.name)
            if not isinstance(entry, dict) or entry.get("distribution") != record.distribution:
                unseen.append(record)
                continue
            known = (entry.get("provides") or {}).get(kind)
            if known is None:
                unseen.append(record)
            elif name in known:
                version = f" {entry['version']}" if entry.get("version") else ""
                causes.append(f"plugin {record.name!r}{version} provided it when last loaded and {_phrase(record)}")
        if causes:
            return "; ".join(causes), None
        if not unseen:
            return None, None
        listed = ", ".join(f"{r.name!r} ({r.error if r.status == DISABLED else r.status})" for r in unseen[:MAX_LISTED])
        more = f" and {len(unseen) - MAX_LISTED} more" if len(unseen) > MAX_LISTED else ""
        return None, f"Not searched, because not loaded: {listed}{more}."
