"""``qlop backtest``: trade a strategy on the run's data (and predictions) with leverage and costs."""

from __future__ import annotations

import click

from qlop.cli.common import config_option, load_stage_config, require_section, run_dir_option


@click.command("backtest")
@config_option
@run_dir_option
@click.pass_context
def backtest_cmd(ctx: click.Context, config_path: str, run_dir: str) -> None:
    """Backtest the configured strategy with leverage, margin, financing and costs.

    Reads DIR/data.parquet (else loads [data]) and, for strategies that trade model predictions,
    DIR/predictions.parquet; writes DIR/backtest/ (equity.parquet, trades.parquet, metrics.json,
    report.html) and prints the metrics.
    """
    import json
    from pathlib import Path

    from qlop.cli.tables import echo_table, metric_notes, metrics_table
    from qlop.stages import backtest as stage

    config = load_stage_config(ctx, config_path)
    require_section(config, "backtest", config_path)
    written = stage.run(config, run_dir)
    metrics = json.loads(Path(written["metrics"]).read_text(encoding="utf-8"))
    echo_table(metrics_table(metrics))
    click.echo(metric_notes(metrics))
    for name, path in written.items():
        click.echo(f"wrote {name}: {path}")
