"""The CLI's tables, drawn by rich: backtest metrics, runs, walk-forward folds, panel summaries.

Each builder returns a :class:`rich.table.Table`; :func:`echo_table` prints it at the terminal's width
on a TTY and unwrapped (as wide as its content) anywhere else, so piped output keeps one row per line.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from rich.console import RenderableType
    from rich.table import Table


def render(renderable: "RenderableType", width: int | None = None) -> str:
    """Plain text of a rich renderable (no colour); ``width=None`` makes it as wide as its content
    (and strips the padding at the end of each line)."""
    from io import StringIO

    from rich.console import Console

    fitted = width is None
    if width is None:
        width = Console(file=StringIO(), width=100_000).measure(renderable).maximum
    buf = StringIO()
    Console(file=buf, width=max(int(width), 1), force_terminal=False, color_system=None, highlight=False).print(
        renderable
    )
    text = buf.getvalue().rstrip("\n")
    return "\n".join(line.rstrip() for line in text.splitlines()) if fitted else text


def echo_table(table: "RenderableType") -> None:
    from rich.console import Console

    console = Console(highlight=False)
    if console.is_terminal:
        console.print(table)
    else:
        click.echo(render(table))


def _plain_table(*columns: str, right: tuple[str, ...] = (), title: str | None = None) -> "Table":
    """A borderless table (grep-friendly: one row per line, cells separated by spaces)."""
    from rich.table import Table

    table = Table(title=title, box=None, pad_edge=False, title_justify="left")
    for name in columns:
        table.add_column(name, justify="right" if name in right else "left", no_wrap=True)
    return table


# -- qlop backtest / run / demo -----------------------------------------------------------------


def metrics_table(metrics: dict[str, Any]) -> "Table":
    """The backtest metrics in the rows and number style the report shows (:func:`qlop.formatting.metric_rows`)."""
    from rich.table import Table

    from qlop.formatting import metric_rows

    table = Table(title=f"Backtest: {metrics.get('strategy') or 'backtest'}", show_header=True)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for label, value, _ in metric_rows(metrics):
        table.add_row(label, value)
    return table


#: Metrics explained under the terminal's table.
NOTED_METRICS = ("avg_gross_leverage", "deflated_sharpe")


def metric_notes(metrics: dict[str, Any], width: int = 100) -> str:
    """The explanation of the figures that read like a bug without a word, for under the table: an
    exposure averaged over idle days, and a deflated Sharpe equal to the probabilistic one after a
    single trial."""
    import textwrap

    from qlop.formatting import metric_help, metric_label

    return "\n".join(
        textwrap.fill(f"{metric_label(k, metrics)}: {metric_help(k)}", width=width, subsequent_indent="  ")
        for k in NOTED_METRICS
        if k in metrics
    )


# -- qlop runs ---------------------------------------------------------------------------------------

#: Backtest metrics shown by ``runs list`` (when the backtest wrote them), in the one number style.
LIST_METRICS = ("total_return", "cagr", "sharpe", "max_drawdown", "n_trades")


def short_number(value: Any) -> str:
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


def stages_summary(stages: dict[str, str | None]) -> str:
    """``4/5 done (2 cached)``, or where a run stopped: ``2/5 done, train interrupted``."""
    planned = {k: v for k, v in stages.items() if v != "skipped"}
    done = [k for k, v in planned.items() if v in ("completed", "cached")]
    cached = sum(1 for v in planned.values() if v == "cached")
    text = f"{len(done)}/{len(planned)} done" + (f" ({cached} cached)" if cached else "")
    stopped = next((f"{k} {v}" for k, v in planned.items() if v in ("failed", "interrupted", "running")), None)
    return f"{text}, {stopped}" if stopped else text


def runs_table(summaries: list[Any]) -> "Table":
    """One row per run (:class:`qlop.runs.RunSummary`): id, config, status, start, time, stages, headline
    metrics."""
    from qlop.formatting import duration, format_metric, metric_label, timestamp

    table = _plain_table(
        "run",
        "config",
        "status",
        "started (UTC)",
        "time",
        "stages",
        *(metric_label(m) for m in LIST_METRICS),
        right=tuple(metric_label(m) for m in LIST_METRICS),
    )
    for s in summaries:
        table.add_row(
            s.run_id,
            s.name or "-",
            s.status,
            timestamp(s.started_utc),
            duration(s.seconds),
            stages_summary(s.stages),
            *(format_metric(m, _metric(s.metrics, m)) for m in LIST_METRICS),
        )
    return table


def stages_table(manifest: dict[str, Any]) -> "Table":
    """The stages of a manifest (skipped ones left out), each followed by the artefacts it recorded."""
    table = _plain_table("stage", "status", "seconds", "artefact", "path", "sha256", right=("seconds",))
    for stage, record in (manifest.get("stages") or {}).items():
        status = record.get("status")
        if status == "skipped":
            continue
        secs = record.get("seconds")
        note = f"from {Path(record['cached_from']).name}" if record.get("cached_from") else ""
        table.add_row(
            stage,
            "-" if status is None else str(status),
            short_number(secs) if secs is not None else "",
            note,
            record.get("error") or "",
            "",
        )
        for name, out in (record.get("outputs") or {}).items():  # well-formed: qlop.runs.load_manifest
            table.add_row("", "", "", name, out["path"], out["sha256"][:12])
    return table


# -- qlop train --------------------------------------------------------------------------------------


def _fixed(value: Any, digits: int = 4) -> str:
    return "-" if value is None else (f"{value:.{digits}f}" if isinstance(value, float) else str(value))


def train_table(metrics: dict[str, Any], folds: list[dict[str, Any]]) -> "Table":
    """Per-fold and overall out-of-sample metrics of a walk-forward training."""
    keys = (
        ["auc", "log_loss", "brier", "precision", "recall", "base_rate"]
        if metrics["task"] == "classification"
        else ["ic", "pearson", "rmse", "mae"]
    )
    table = _plain_table("fold", "test window", "n_train", "n_test", *keys, right=("fold", "n_train", "n_test", *keys))
    for f, m in zip(folds, metrics["folds"]):
        table.add_row(
            str(f["fold"]),
            f"{f['test_start']} .. {f['test_end']}",
            str(f["n_train"]),
            str(f["n_test"]),
            *(_fixed(m.get(k)) for k in keys),
        )
    overall = metrics["overall"]
    n_all = metrics.get("n_predictions", overall["n"])  # like the fold rows: every tested row, labelled or not
    table.add_section()
    table.add_row(
        "all",
        f"{folds[0]['test_start']} .. {folds[-1]['test_end']}",
        "",
        str(n_all),
        *(_fixed(overall.get(k)) for k in keys),
    )
    return table


# -- qlop data -------------------------------------------------------------------------------------


def panel_summary(summary: dict[str, Any], title: str, per_ticker: bool = True) -> str:
    """Plain-text rendering of :func:`qlop.stages.data.summarize_panel` (stable, grep-friendly)."""
    intraday = "interval" in summary
    lines = [
        title,
        f"  tickers: {summary['tickers']}   rows: {summary['rows']:,}   "
        f"dates: {summary['first']} .. {summary['last']} ({summary['sessions']:,} sessions)",
        (
            f"  {summary['interval']} bars, session {summary['session']} (times in {summary['timezone']})   "
            f"missing bars (vs the panel's bar starts): {summary['missing_sessions']}   "
            if intraday
            else f"  missing sessions (vs the panel's calendar): {summary['missing_sessions']}   "
        )
        + f"bars without volume: {summary['missing_volume']}",
    ]
    rows = summary["per_ticker"]
    if per_ticker:
        table = _plain_table(
            "ticker",
            "rows",
            "first",
            "last",
            "missing",
            "no-volume",
            "missing dates",
            right=("rows", "missing", "no-volume"),
        )
        for r in rows:
            shown = r.get("missing_dates") or []
            more = ", ..." if shown and r["missing_sessions"] > len(shown) else ""
            table.add_row(
                r["ticker"],
                str(r["rows"]),
                r["first"],
                r["last"],
                str(r["missing_sessions"]),
                str(r["missing_volume"]),
                f"({', '.join(shown)}{more})" if shown else "",
            )
        lines.append(render(table))
    else:
        worst = sorted((r for r in rows if r["missing_sessions"]), key=lambda r: -r["missing_sessions"])[:8]
        if worst:
            lines.append("  most missing: " + ", ".join(f"{r['ticker']} {r['missing_sessions']}" for r in worst))
    if summary["gaps"]:
        lines.append("  biggest gaps between sessions (weekdays without a bar):")
        table = _plain_table("after", "before", "weekdays", "tickers", right=("weekdays",))
        for g in summary["gaps"]:
            who = g["tickers"]
            names = (
                "all tickers"
                if len(who) == summary["tickers"] and len(who) > 1
                else ", ".join(who[:6]) + (f" and {len(who) - 6} more" if len(who) > 6 else "")
            )
            table.add_row(g["after"], g["before"], str(g["weekdays_skipped"]), names)
        lines.append(render(table))
    return "\n".join(lines)
