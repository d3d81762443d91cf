"""pytest11 entry point of the QLOP test kit: fixtures only, no autouse side effects.

Installed with ``qlop``, so every pytest run in an environment with QLOP has these fixtures:

- ``qlop_plugin_manager``: an isolated plugin manager (bundled plugins, no entry-point autoload,
  strict: a plugin failure raises), also installed as the process-wide manager for the test.
- ``qlop_make_plugin_manager``: the same, with your own selection (``autoload=True``, ``disabled=...``).
- ``qlop_register``: register a plugin module or object for one test (undone afterwards).
- ``qlop_fake_entry_points``: pretend packages declare ``qlop`` entry points, broken ones included,
  without installing anything; ``.loaded`` tells which were actually imported.
- ``qlop_cli``: run ``qlop ...`` in-process (click's CliRunner), with a fresh plugin manager each time.
- ``qlop_hook_recorder``: record the hook calls (observer hooks) a manager makes.
- ``qlop_ohlcv_panel`` / ``qlop_make_panel`` / ``qlop_sample_panel``: small deterministic panels.

The module itself imports nothing heavy: it is loaded by every pytest run in the environment.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest


def _install_default(manager: Any) -> Callable[[], None]:
    """Make ``manager`` the process-wide one; return the undo."""
    from qlop.plugins import manager as manager_mod

    previous = manager_mod.install(manager)
    return lambda: manager_mod.install(previous)


@pytest.fixture
def qlop_make_plugin_manager() -> Iterator[Callable[..., Any]]:
    """Factory: ``qlop_make_plugin_manager(autoload=False, strict=True, **selection)`` -> loaded manager.

    The newest manager is the process-wide one (what stages and ``get_plugin_manager()`` use) until
    the test ends.
    """
    from qlop.plugins.discovery import Selection
    from qlop.plugins.manager import PluginManager

    undo: list[Callable[[], None]] = []

    def make(*, autoload: bool = False, strict: bool = True, warn: Any = None, **kw: Any) -> Any:
        kw.setdefault("disabled", set())
        manager = PluginManager(Selection(autoload=autoload, strict=strict, **kw), warn=warn)
        undo.append(_install_default(manager))
        return manager.load()

    yield make
    for step in reversed(undo):
        step()


@pytest.fixture
def qlop_plugin_manager(qlop_make_plugin_manager: Callable[..., Any]) -> Any:
    """An isolated manager: bundled plugins only, entry-point autoload off, strict on."""
    return qlop_make_plugin_manager()


@pytest.fixture
def qlop_register(qlop_plugin_manager: Any) -> Iterator[Callable[..., Any]]:
    """``qlop_register(plugin, name=None, version=None)`` registers a module/object for this test only.

    Returns the plugin's :class:`~qlop.plugins.records.PluginRecord`. The manager is strict, so a plugin
    with a typo'd hook or a bad signature raises :class:`qlop.errors.PluginError` right here.
    """
    names: list[str] = []

    def register(plugin: Any, name: str | None = None, version: str | None = None) -> Any:
        name = name or getattr(plugin, "__name__", None) or f"{type(plugin).__name__}-{id(plugin):x}"
        names.append(name)
        return qlop_plugin_manager.register(plugin, name=name, version=version)

    yield register
    for name in reversed(names):
        qlop_plugin_manager.unregister(name)


class _FakeEntryPoint:
    """Quacks like ``importlib.metadata.EntryPoint`` for discovery: ``load()`` is what imports."""

    def __init__(self, owner: "FakeEntryPoints", name: str, target: Any) -> None:
        self._owner, self.name, self._target = owner, name, target

    @property
    def value(self) -> str:
        return self._target if isinstance(self._target, str) else getattr(self._target, "__name__", repr(self._target))

    def load(self) -> Any:
        from qlop.plugins.specs import resolve_target

        self._owner.loaded.append(self.name)
        target = self._target
        if isinstance(target, BaseException) or (isinstance(target, type) and issubclass(target, BaseException)):
            raise target
        if isinstance(target, str):
            if ":" in target:
                return resolve_target(target)
            import importlib

            return importlib.import_module(target)
        return target


class FakeEntryPoints:
    """Entry points of group ``qlop`` that exist only for one test.

    ``add(name, plugin, distribution=..., version=...)``: ``plugin`` is a module or object, a
    ``"pkg.mod"`` / ``"pkg.mod:attr"`` string imported on load, or an exception (class or instance)
    that ``load()`` raises, i.e. a package that is broken at import. ``manager(**selection)`` builds a
    manager with autoload on; ``loaded`` lists the entry points whose ``load()`` ran (a blocked plugin
    never appears there).
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch, include_installed: bool = False) -> None:
        from qlop.plugins import discovery

        self._discovery = discovery
        self._real = discovery.iter_entry_points
        self._include_installed = include_installed
        self._infos: list[Any] = []
        self.loaded: list[str] = []
        self._undo: list[Callable[[], None]] = []
        monkeypatch.setattr(discovery, "iter_entry_points", self._iter)

    def _iter(self) -> list[Any]:
        infos = list(self._infos) + (list(self._real()) if self._include_installed else [])
        return sorted(infos, key=lambda e: ((e.distribution or "").lower(), e.name))

    def add(self, name: str, plugin: Any, distribution: str | None = None, version: str | None = "0.0.1") -> None:
        ep = _FakeEntryPoint(self, name, plugin)
        info = self._discovery.EntryPointInfo(name, ep.value, distribution or f"fake-{name}", version, ep)  # type: ignore[arg-type]
        self._infos.append(info)

    def add_broken(self, name: str, error: BaseException | None = None, **kw: Any) -> None:
        """A package whose module raises at import (``ImportError`` unless ``error`` is given)."""
        self.add(name, error or ImportError(f"No module named '{name}_dependency'"), **kw)

    def manager(self, *, strict: bool = False, **selection: Any) -> Any:
        """A loaded manager that sees these entry points (non-strict, so failures are isolated)."""
        from qlop.plugins.discovery import Selection
        from qlop.plugins.manager import PluginManager

        selection.setdefault("autoload", True)
        manager = PluginManager(Selection(strict=strict, **selection), warn=None)
        self._undo.append(_install_default(manager))
        return manager.load()


