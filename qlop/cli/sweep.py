"""``qlop sweep -c SWEEP.toml``: run every variant of a base config over the sweep file's axes on Dask.

Exit codes: 0 every variant completed; 1 the sweep ran but some variants failed (each recorded with
its one-line error); 2 a bad sweep file or variant (nothing run); 130/143 interrupted (finished
variants are kept, running the same command again resumes).
"""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from qlop.cli.common import cluster_options, cluster_spec

#: Exit code of a sweep in which some variants failed.
EXIT_SOME_FAILED = 1


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM stops the sweep like Ctrl-C does (futures cancelled, finished variants kept)."""
    from qlop.runs import RunInterrupted

    def handler(signum: int, frame: Any) -> None:
        raise RunInterrupted(signum)

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@click.command("sweep")
@click.option(
    "-c",
    "--config",
    "sweep_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="Sweep file (TOML, JSON or YAML): a base config and the axes to vary.",
)
@cluster_options
@click.option(
    "--sweep-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Where the sweep's outputs go (default <runs_dir>/sweeps/<sweep name>); rerunning into it resumes.",
)
@click.option("--force", is_flag=True, help="Recompute every stage of every variant, ignoring cached results.")
@click.pass_context
def sweep_cmd(
    ctx: click.Context, sweep_path: str, workers: int | None, scheduler: str | None, sweep_dir: str | None, force: bool
) -> None:
    """Run a base config over a grid (or a random sample) of config values, as Dask tasks.

    Every variant is validated before anything runs. Stages shared by variants (same data and features,
    different strategy) run once; a rerun recomputes only what changed. Writes sweep.json,
    results.parquet, report.html and every variant's run directory under runs/ in the sweep directory,
    and counts every backtested variant in the experiment's trials ledger (<runs_dir>/trials/).
    """
    from qlop.cli.main import ensure_plugin_manager
    from qlop.cli.run import cli_state
    from qlop.errors import ConfigError
    from qlop.live.protocol import TASK_ID_RULE, valid_task_id
    from qlop.runs import RunInterrupted
    from qlop.scale.layout import default_sweep_dir
    from qlop.scale.sweep import SweepOptions, run_sweep
    from qlop.scale.sweepfile import load_sweep

    spec = cluster_spec(workers, scheduler)
    state = cli_state(ctx)
    task_id = state.stream_to_ws
    if task_id is not None and not valid_task_id(task_id):
        raise ConfigError(f"--stream-to-ws: task id {task_id!r}: {TASK_ID_RULE}")
    manager = ensure_plugin_manager(ctx)
    sweep = load_sweep(sweep_path, manager)
    first = sweep.variants[0].config
    target = Path(sweep_dir) if sweep_dir else default_sweep_dir(first.runs_dir, sweep.name)
    if target.exists() and not target.is_dir():
        raise ConfigError(f"--sweep-dir: {target} exists and is not a directory")
    options = SweepOptions(
        sweep_dir=target,
        cluster=spec,
        force=force,
        task_id=task_id,
        stream=task_id is not None,
        ws_url=state.ws_url,
        command=["qlop", *sys.argv[1:]],
        echo=lambda line: click.echo(line, err=True),
    )
    try:
        with _sigterm_interrupts():
            outcome = run_sweep(sweep, options, manager)
    except KeyboardInterrupt:
        click.echo(
            f"Interrupted: {target} keeps every finished variant; run the same command again to resume.", err=True
        )
        ctx.exit(130)
    except RunInterrupted as exc:
        click.echo(
            f"Terminated: {target} keeps every finished variant; run the same command again to resume.", err=True
        )
        ctx.exit(128 + exc.signum)
    print_sweep_summary(outcome)
    if outcome.failed:
        click.echo(f"{len(outcome.failed)} of {len(outcome.records)} variants failed (see sweep.json).", err=True)
        ctx.exit(EXIT_SOME_FAILED)


def print_sweep_summary(outcome: Any) -> None:
    """Where the outputs are, the best variants and the trial statistics."""
    summary = outcome.summary
    layout = outcome.layout
    counts = summary["counts"]
    from qlop.formatting import duration

    click.echo(
        f"{summary['status']}: {counts['completed']} of {summary['n_variants']} variants completed "
        f"in {duration(summary['seconds'])}; stage sharing saved "
        f"{duration(summary['timings'].get('saved_by_sharing_seconds', 0.0))} of compute"
    )
    from qlop.formatting import format_metric
    from qlop.scale.sweepfile import value_text

    done = [r for r in outcome.records if r.status == "completed" and r.metrics.get("sharpe") is not None]
    done.sort(key=lambda r: r.metrics["sharpe"], reverse=True)
    for record in done[:5]:
        values = ", ".join(f"{k}={value_text(v)}" for k, v in record.values.items())
        click.echo(
            f"  {record.id}  Sharpe {format_metric('sharpe', record.metrics['sharpe'])}  "
            f"deflated {format_metric('deflated_sharpe', record.deflated_sharpe)}  {values}"
        )
    stats = summary.get("statistics")
    ledger = summary.get("trials_ledger")
    if stats:
        tried = f"; best of {ledger['n_tried']} tried under {ledger['name']!r}" if ledger else ""
        click.echo(
            f"SR0 (expected best Sharpe of {stats['n_trials']} by luck) "
            f"{format_metric('sharpe', stats['sr0_annualized'])}{tried}"
        )
    click.echo(f"results: {layout.results}")
    click.echo(f"report:  {layout.report}")
