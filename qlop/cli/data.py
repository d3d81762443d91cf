"""``qlop data``: load the configured panel into a run directory, and summarise panel files."""

from __future__ import annotations

import json

import click

from qlop.cli.common import config_option, load_stage_config, run_dir_option


@click.group("data")
def cli() -> None:
    """Load and inspect OHLCV market data."""


@cli.command("load")
@config_option
@run_dir_option
@click.option("--refresh", is_flag=True, help="Ignore the data cache and load from the source again.")
@click.pass_context
def load_cmd(ctx: click.Context, config_path: str, run_dir: str, refresh: bool) -> None:
    """Load the [data] section of CONFIG, validate it, and write RUN_DIR/data.parquet."""
    from qlop.stages.data import format_summary, load_and_write, summarize_panel

    config = load_stage_config(ctx, config_path)
    panel, outputs = load_and_write(config, run_dir, refresh=refresh)
    click.echo(format_summary(summarize_panel(panel, top_gaps=3), title=f"Wrote {outputs['data']}",
                              per_ticker=False))


@cli.command("info")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--top", default=10, show_default=True, type=click.IntRange(0, 1000),
              help="How many of the biggest gaps between sessions to list.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def info_cmd(file: str, top: int, as_json: bool) -> None:
    """Summarise a panel FILE (data.parquet): tickers, dates, rows, missing sessions, gaps."""
    from qlop.stages.data import format_summary, read_panel, summarize_panel

    summary = summarize_panel(read_panel(file), top_gaps=top)
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        click.echo(format_summary(summary, title=file, per_ticker=True))