@pytest.fixture
def qlop_fake_entry_points(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeEntryPoints]:
    """Fake ``qlop`` entry points for this test; installed packages are hidden while it runs."""
    fake = FakeEntryPoints(monkeypatch)
    yield fake
    for step in reversed(fake._undo):
        step()


class QlopCli:
    """Runs the ``qlop`` root command in-process with a fresh process-wide plugin manager per call."""

    def __init__(self) -> None:
        from click.testing import CliRunner

        self.runner = CliRunner()

    def invoke(
        self,
        args: list[str] | str,
        env: dict[str, str | None] | None = None,
        input: str | None = None,
        catch_exceptions: bool = True,
    ) -> Any:
        """``result = qlop_cli.invoke(["plugins", "list", "--json"])``; see ``result.exit_code``,
        ``result.stdout``, ``result.stderr``."""
        import shlex

        from qlop.cli.main import cli
        from qlop.plugins import manager as manager_mod

        if isinstance(args, str):
            args = shlex.split(args)
        manager_mod.reset()
        try:
            return self.runner.invoke(
                cli, args, env=env, input=input, catch_exceptions=catch_exceptions, prog_name="qlop"
            )
        finally:
            manager_mod.reset()


@pytest.fixture
def qlop_cli() -> Iterator[QlopCli]:
    """In-process CLI runner: ``qlop_cli.invoke("config validate my.toml")``."""
    from qlop.plugins import manager as manager_mod

    previous = manager_mod.configured()
    yield QlopCli()
    manager_mod.install(previous)


class HookRecorder:
    """Records every hook call made through a manager's hook relay (observer hooks).

    Registration hooks are called one implementation at a time by the registries (for isolation), not
    through the relay, so they do not show up here; look at ``manager.records[...].provides`` instead.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._undo: list[Callable[[], None]] = []

    def attach(self, manager: Any) -> "HookRecorder":
        def before(hook_name: str, hook_impls: Any, kwargs: dict[str, Any]) -> None:
            self.calls.append((hook_name, dict(kwargs)))

        def after(outcome: Any, hook_name: str, hook_impls: Any, kwargs: dict[str, Any]) -> None:
            pass

        manager.load()
        self._undo.append(manager.pm.add_hookcall_monitoring(before, after))
        return self

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def calls_of(self, hook_name: str) -> list[dict[str, Any]]:
        return [kwargs for name, kwargs in self.calls if name == hook_name]

    def close(self) -> None:
        for undo in reversed(self._undo):
            undo()
        self._undo.clear()


@pytest.fixture
def qlop_hook_recorder() -> Iterator[Callable[[Any], HookRecorder]]:
    """``rec = qlop_hook_recorder(manager)`` (default: the process-wide manager); ``rec.calls_of(name)``."""
    recorders: list[HookRecorder] = []

    def record(manager: Any = None) -> HookRecorder:
        if manager is None:
            from qlop.plugins.manager import get_plugin_manager

            manager = get_plugin_manager()
        recorder = HookRecorder().attach(manager)
        recorders.append(recorder)
        return recorder

    yield record
    for recorder in recorders:
        recorder.close()


@pytest.fixture
def qlop_make_panel() -> Callable[..., Any]:
    """Factory of seeded synthetic OHLCV panels: ``qlop_make_panel(tickers=("A", "B"), n_days=100, seed=1)``."""
    from qlop.testing.data import make_ohlcv_panel

    return make_ohlcv_panel


@pytest.fixture
def qlop_ohlcv_panel() -> Any:
    """A canonical synthetic panel: 3 tickers, about 260 business days each, own calendars."""
    from qlop.testing.data import make_ohlcv_panel

    return make_ohlcv_panel()


@pytest.fixture
def qlop_sample_panel() -> Callable[..., Any]:
    """Factory of real-data slices: ``qlop_sample_panel(("AAPL", "MSFT"), "2015-01-01", "2015-12-31")``."""
    from qlop.testing.data import load_sample_panel

    return load_sample_panel
