"""``qlop export``: write one of the run's models (``[export] model``: the final one or the last fold's) in
the configured format (``[export] format_name``)."""

from __future__ import annotations

import click

from qlop.cli.common import config_option, load_stage_config, require_section, run_dir_option


@click.command("export")
@config_option
@run_dir_option
@click.pass_context
def export_cmd(ctx: click.Context, config_path: str, run_dir: str) -> None:
    """Export the run's final model (or, with [export] model = "last_fold", the last walk-forward fold's)
    with the configured exporter into DIR/export (onnx, pmml, native, predictions)."""
    from qlop.stages import export as stage

    config = load_stage_config(ctx, config_path)
    require_section(config, "export", config_path)
    result = stage.export(config, run_dir)
    summary = result["summary"]
    if "parity_max_abs_diff" in summary:
        evaluator = summary.get("parity_evaluator", "exported model")
        sample = str(summary.get("parity_sample", "in_sample")).replace("_", "-")
        click.echo(
            f"{summary['format_name'].upper()} parity: max |{evaluator} - native| = "
            f"{summary['parity_max_abs_diff']:.3g} on {summary['parity_rows']} {sample} rows of the "
            f"{'last fold' if summary.get('model') == 'last_fold' else 'final'} model"
        )
    for name, path in result["artifacts"].items():
        click.echo(f"wrote {name}: {path}")
