"""``qlop run`` (the configured stages into a run directory) and ``qlop demo`` (the quickstart).

A run writes every event to ``DIR/events.jsonl`` and, with ``--stream-to-ws TASK_ID``, to the relay.
SIGINT/SIGTERM stop it at the next safe point (a second signal stops it at once): exit 130/143, the
manifest says ``interrupted``, and the next run with the same config resumes from the finished stages.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from qlop.cli.common import cluster_options, cluster_spec, config_option, load_stage_config

#: Seconds a requested stop may wait for a safe point before the run is interrupted at once.
STOP_GRACE_SECONDS = 5.0


@contextlib.contextmanager
def _cooperative_interrupts(grace: float = STOP_GRACE_SECONDS) -> Iterator[None]:
    """First Ctrl-C/SIGTERM: stop at the next safe point; a second one, or ``grace`` seconds without
    a safe point (a plugin step that never reports progress): stop now.

    An interrupt raised asynchronously can land inside a native callback (XGBoost's data iterator),
    where it is swallowed or corrupts the library's state; so the first signal only requests a stop,
    which :mod:`qlop.progress` raises at the next progress call or stage start (see
    ``qlop.progress.request_stop``). Either way atomic writes leave nothing half-written.
    """
    from qlop import progress
    from qlop.runs import RunInterrupted

    def error_for(signum: int) -> BaseException:
        return KeyboardInterrupt() if signum == signal.SIGINT else RunInterrupted(signum)

    timers: list[threading.Timer] = []

    def insist(signum: int, requested: BaseException) -> None:
        if progress.stop_requested() is requested:  # no safe point reached in time
            os.kill(os.getpid(), signum)

    def handler(signum: int, frame: Any) -> None:
        if progress.stop_requested() is not None:
            progress.clear_stop()
            raise error_for(signum)
        requested = error_for(signum)
        progress.request_stop(requested)
        timer = threading.Timer(grace, insist, (signum, requested))
        timer.daemon = True
        timer.start()
        timers.append(timer)
        print("Stopping at the next safe point (interrupt again to stop now)...", file=sys.stderr, flush=True)

    try:
        previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread (e.g. called from a test runner thread)
        yield
        return
    try:
        yield
    finally:
        for timer in timers:
            timer.cancel()
        progress.clear_stop()
        for sig, old in previous.items():
            signal.signal(sig, old)


def cli_state(ctx: click.Context) -> Any:
    """The root's global options (looked up by attribute, so it also works under ``python -m``)."""
    from qlop.cli.main import CliState

    obj = ctx.find_root().obj
    return obj if hasattr(obj, "stream_to_ws") else CliState()


def execute_run(
    ctx: click.Context, config: Any, run_dir: str | Path | None, *, force: bool = False, cluster: Any = None
) -> Any:
    """Run ``config`` with events, streaming and signal handling as the global options say.

    ``cluster`` (a :class:`qlop.scale.cluster.ClusterSpec`) is the run's Dask cluster, started only if
    a stage uses it (the train stage's folds as tasks). Returns the
    :class:`~qlop.stages.pipeline.RunResult`; exits 130/143 when interrupted.
    """
    from qlop.cli.main import ensure_plugin_manager
    from qlop.errors import ConfigError
    from qlop.live.protocol import TASK_ID_RULE, valid_task_id
    from qlop.live.session import RunSession
    from qlop.live.terminal import TerminalView
    from qlop.rundir import RunLock, check_run_dir
    from qlop.runs import RunInterrupted, new_run_dir
    from qlop.stages.pipeline import run_pipeline

    state = cli_state(ctx)
    task_id = state.stream_to_ws
    if task_id is not None and not valid_task_id(task_id):
        raise ConfigError(f"--stream-to-ws: task id {task_id!r}: {TASK_ID_RULE}")
    target = Path(run_dir) if run_dir else new_run_dir(config.runs_dir, config)
    check_run_dir(target, allow_foreign=force, option="--run-dir" if run_dir else "runs_dir")
    manager = ensure_plugin_manager(ctx)
    session = RunSession(target, task_id, stream=task_id is not None, ws_url=state.ws_url, terminal=TerminalView())
    click.echo(f"run dir: {target}", err=True)
    try:
        # the lock first: a refused second run must not append to the first one's events
        with (
            RunLock(target, " ".join(["qlop", *sys.argv[1:]])),
            _cooperative_interrupts(),
            _run_cluster(cluster),
            session,
        ):
            result = run_pipeline(
                config,
                target,
                observer=session,
                force=force,
                manager=manager,
                task_id=session.task_id,
                command=["qlop", *sys.argv[1:]],
            )
        count_trial(config, result.run_dir)
        return result
    except KeyboardInterrupt:
        click.echo(f"Interrupted: {target} keeps every finished stage; run again to resume.", err=True)
        ctx.exit(130)
    except RunInterrupted as exc:
        click.echo(f"Terminated: {target} keeps every finished stage; run again to resume.", err=True)
        ctx.exit(128 + exc.signum)


@contextlib.contextmanager
def _run_cluster(spec: Any) -> Iterator[None]:
    """The run's (lazily started) Dask cluster when ``--workers``/``--scheduler`` were given."""
    if spec is None:
        yield
        return
    from qlop.scale.cluster import cluster_session

    with cluster_session(spec):
        yield


def count_trial(config: Any, run_dir: Path) -> None:
    """Record a backtested run in its experiment's trials ledger and say how many were tried."""
    from qlop.trials import ledger_path, record_run

    try:
        n = record_run(config, run_dir)
    except OSError as exc:  # the ledger is bookkeeping: it never fails a finished run
        click.echo(f"warning: trials ledger not updated: {exc}", err=True)
        return
    if n is not None:
        click.echo(
            f"trials: {n} distinct backtested config(s) named {config.name!r} so far "
            f"({ledger_path(config.runs_dir, config.name)})",
            err=True,
        )


def print_run_summary(result: Any) -> None:
    """One line: status, total time, run directory and how many stages ran or came from the cache.

    Each stage's own time was printed once already, as the stage finished (``train     done in 5.7s``).
    """
    from collections import Counter

    from qlop.formatting import duration

    manifest = result.manifest
    counts = Counter(status for status in result.stages.values() if status != "skipped")
    stages = ", ".join(f"{n} {status}" for status, n in counts.items())
    click.echo(
        f"{result.status} in {duration(manifest.get('seconds'))}: {result.run_dir}"
        + (f" (stages: {stages})" if stages else "")
    )


@click.command("run")
@config_option
@click.option(
    "--run-dir",
    "run_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Run directory (default <runs_dir>/<UTC timestamp>-<config hash>); rerunning into it resumes.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Rerun every stage, ignoring cached results (and write into a non-empty --run-dir that is not a QLOP run).",
)
@cluster_options
@click.pass_context
def run_cmd(
    ctx: click.Context, config_path: str, run_dir: str | None, force: bool, workers: int | None, scheduler: str | None
) -> None:
    """Run the configured stages (data, features and labels, train, backtest, export) into a run directory.

    Stages whose config section is absent are skipped. A stage whose inputs and config are unchanged
    is reused from this or an earlier run under the same runs folder ("cached"). Every event goes to
    DIR/events.jsonl, and live to the relay with --stream-to-ws TASK_ID. With --workers N or
    --scheduler ADDRESS the walk-forward folds train as Dask tasks (predictions identical to a
    serial run).
    """
    spec = cluster_spec(workers, scheduler) if workers is not None or scheduler is not None else None
    config = load_stage_config(ctx, config_path)
    result = execute_run(ctx, config, run_dir, force=force, cluster=spec)
    print_run_summary(result)
    print_answer(result.run_dir)


@click.command("demo")
@click.option(
    "--run-dir",
    "run_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Run directory (default ./runs/<UTC timestamp>-<config hash>).",
)
@click.pass_context
def demo_cmd(ctx: click.Context, run_dir: str | None) -> None:
    """Run examples/quickstart.toml on the embedded sample data into ./runs/ and show the results.

    Leverage-opportunity labels, walk-forward XGBoost, a probability-threshold strategy at leverage
    with costs and financing, and an ONNX export; then the metrics table and the report's path.
    """
    from qlop.examples import quickstart_path

    path = quickstart_path()
    config = load_stage_config(ctx, str(path))
    from qlop.layout import DEFAULT_RUNS_DIR

    config.runs_dir = str(Path.cwd() / DEFAULT_RUNS_DIR)
    result = execute_run(ctx, config, run_dir)
    print_run_summary(result)
    show_results(result.run_dir)


def print_answer(run_dir: Path) -> None:
    """The run's three-part answer (see :mod:`qlop.answer`), for the stages it ran, and under it what
    the answer assumes (the same rows report.html shows)."""
    import textwrap

    from qlop.answer import answer_lines, assumption_rows

    lines = answer_lines(run_dir)
    if lines:
        click.echo("\nThe answer (out of sample, after leverage, margin, financing and costs):")
        for i, line in enumerate(lines, 1):
            click.echo(textwrap.fill(line, width=100, initial_indent=f"  {i}. ", subsequent_indent="     "))
        rows = assumption_rows(run_dir)
        if rows:
            width = max(len(item) for item, _ in rows) + 2
            click.echo("\nAssumptions:")
            for item, text in rows:
                click.echo(
                    textwrap.fill(
                        text, width=100, initial_indent=f"  {item:<{width}}", subsequent_indent=" " * (width + 2)
                    )
                )


def show_results(run_dir: Path) -> None:
    """The backtest metrics table and where the report and the exported model are."""
    import json

    from qlop.layout import RunLayout

    layout = RunLayout(run_dir)
    print_answer(run_dir)
    if layout.backtest_metrics.is_file():
        from qlop.cli.tables import metric_notes, metrics_table, render

        metrics = json.loads(layout.backtest_metrics.read_text(encoding="utf-8"))
        click.echo("")
        click.echo(render(metrics_table(metrics), width=80))
        click.echo(metric_notes(metrics))
    if layout.report.is_file():
        click.echo(f"\nreport: {layout.report.resolve()}")
    for model in layout.exported_models():
        click.echo(f"model:  {model.resolve()}")
