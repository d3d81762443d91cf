"""``qlop runs list`` and ``qlop runs show DIR``: what each run directory holds, from its manifest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

#: Backtest metrics shown by ``runs list`` (when the backtest wrote them), in the one number style.
LIST_METRICS = ("total_return", "cagr", "sharpe", "max_drawdown", "n_trades")


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _metric(metrics: dict[str, Any], name: str) -> Any:
    if name in metrics:
        return metrics[name]
    for section in metrics.values():
        if isinstance(section, dict) and name in section:
            return section[name]
    return None


@click.group("runs")
def cli() -> None:
    """List and summarise run directories."""


@cli.command("list")
@click.option("--runs-dir", default="runs", show_default=True, type=click.Path(file_okay=False),
              help="Folder holding the run directories.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_cmd(runs_dir: str, as_json: bool) -> None:
    """One line per run, newest first: id, status, time, stages and headline backtest metrics."""
    from qlop.runs import iter_run_dirs, run_summary

    summaries = [run_summary(d) for d in iter_run_dirs(runs_dir)]
    if as_json:
        click.echo(json.dumps(summaries, indent=2, default=str))
        return
    if not summaries:
        click.echo(f"no runs under {runs_dir}/")
        return
    from qlop.formatting import duration, format_metric, metric_label, timestamp

    header = ["run", "config", "status", "started (UTC)", "time", "stages", *(metric_label(m) for m in LIST_METRICS)]
    rows = [[s["run_id"], s.get("name") or "-", s["status"], timestamp(s.get("started_utc")),
             duration(s.get("seconds")), stages_summary(s["stages"]),
             *(format_metric(m, _metric(s["metrics"], m)) for m in LIST_METRICS)] for s in summaries]
    for line in _columns(header, rows, right_from=len(header) - len(LIST_METRICS)):
        click.echo(line)


def _columns(header: list[str], rows: list[list[str]], right_from: int) -> list[str]:
    """Plain aligned columns (readable when piped); columns from ``right_from`` on are numbers."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    return ["  ".join(str(cell).rjust(w) if i >= right_from else str(cell).ljust(w)
                      for i, (cell, w) in enumerate(zip(row, widths))).rstrip() for row in [header, *rows]]


def stages_summary(stages: dict[str, str | None]) -> str:
    """``4/5 done (2 cached)``, or where a run stopped: ``2/5 done, train interrupted``."""
    planned = {k: v for k, v in stages.items() if v != "skipped"}
    done = [k for k, v in planned.items() if v in ("completed", "cached")]
    cached = sum(1 for v in planned.values() if v == "cached")
    text = f"{len(done)}/{len(planned)} done" + (f" ({cached} cached)" if cached else "")
    stopped = next((f"{k} {v}" for k, v in planned.items() if v in ("failed", "interrupted", "running")), None)
    return f"{text}, {stopped}" if stopped else text


@cli.command("show")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
def show_cmd(run_dir: str, as_json: bool) -> None:
    """A run's status, versions, plugins, stages (status, time, artefacts) and metrics."""
    from qlop.errors import ArtifactError
    from qlop.runs import read_manifest, run_summary

    path = Path(run_dir)
    manifest = read_manifest(path)
    if manifest is None:
        raise ArtifactError(f"{path / 'manifest.json'} not found or unreadable: not a run directory")
    if as_json:
        click.echo(json.dumps(manifest, indent=2, default=str))
        return
    summary = run_summary(path)
    click.echo(f"run      {path}")
    click.echo(f"name     {manifest.get('name')}")
    status = manifest.get("status")
    click.echo(f"status   {status}" + (f" ({manifest['error']})" if manifest.get("error") else ""))
    click.echo(f"started  {manifest.get('started_utc')}  finished {manifest.get('finished_utc') or '-'}  "
               f"({_fmt(manifest.get('seconds'))} s, attempt {manifest.get('attempts')})")
    click.echo(f"config   {str(manifest.get('config_hash'))[:16]}  qlop {manifest.get('qlop_version')}  "
               f"python {manifest.get('python')}")
    libs = manifest.get("libraries") or {}
    click.echo("libs     " + ", ".join(f"{k} {v}" for k, v in libs.items() if v))
    plugins = manifest.get("plugins") or []
    click.echo("plugins  " + ", ".join(f"{p['name']} {p.get('version') or ''} [{p.get('source')}]".replace("  ", " ")
                                       for p in plugins))
    click.echo("stages")
    for stage, record in (manifest.get("stages") or {}).items():
        st = record.get("status")
        if st == "skipped":
            continue
        secs = record.get("seconds")
        extra = f" from {Path(record['cached_from']).name}" if record.get("cached_from") else ""
        err = f"  {record['error']}" if record.get("error") else ""
        click.echo(f"  {stage:<9} {st:<11} {_fmt(secs) + ' s' if secs is not None else '':>9}{extra}{err}")
        for name, out in (record.get("outputs") or {}).items():
            click.echo(f"      {name:<18} {out['path']}  sha256:{out['sha256'][:12]}")
    metrics = summary["metrics"]
    if metrics:
        click.echo("metrics")
        from qlop.stages.pipeline import flatten_metrics

        for name, value in flatten_metrics(metrics).items():
            click.echo(f"  {name:<28} {value:.6g}")
