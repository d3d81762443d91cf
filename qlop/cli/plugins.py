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
@click.option(
    "--kind",
    type=click.Choice(sorted(k for k in KINDS if k != "command")),
    default=None,
    help="Only components of KIND (when NAME is a component name used by several kinds).",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Machine-readable: the plugin's record and each component's params JSON Schema.",
)
@click.pass_context
def show_cmd(ctx: click.Context, name: str, kind: str | None, as_json: bool) -> None:
    """Plugin NAME, or component NAME: provenance and every parameter (type, default, allowed
    values, description)."""
    manager = _manager(ctx)
    record, entries = _lookup(manager, name, kind)
    components = [_component(entry, kind_of) for kind_of, entry in entries]
    if as_json:
        data = record.to_dict()
        data["components"] = components
        click.echo(json.dumps(data, indent=2))
        return
    _print_show(record, components)


def _lookup(manager, name: str, kind: str | None):  # type: ignore[no-untyped-def]
    """``(record, [(kind, entry)])``: plugin ``name`` and all its components, or the plugin providing
    component ``name`` and the components of that name."""
    from qlop.errors import PluginError

    kinds = [kind] if kind else [k for k in KINDS if k != "command"]
    record = manager.records.get(name)
    if record is not None:
        entries = [(k, e) for k in kinds for e in manager.registry(k).entries() if e.plugin == record.name]
        return record, entries
    entries = [(k, e) for k in kinds for e in manager.registry(k).entries() if e.spec.name == name]
    if not entries:
        import difflib

        names = list(manager.records) + [e.spec.name for k in kinds for e in manager.registry(k).entries()]
        close = difflib.get_close_matches(name, names, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        what = f"{kind.replace('_', ' ')} component" if kind else "plugin or component"
        raise PluginError(f"no {what} named {name!r}.{hint}")
    # A name several plugins provide (a conflict): show the first provider; `plugins doctor` names all.
    first = entries[0][1].plugin
    return manager.records[first], [(k, e) for k, e in entries if e.plugin == first]


def _component(entry, kind: str) -> dict:  # type: ignore[no-untyped-def]
    """A component's summary and params schema (loading its params model imports its module)."""
    from qlop.plugins.params import params_schema

    data = {"kind": kind, "name": entry.spec.name, "summary": entry.spec.summary, "api": list(entry.spec.api)}
    try:
        data["params_schema"] = params_schema(entry.spec)
    except Exception as exc:  # noqa: BLE001 - a broken component is shown as such, not as a crash
        data["params_schema"] = None
        data["params_error"] = f"{type(exc).__name__}: {exc}"
    return data


def _print_show(record, components: list[dict]) -> None:  # type: ignore[no-untyped-def]
    import shutil

    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from qlop.plugins.params import describe_params

    console = Console(width=max(120, shutil.get_terminal_size().columns), highlight=False, color_system=None)
    lines: list = []
    status = record.status if record.status == ACTIVE else f"{record.status}: {record.error}"
    lines.append(f"plugin {record.name} {record.version or '(no version)'} ({record.source}; {status})")
    for label, value in (
        ("distribution", record.distribution),
        ("module", record.module),
        ("path", record.path),
        ("hooks", ", ".join(record.hooks)),
    ):
        if value:
            lines.append(f"  {label}: {value}")
    if not components:
        lines.append("  provides no components" + ("" if record.status == ACTIVE else " (not loaded)"))
    for comp in components:
        lines += [
            "",
            f"{comp['kind'].replace('_', ' ')} {comp['name']}" + (f" - {comp['summary']}" if comp["summary"] else ""),
        ]
        if comp.get("params_error"):
            lines.append(f"  parameters unavailable: {comp['params_error']}")
        elif comp["params_schema"] is None:
            lines.append("  no params model declared (its parameters are passed on unchecked)")
        elif not (params := describe_params(comp["params_schema"])):
            lines.append("  no parameters")
        else:
            table = Table(box=None, pad_edge=False, header_style="bold")
            for column in ("parameter", "type", "default", "allowed", "description"):
                table.add_column(column, overflow="fold")
            for p in params:
                table.add_row(*(Text(v) for v in (p.name, p.type, p.default, p.allowed or "-", p.description)))
            lines.append(table)
    with console.capture() as captured:
        for line in lines:
            console.print(Text(line) if isinstance(line, str) else line)
    click.echo("\n".join(ln.rstrip() for ln in captured.get().splitlines()))


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
