"""Where plugins come from, and the selection controls applied before anything is imported.

Order (deterministic): selection controls, hookspecs, bundled ``qlop_contrib`` modules, entry points of
group ``qlop`` sorted by (distribution, name), a local plugins directory only when given explicitly,
then ``-p module`` names.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

ENTRY_POINT_GROUP = "qlop"

#: Bundled plugin modules, registered as ordinary named plugins (their name is the module path).
BUILTIN_PLUGINS: tuple[str, ...] = (
    "qlop_contrib.datasources",
    "qlop_contrib.features",
    "qlop_contrib.labels",
    "qlop_contrib.models",
    "qlop_contrib.strategies",
    "qlop_contrib.exporters",
)


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass
class Selection:
    """Which plugins may load. Built from CLI flags and environment variables.

    - ``no_plugins`` (``--no-plugins``): no third-party plugins at all (entry points, plugins dir);
      bundled ones and explicit ``-p`` modules still load.
    - ``builtins`` (tests only): whether the bundled ``qlop_contrib`` plugins load.
    - ``autoload`` (off with ``QLOP_DISABLE_PLUGIN_AUTOLOAD=1``): entry points are not loaded unless
      named in ``QLOP_LOAD_PLUGINS``.
    - ``disabled`` (``QLOP_DISABLE_PLUGINS=a,b``): these plugin (or distribution) names are blocked
      before import; bundled plugins too (e.g. ``qlop_contrib.models``).
    - ``only`` (``QLOP_LOAD_PLUGINS=a,b``): only these third-party plugins load.
    - ``strict`` (``QLOP_STRICT_PLUGINS=1``): plugin failures raise instead of being isolated.
    """

    no_plugins: bool = False
    autoload: bool = True
    disabled: set[str] = field(default_factory=set)
    only: set[str] | None = None
    strict: bool = False
    modules: list[str] = field(default_factory=list)
    plugins_dir: str | None = None
    builtins: bool = True

    @classmethod
    def from_env(
        cls,
        *,
        no_plugins: bool = False,
        modules: Iterable[str] = (),
        plugins_dir: str | None = None,
        environ: dict[str, str] | None = None,
    ) -> "Selection":
        env = os.environ if environ is None else environ
        only = _split(env.get("QLOP_LOAD_PLUGINS"))
        return cls(
            no_plugins=no_plugins,
            autoload=not _truthy(env.get("QLOP_DISABLE_PLUGIN_AUTOLOAD")),
            disabled=set(_split(env.get("QLOP_DISABLE_PLUGINS"))),
            only=set(only) if only else None,
            strict=_truthy(env.get("QLOP_STRICT_PLUGINS")),
            modules=list(modules),
            plugins_dir=plugins_dir or env.get("QLOP_PLUGINS_DIR") or None,
        )

    def blocked_reason(
        self, name: str, third_party: bool, distribution: str | None = None, entry_point: bool = False
    ) -> str | None:
        """Why plugin ``name`` must not be imported, or None when it may load.

        A plugin is named by its plugin name (entry-point name, module path, file stem) or, for an
        entry point, by its distribution name too. Applied before any import, so a blocked plugin's
        module is never executed.
        """
        names = {name} | ({distribution} if distribution else set())
        if names & self.disabled:
            return "disabled by QLOP_DISABLE_PLUGINS"
        if not third_party:
            return None
        if self.no_plugins:
            return "third-party plugins are off (--no-plugins)"
        listed = self.only is not None and bool(names & self.only)
        if entry_point and not self.autoload and not listed:
            return "entry-point autoload is off (QLOP_DISABLE_PLUGIN_AUTOLOAD)"
        if self.only is not None and not listed:
            return "not listed in QLOP_LOAD_PLUGINS"
        return None


@dataclass(frozen=True)
class EntryPointInfo:
    name: str
    value: str
    distribution: str | None
    version: str | None
    entry_point: metadata.EntryPoint


def iter_entry_points() -> list[EntryPointInfo]:
    """Entry points of group ``qlop``, sorted by distribution then name (never import here)."""
    found = []
    seen: set[tuple[str | None, str]] = set()
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        dist_name = dist.metadata["Name"] if dist is not None else None
        version = dist.version if dist is not None else None
        key = (dist_name, ep.name)
        if key in seen:  # the same distribution visible twice on sys.path
            continue
        seen.add(key)
        found.append(EntryPointInfo(ep.name, ep.value, dist_name, version, ep))
    return sorted(found, key=lambda e: ((e.distribution or "").lower(), e.name))


def iter_plugin_files(directory: str) -> list[Path]:
    """Python files of a local plugins directory, sorted; private files (``_x.py``) are skipped."""
    path = Path(directory).expanduser()
    if not path.is_dir():
        from qlop.errors import PluginError

        raise PluginError(f"plugins directory {str(path)!r} does not exist")
    return sorted(p for p in path.glob("*.py") if not p.name.startswith("_"))
