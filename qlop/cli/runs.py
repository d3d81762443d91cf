"""``qlop runs list`` and ``qlop runs show DIR``: what each run directory holds, from its manifest."""

from __future__ import annotations

import json
from pathlib import Path

import click

from qlop.layout import DEFAULT_RUNS_DIR


@click.group("runs")
def cli() -> None:
    """List and summarise run directories."""


@cli.command("list")
@click.option(
    "--runs-dir",
    default=DEFAULT_RUNS_DIR,
    show_default=True,
    type=click.Path(file_okay=False),
    help="Folder holding the run directories.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_cmd(runs_dir: str, as_json: bool) -> None:
    """One line per run, newest first: id, status, time, stages and headline backtest metrics."""
    from qlop.cli.tables import echo_table, runs_table
    from qlop.runs import list_runs

    summaries = list_runs(runs_dir)
    if as_json:
        click.echo(json.dumps([s.to_json() for s in summaries], indent=2, default=str))
        return
    if not summaries:
        click.echo(f"no runs under {runs_dir}/")
        return
    echo_table(runs_table(summaries))


@cli.command("show")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
def show_cmd(run_dir: str, as_json: bool) -> None:
    """A run's status, versions, plugins, stages (status, time, artefacts) and metrics."""
    from qlop.cli.tables import echo_table, metrics_table, short_number, stages_table
    from qlop.errors import ArtifactError
    from qlop.layout import RunLayout
    from qlop.runs import load_manifest, run_summary

    path = Path(run_dir)
    read = load_manifest(path)
    if read.data is None:
        raise ArtifactError(f"{RunLayout(path).manifest}: {read.problem}")
    manifest = read.data
    if read.problem:  # shown with what can still be read; the cache no longer trusts this run
        click.echo(f"warning: {read.path}: {read.problem}", err=True)
    if as_json:
        click.echo(json.dumps(manifest, indent=2, default=str))
        return

    def get(key: str) -> str:  # a key the manifest lacks reads as "-"
        value = manifest.get(key)
        return "-" if value is None else str(value)

    click.echo(f"run      {path}")
    click.echo(f"name     {get('name')}")
    click.echo(f"status   {get('status')}" + (f" ({manifest['error']})" if manifest.get("error") else ""))
    click.echo(
        f"started  {get('started_utc')}  finished {get('finished_utc')}  "
        f"({short_number(manifest.get('seconds'))} s, attempt {get('attempts')})"
    )
    click.echo(f"config   {get('config_hash')[:16]}  qlop {get('qlop_version')}  python {get('python')}")
    libs = manifest.get("libraries") or {}
    click.echo("libs     " + ", ".join(f"{k} {v}" for k, v in libs.items() if v))
    plugins = manifest.get("plugins") or []
    click.echo(
        "plugins  "
        + ", ".join(f"{p['name']} {p.get('version') or ''} [{p.get('source')}]".replace("  ", " ") for p in plugins)
    )  # load_manifest keeps only well-formed records
    click.echo("stages")
    echo_table(stages_table(manifest))
    metrics = run_summary(path).metrics
    if metrics:
        click.echo("metrics")
        echo_table(metrics_table(metrics))  # human labels, the one number style
