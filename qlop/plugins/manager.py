"""The plugin manager: discovers plugins with per-plugin isolation and builds the registries.

Isolation: a plugin that fails to import, implements an unknown ``qlop_*`` hook, has a bad hookimpl
signature or returns invalid specs is marked ``failed`` or ``incompatible`` with a one-line reason and
everything else keeps working. ``QLOP_STRICT_PLUGINS=1`` re-raises instead.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pluggy

from qlop.errors import PluginError
from qlop.plugins import discovery, hookspecs
from qlop.plugins.discovery import BUILTIN_PLUGINS, Selection
from qlop.plugins.markers import PROJECT_NAME
from qlop.plugins.provides import ProvidesIndex
from qlop.plugins.records import (
    ACTIVE,
    DISABLED,
    FAILED,
    INCOMPATIBLE,
    SOURCE_BUILTIN,
    SOURCE_CLI,
    SOURCE_ENTRY_POINT,
    SOURCE_PLUGINS_DIR,
    PluginRecord,
)
from qlop.plugins.registry import Entry, Registry, make_component
from qlop.plugins.specs import KINDS, PLUGIN_API_VERSION, CommandSpec, ComponentSpec

Warn = Callable[[str], None]


def _stderr(message: str) -> None:
    print(f"qlop: {message}", file=sys.stderr)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def _validation_reason(exc: BaseException) -> str:
    """pluggy's multi-line signature complaint as one line: the hookimpl and what is wrong with it."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    definition = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("hookimpl definition:")), None)
    detail = [ln for ln in lines[1:] if not ln.startswith("hookimpl definition:")]
    if definition and detail:
        hook = lines[0].split("for hook", 1)[1].strip(" '") if "for hook" in lines[0] else ""
        where = definition if not hook or definition.startswith(f"{hook}(") else f"{hook} ({definition})"
        return f"{where}: {' '.join(detail)}"
    return " ".join(lines) or type(exc).__name__


def _plugin_path(plugin: Any) -> str | None:
    """The file a plugin object comes from (a module's ``__file__``, else its defining module's)."""
    path = getattr(plugin, "__file__", None)
    if path is None:
        module = sys.modules.get(getattr(plugin, "__module__", "") or "")
        path = getattr(module, "__file__", None)
    return path


def _qlop_version() -> str:
    from qlop import __version__

    return __version__


