"""``qlop plugins``: what is installed, where it came from, whether it works, and what it provides."""

from __future__ import annotations

import json

import click

from qlop.cli.main import ensure_plugin_manager
from qlop.plugins.records import ACTIVE
from qlop.plugins.specs import KINDS


def _manager(ctx: click.Context):  # type: ignore[no-untyped-def]
    manager = ensure_plugin_manager(ctx)
    manager.load_all_registries()
    return manager


def _provides(record) -> str:  # type: ignore[no-untyped-def]
    return "; ".join(f"{kind}: {', '.join(sorted(names))}" for kind, names in sorted(record.provides.items()))


@click.group("plugins")
def cli() -> None:
    """List, inspect and diagnose plugins."""


@cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--all", "show_all", is_flag=True, help="Include disabled, failed and incompatible plugins.")
@click.option("--kind", type=click.Choice(sorted(KINDS)), default=None, help="Only plugins providing KIND.")
@click.pass_context
def list_cmd(ctx: click.Context, as_json: bool, show_all: bool, kind: str | None) -> None:
    """Table of plugins: name, version, source, status, provides."""
    manager = _manager(ctx)
    records = list(manager.records.values())
    if not show_all:
        records = [r for r in records if r.status == ACTIVE]
    if kind:
        records = [r for r in records if kind in r.provides]
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in records], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="QLOP plugins", show_lines=False)
    for column in ("name", "version", "source", "status", "provides"):
        table.add_column(column, overflow="fold")
    for r in records:
        status = r.status if r.status == ACTIVE else f"{r.status}: {r.error}"
        table.add_row(r.name, r.version or "-", r.source, status, _provides(r) or "-")
    import shutil

    Console(width=max(120, shutil.get_terminal_size().columns)).print(table)


@cli.command("show")
@click.argument("name")
@click.pass_context
def show_cmd(ctx: click.Context, name: str) -> None:
    """Everything QLOP knows about plugin NAME (or the plugin providing component NAME)."""
    from qlop.errors import PluginError

    manager = _manager(ctx)
    record = manager.records.get(name)
    if record is None:  # a component name: show the plugin providing it (the first, if several do)
        providers = [e.plugin for kind in KINDS for e in manager.registry(kind).entries() if e.spec.name == name]
        if providers:
            record = manager.records[providers[0]]
    if record is None:
        import difflib

        close = difflib.get_close_matches(name, list(manager.records), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise PluginError(f"no plugin or component named {name!r}.{hint}")
    data = record.to_dict()
    components = []
    for kind, names in sorted(record.provides.items()):
        for comp in sorted(names):
            for entry in manager.registry(kind).entries():
                if entry.spec.name == comp and entry.plugin == record.name:
                    components.append({"kind": kind, "name": comp, "summary": entry.spec.summary,
                                       "api": list(entry.spec.api)})
    data["components"] = components
    click.echo(json.dumps(data, indent=2))


@cli.command("doctor")
@click.pass_context
def doctor_cmd(ctx: click.Context) -> None:
    """Report conflicts, failures and unknown hooks; exit 1 when there is a problem."""
    manager = _manager(ctx)
    problems = []
    for r in manager.records.values():
        if r.status not in (ACTIVE, "disabled"):
            problems.append(f"plugin {r.name!r} ({r.source}) is {r.status}: {r.error}")
    for kind in KINDS:
        for name, providers in manager.registry(kind).conflicts().items():
            problems.append(f"{kind} {name!r} is provided by several plugins: {', '.join(providers)}")
    active = sum(1 for r in manager.records.values() if r.status == ACTIVE)
    if problems:
        for p in problems:
            click.echo(f"problem: {p}")
        click.echo(f"{len(problems)} problem(s); {active} plugin(s) active.")
        ctx.exit(1)
    click.echo(f"No problems: {active} plugin(s) active, no conflicts, no unknown hooks.")
