"""``qlop features``: build the feature and label frames of a run directory and summarise the labels."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from qlop.cli.common import config_option, load_stage_config, require_section, run_dir_option

if TYPE_CHECKING:
    import pandas as pd


@click.group("features")
def cli() -> None:
    """Build features and leverage-opportunity labels."""


@cli.command("build")
@config_option
@run_dir_option
@click.pass_context
def build_cmd(ctx: click.Context, config_path: str, run_dir: str) -> None:
    """Compute the [features] steps and the [label] of CONFIG on RUN_DIR/data.parquet.

    Writes RUN_DIR/features.parquet and RUN_DIR/labels.parquet (both or neither), then prints the
    label's base rate and exit-reason mix per ticker.
    """
    from qlop.stages.features import build

    config = load_stage_config(ctx, config_path)
    require_section(config, "features", config_path)
    result = build(config, run_dir)
    for message in result.warnings:
        click.echo(f"warning: {message}", err=True)
    features = result.features
    warm = int(features.isna().any(axis=1).sum()) if features.shape[1] else 0
    click.echo(
        f"Wrote {result.written['features']}: {len(features):,} rows x {features.shape[1]} features "
        f"({warm:,} rows with a NaN, mostly warm-up)"
    )
    if result.labels is None:
        click.echo("No [label] section: labels not built.")
        return
    click.echo(f"Wrote {result.written['labels']}: label {config.label.label_type!r}")
    _print_label_table(result.labels, config.label.label_type)


def _pct(value: Any) -> str:
    return "-" if value != value else f"{100 * value:.1f}%"


def _print_label_table(labels: "pd.DataFrame", label_type: str) -> None:
    from rich.console import Console
    from rich.table import Table

    from qlop.report_data import SUMMARY_COLUMNS, summarize_labels

    summary = summarize_labels(labels)
    reasons = [c for c in summary.columns if c not in SUMMARY_COLUMNS]
    classification = set(labels["label"].dropna().unique()) <= {0.0, 1.0}
    table = Table(title=f"Label {label_type!r} per ticker", title_justify="left")
    table.add_column("ticker")
    table.add_column("rows", justify="right")
    table.add_column("labelled", justify="right")
    table.add_column("base rate" if classification else "mean label", justify="right")
    has_net = "mean_net_return" in summary.columns
    if has_net:
        table.add_column("mean net", justify="right")
    for r in reasons:
        table.add_column({"liquidation": "liq"}.get(r, r), justify="right")
    for ticker, row in summary.iterrows():
        cells = [
            str(ticker),
            f"{int(row['n_rows']):,}",
            f"{int(row['n_labelled']):,}",
            _pct(row["base_rate"]) if classification else f"{row['base_rate']:.4g}",
        ]
        if has_net:
            cells.append(_pct(row["mean_net_return"]))
        cells += [_pct(row[r]) for r in reasons]
        table.add_row(*cells, end_section=(ticker == summary.index[-2]) if len(summary) > 1 else False)
    console = Console()
    if not console.is_terminal:  # piped or captured: do not squeeze the table into 80 columns
        console = Console(width=200)
    console.print(table)
