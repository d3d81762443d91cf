"""``qlop example-info``: a plugin-provided command, imported only when it runs."""

from __future__ import annotations

import click


@click.command("example-info")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def info(as_json: bool) -> None:
    """Print what the example plugin provides."""
    import json

    from qlop_example_plugin import __version__

    provides = {
        "feature_step": ["range_position"],
        "label": ["forward_return_sign"],
        "model": ["numpy_logistic"],
        "strategy": ["probability_band"],
        "command": ["example-info"],
    }
    if as_json:
        click.echo(json.dumps({"version": __version__, "provides": provides}))
        return
    click.echo(f"qlop-example-plugin {__version__}")
    for kind, names in provides.items():
        click.echo(f"  {kind}: {', '.join(names)}")
