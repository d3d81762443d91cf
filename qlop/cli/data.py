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
    from qlop.cli.tables import panel_summary
    from qlop.stages.data import load_and_write, summarize_panel

    config = load_stage_config(ctx, config_path)
    panel, outputs = load_and_write(config, run_dir, refresh=refresh)
    click.echo(panel_summary(summarize_panel(panel, top_gaps=3), title=f"Wrote {outputs['data']}", per_ticker=False))


@cli.command("info")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--top",
    default=10,
    show_default=True,
    type=click.IntRange(0, 1000),
    help="How many of the biggest gaps between sessions to list.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def info_cmd(file: str, top: int, as_json: bool) -> None:
    """Summarise a panel FILE (data.parquet): tickers, dates, rows, missing sessions, gaps."""
    from qlop.cli.tables import panel_summary
    from qlop.stages.data import read_panel, summarize_panel

    summary = summarize_panel(read_panel(file), top_gaps=top)
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        click.echo(panel_summary(summary, title=file, per_ticker=True))


@cli.command("to-sql")
@click.argument("panel_file", metavar="PANEL", type=click.Path(dir_okay=False))
@click.argument("url")
@click.option(
    "--table",
    required=True,
    help="Table to write (created with ticker, date, open, high, low, "
    "close, adj_close, volume; primary key ticker, date).",
)
@click.option(
    "--if-exists",
    type=click.Choice(["fail", "replace", "append"]),
    default="fail",
    show_default=True,
    help="What to do when the table is already there.",
)
@click.option("--schema", "db_schema", default=None, help="Database schema of the table (default: the connection's).")
@click.option(
    "--password-env",
    default="QLOP_SQL_PASSWORD",
    show_default=True,
    help="Environment variable holding the database password (URLs never hold one).",
)
def to_sql_cmd(panel_file: str, url: str, table: str, if_exists: str, db_schema: str | None, password_env: str) -> None:
    """Write a panel file (RUN_DIR/data.parquet or any panel QLOP wrote) into a database table.

    URL is a SQLAlchemy URL, e.g. sqlite:///prices.sqlite or postgresql://user@host:5432/db. The whole
    table is written in one transaction: on any error the database is left as it was. The ``sql``
    data source then reads it back.
    """
    from qlop.sql import display_url, parse_url, write_panel
    from qlop.stages.data import read_panel

    parsed = parse_url(url, "URL")  # a bad URL or a password in it fails before the panel is read
    panel = read_panel(panel_file)
    rows = write_panel(
        panel,
        url,
        table,
        password_env=password_env,
        if_exists=if_exists,  # type: ignore[arg-type]
        schema=db_schema,
    )
    tickers = panel.index.unique("ticker")
    dates = panel.index.get_level_values("date")
    span = f"{dates.min().date()} .. {dates.max().date()}" if rows else "no dates"
    click.echo(f"Wrote {rows:,} rows ({len(tickers)} tickers, {span}) to table {table!r} at {display_url(parsed)}")
    params = f'url = "{url}", table = "{table}"' + (f', db_schema = "{db_schema}"' if db_schema else "")
    if password_env != "QLOP_SQL_PASSWORD":
        params += f', password_env = "{password_env}"'
    click.echo(f'Read it back with:  data_source_type = "sql", data_source_params = {{ {params} }}')