class PluginManager:
    """QLOP's view of pluggy: provenance records, isolation and typed registries."""

    def __init__(
        self,
        selection: Selection | None = None,
        warn: Warn | None = _stderr,
        provides_index: ProvidesIndex | None = None,
    ) -> None:
        """``provides_index``: where to remember what each plugin provides, so unknown-name errors can
        name a disabled plugin that provided the name (the process-wide manager keeps one in the
        cache folder; managers built by tests keep none)."""
        self.selection = selection or Selection()
        self.provides_index = provides_index
        self.warn = warn or (lambda _msg: None)
        self.pm = pluggy.PluginManager(PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.records: dict[str, PluginRecord] = {}
        self._registries: dict[str, Registry[Any]] = {}
        self._loaded = False
        self._plugins_dirs: set[Path] = set()

    # -- discovery ---------------------------------------------------------------------------

    def load(self) -> "PluginManager":
        """Discover every plugin once, in the documented order."""
        if self._loaded:
            return self
        self._loaded = True
        sel = self.selection
        if sel.builtins:
            for module_name in BUILTIN_PLUGINS:
                self._load_module(
                    module_name,
                    module_name,
                    SOURCE_BUILTIN,
                    third_party=False,
                    distribution="qlop",
                    version=_qlop_version(),
                )
        # Entry points are always listed (so `plugins list --all` shows what is installed), but the
        # selection controls decide before ``ep.load()`` whether the module is ever imported.
        for ep in discovery.iter_entry_points():
            self._load_entry_point(ep)
        if sel.plugins_dir:
            self.load_plugins_dir(sel.plugins_dir)
        for module_name in sel.modules:
            self._load_module(module_name, module_name, SOURCE_CLI, third_party=False)
        return self

    def _new_record(self, name: str, source: str, **kw: Any) -> PluginRecord | None:
        existing = self.records.get(name)
        if existing is not None and existing.status == DISABLED and self.pm.get_plugin(name) is None:
            # Never imported (blocked before import): an explicit registration under that name may
            # take its place, subject to the selection controls again.
            del self.records[name]
            if self.pm.is_blocked(name):
                self.pm.unblock(name)
            existing = None
        if existing is not None:
            self._fail(
                PluginRecord(name, source, **kw),
                FAILED,
                f"a plugin named {name!r} is already registered from {existing.source}",
                keep=False,
            )
            return None
        record = PluginRecord(name, source, **kw)
        self.records[name] = record
        return record

    def _blocked(self, record: PluginRecord, third_party: bool, entry_point: bool = False) -> bool:
        reason = self.selection.blocked_reason(record.name, third_party, record.distribution, entry_point)
        if reason is None:
            return False
        record.status, record.error = DISABLED, reason
        self.pm.set_blocked(record.name)
        return True

    def _fail(
        self, record: PluginRecord, status: str, reason: str, exc: BaseException | None = None, keep: bool = True
    ) -> None:
        record.mark(status, reason)
        if keep:
            self.records.setdefault(record.name, record)
        self.warn(f"plugin {record.name!r} {status}: {reason}")
        if self.selection.strict:
            raise PluginError(f"plugin {record.name!r} {status}: {reason}") from exc

    def _load_entry_point(self, ep: Any) -> None:
        record = self._new_record(
            ep.name, SOURCE_ENTRY_POINT, module=ep.value, distribution=ep.distribution, version=ep.version
        )
        if record is None or self._blocked(record, third_party=True, entry_point=True):
            return
        try:
            plugin = ep.entry_point.load()
        except Exception as exc:  # isolation: one broken plugin must not hide the rest
            self._fail(record, FAILED, _one_line(exc), exc)
            return
        record.path = _plugin_path(plugin)
        self._register(record, plugin)

    def _load_module(
        self,
        name: str,
        module_name: str,
        source: str,
        third_party: bool,
        distribution: str | None = None,
        version: str | None = None,
    ) -> None:
        record = self._new_record(name, source, module=module_name, distribution=distribution, version=version)
        if record is None or self._blocked(record, third_party=third_party):
            return
        try:
            plugin = importlib.import_module(module_name)
        except Exception as exc:
            self._fail(record, FAILED, _one_line(exc), exc)
            return
        record.path = getattr(plugin, "__file__", None)
        if record.version is None:
            record.version = getattr(plugin, "__version__", None)
        self._register(record, plugin)

    def load_plugins_dir(self, directory: str) -> None:
        """Load every ``*.py`` file of ``directory`` as a plugin (only ever called when asked).

        A folder this manager already loaded is not loaded again: ``--plugins-dir`` and a config's
        ``plugins_dir`` may name the same one, and every config validation asks for its folder."""
        folder = Path(directory).expanduser().resolve()
        if folder in self._plugins_dirs:
            return
        files = discovery.iter_plugin_files(directory)
        self._plugins_dirs.add(folder)
        for path in files:
            name = path.stem
            record = self._new_record(name, SOURCE_PLUGINS_DIR, module=f"qlop_local_plugins.{name}", path=str(path))
            if record is None or self._blocked(record, third_party=True):
                continue
            try:
                module = self._import_file(f"qlop_local_plugins.{name}", path)
            except Exception as exc:
                self._fail(record, FAILED, _one_line(exc), exc)
                continue
            record.version = getattr(module, "__version__", None)
            self._register(record, module)
        self._registries.clear()

    @staticmethod
    def _import_file(module_name: str, path: Path) -> Any:
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(module_name, None)
            raise
        return module

    def register(self, plugin: Any, name: str, source: str = SOURCE_CLI, version: str | None = None) -> PluginRecord:
        """Register an already-imported plugin object after discovery (used by tests and the test kit).

        It goes through the same checks as a discovered plugin (unknown hooks, signatures, specs).
        """
        self.load()
        record = self._new_record(
            name, source, module=getattr(plugin, "__name__", None), version=version, path=_plugin_path(plugin)
        )
        if record is None:
            return self.records[name]
        self._register(record, plugin)
        self._registries.clear()
        return record

    def _register(self, record: PluginRecord, plugin: Any) -> None:
        if self.pm.is_registered(plugin):  # e.g. ``-p pkg`` for a package that is also installed
            other = self.pm.get_name(plugin)
            record.status, record.error = DISABLED, f"the same module is already loaded as plugin {other!r}"
            return
        try:
            self.pm.register(plugin, name=record.name)
        except pluggy.PluginValidationError as exc:
            self._forget(record.name)  # pluggy may have kept the hookimpls registered before the bad one
            self._fail(record, INCOMPATIBLE, f"bad hook implementation: {_validation_reason(exc)}", exc)
            return
        except Exception as exc:
            self._forget(record.name)
            self._fail(record, FAILED, _one_line(exc), exc)
            return
        callers = self.pm.get_hookcallers(plugin) or []
        unknown = sorted(c.name for c in callers if not c.has_spec())
        record.hooks = sorted(c.name for c in callers if c.has_spec())
        if unknown:
            self.pm.unregister(plugin)
            self._fail(record, INCOMPATIBLE, f"unknown hook {', '.join(unknown)} (not a QLOP hook; check the spelling)")

    def _forget(self, name: str) -> None:
        """Undo a partial pluggy registration so none of a rejected plugin's hooks is ever called."""
        plugin = self.pm.get_plugin(name)
        if plugin is not None:
            try:
                self.pm.unregister(plugin=plugin, name=name)
            except Exception:  # pragma: no cover - pluggy refuses only unknown plugins
                pass

    def unregister(self, name: str) -> None:
        """Remove plugin ``name`` and its record (the test kit's register-for-one-test undoes itself)."""
        self._forget(name)
        self.records.pop(name, None)
        self._registries.clear()

    # -- registries --------------------------------------------------------------------------

    def registry(self, kind: str) -> Registry[Any]:
        """The registry for ``kind``, built on first use with per-plugin isolation."""
        if kind not in KINDS:
            raise PluginError(f"unknown component kind {kind!r}; kinds: {', '.join(KINDS)}")
        self.load()
        if kind not in self._registries:
            entries = self._collect(kind)
            if self.provides_index is not None:
                self.provides_index.remember(kind, self.records.values())
            self._registries[kind] = Registry(kind, entries, functools.partial(self._explain_unknown, kind))
        return self._registries[kind]

    def _explain_unknown(self, kind: str, name: str) -> tuple[str | None, str | None]:
        """For an unknown-name error: a not-loaded plugin that provided ``name`` when it last loaded."""
        if self.provides_index is None:
            return None, None
        return self.provides_index.explain(kind, name, list(self.records.values()))

    def _collect(self, kind: str) -> list[Entry[Any]]:
        hook = getattr(self.pm.hook, KINDS[kind])
        expected = CommandSpec if kind == "command" else ComponentSpec
        entries: list[Entry[Any]] = []
        # One call per hookimpl (not ``hook()``), so one plugin's exception cannot hide the others.
        # ``get_hookimpls()`` is in registration order, i.e. the documented discovery order.
        for impl in hook.get_hookimpls():
            record = self.records.get(impl.plugin_name)
            if record is None or record.status != ACTIVE:
                continue
            try:
                result = impl.function()
                specs = self._as_specs(result, expected)
            except Exception as exc:
                self._fail(record, FAILED, f"{KINDS[kind]}: {_one_line(exc)}", exc)
                self._drop(record)
                continue
            incompatible = [s for s in specs if not s.api_compatible]
            if incompatible:
                s = incompatible[0]
                self._fail(
                    record,
                    INCOMPATIBLE,
                    f"{kind.replace('_', ' ')} {s.name!r} targets plugin API {s.api[0]}-{s.api[1]}; "
                    f"this QLOP implements {PLUGIN_API_VERSION}",
                )
                self._drop(record)
                continue
            for spec in specs:
                entries.append(Entry(spec, record.name, record.version))
                record.provides.setdefault(kind, [])
                if spec.name not in record.provides[kind]:
                    record.provides[kind].append(spec.name)
        return entries

    def _drop(self, record: PluginRecord) -> None:
        """A plugin that failed while one registry was built contributes to none: registries built
        earlier are rebuilt (lazily) without it."""
        if record.provides:
            record.provides.clear()
            self._registries.clear()

    @staticmethod
    def _as_specs(result: Any, expected: type) -> list[Any]:
        if result is None:
            return []
        items = [result] if isinstance(result, (ComponentSpec, CommandSpec)) else result
        if isinstance(items, (str, bytes)) or not isinstance(items, Iterable):
            raise TypeError(f"expected {expected.__name__} or an iterable of them, got {type(result).__name__}")
        specs = list(items)
        for spec in specs:
            if not isinstance(spec, expected):
                raise TypeError(f"expected {expected.__name__}, got {type(spec).__name__}")
        return specs

    def load_all_registries(self) -> None:
        """Build every registry so that records show what each plugin provides."""
        for kind in KINDS:
            self.registry(kind)

    def create(self, kind: str, name: str, params: Any, field_path: str) -> Any:
        """Construct component ``name`` of ``kind`` with validated params."""
        return make_component(self.registry(kind), name, params, field_path)

    def provider(self, kind: str, name: str) -> PluginRecord:
        """The record of the plugin providing component ``name``."""
        return self.records[self.registry(kind).entry(name).plugin]

    @property
    def hook(self) -> Any:
        self.load()
        return self.pm.hook

    def active_plugins(self) -> list[dict[str, Any]]:
        """The active plugin set, as written into every run manifest."""
        self.load_all_registries()
        return [
            {"name": r.name, "version": r.version, "source": r.source, "distribution": r.distribution}
            for r in self.records.values()
            if r.status == ACTIVE
        ]


_default: PluginManager | None = None


def configure(selection: Selection | None = None, warn: Warn | None = _stderr) -> PluginManager:
    """Set up the process-wide manager (the CLI does this once from its global options)."""
    global _default
    _default = PluginManager(selection or Selection.from_env(), warn=warn, provides_index=ProvidesIndex())
    return _default


def get_plugin_manager() -> PluginManager:
    """The process-wide manager, configured from the environment when the CLI did not configure it."""
    global _default
    if _default is None:
        _default = PluginManager(Selection.from_env(), provides_index=ProvidesIndex())
    return _default.load()


def configured() -> PluginManager | None:
    """The process-wide manager if one was configured or created, else None (nothing is created)."""
    return _default


def install(manager: PluginManager | None) -> PluginManager | None:
    """Make ``manager`` the process-wide one (None forgets it); return the previous one, to restore."""
    global _default
    previous, _default = _default, manager
    return previous


def reset() -> None:
    """Forget the process-wide manager (tests)."""
    install(None)
