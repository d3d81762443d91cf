"""``qlop config``: validate a config file exactly as a run would, and print its JSON Schema."""

from __future__ import annotations

import json

import click

from qlop.cli.main import ensure_plugin_manager


@click.group("config")
def cli() -> None:
    """Validate configs and print their JSON Schema."""


@cli.command("validate")
@click.argument("file", type=click.Path(dir_okay=False))
@click.pass_context
def validate_cmd(ctx: click.Context, file: str) -> None:
    """Check FILE (TOML, JSON or YAML): every section, and each chosen plugin's params."""
    from qlop.config import load_config

    ensure_plugin_manager(ctx)
    config = load_config(file)
    stages = [s for s in ("data", "features", "label", "model", "backtest", "export") if getattr(config, s)]
    click.echo(f"{file}: valid ({', '.join(stages)})")


@cli.command("schema")
def schema_cmd() -> None:
    """Print the JSON Schema of the pipeline config (for editor completion)."""
    from qlop.config import config_json_schema

    click.echo(json.dumps(config_json_schema(), indent=2))
