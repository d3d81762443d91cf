"""``qlop export``: write the run's final model in the configured format (``[export] format_name``)."""

from __future__ import annotations

import click

from qlop.cli.common import config_option, load_stage_config, require_section, run_dir_option


@click.command("export")
@config_option
@run_dir_option
@click.pass_context
def export_cmd(ctx: click.Context, config_path: str, run_dir: str) -> None:
    """Export DIR/model with the configured exporter into DIR/export (onnx, native, predictions)."""
    from qlop.stages import export as stage

    config = load_stage_config(ctx, config_path)
    require_section(config, "export", config_path)
    result = stage.export(config, run_dir)
    summary = result["summary"]
    if "parity_max_abs_diff" in summary:
        click.echo(f"ONNX parity: max |onnxruntime - native| = {summary['parity_max_abs_diff']:.3g} "
                   f"on {summary['parity_rows']} held-out rows")
    for name, path in result["artifacts"].items():
        click.echo(f"wrote {name}: {path}")
