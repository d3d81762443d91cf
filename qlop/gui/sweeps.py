"""What the Sweeps page needs, without Streamlit: building and validating a sweep from a base config and
axes, finding sweep directories, and the state of a sweep's variants for the grid that fills in.

A sweep launched from the page is an ordinary ``qlop sweep`` process; its file (an inline base and the
axes, as JSON) is checked first by the same loader the CLI uses (:func:`qlop.scale.sweepfile.load_sweep`:
every variant validated, one line per bad variant). The variants' state comes from the sweep's events
folded by the one progress model (:class:`qlop.live.progress_model.SweepState`), over what
``sweep.json`` says (axis values, run directories, and the statuses of a sweep watched after the fact).
"""

from __future__ import annotations

import json
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qlop.errors import ConfigError
from qlop.live.progress_model import SweepState
from qlop.scale.layout import SweepLayout, default_sweep_dir

#: Metrics the page shows per variant (the sweep's headline metrics, in this order).
SHOWN_METRICS = ("sharpe", "deflated_sharpe", "cagr", "max_drawdown", "n_trades", "auc")
#: Cell text of a grid cell that has no finished variant yet.
CELL_TEXT = {"pending": "pending", "running": "running...", "failed": "failed", "interrupted": "interrupted"}
#: ``sweep.json`` statuses of a sweep that is no longer running.
FINAL_STATUSES = ("completed", "some_failed", "failed", "interrupted")
NAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_."


def valid_name(name: str) -> bool:
    """A sweep name usable as one directory name (also what a URL may carry)."""
    return bool(name) and name not in (".", "..") and all(c in NAME_CHARS for c in name) and len(name) <= 100


def parse_values(path: str, text: str) -> list[Any]:
    """An axis's values from TOML array text (``[1.5, 2.0]``, ``["a", "b"]``, ``[2006-01-01]``)."""
    try:
        values = tomllib.loads(f"values = {text.strip()}")["values"]
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"axes: {path}: values {text.strip()!r} are not a TOML array ({exc})") from None
    if not isinstance(values, list) or not values:
        raise ConfigError(f"axes: {path}: values must be a non-empty TOML array such as [1.5, 2.0]")
    return values


def sweep_data(
    base: dict[str, Any],
    axes: list[tuple[str, str]],
    *,
    name: str,
    mode: str = "grid",
    samples: int | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """The sweep file's content: the inline base and the axes (``(dotted path, TOML array text)``)."""
    if not valid_name(name):
        raise ConfigError(f"name: {name!r}: use letters, digits, '-', '_' and '.' (it names the sweep's folder)")
    parsed = []
    for path, text in axes:
        path = (path or "").strip()
        if not path:
            continue
        if path == "plugins_dir" or path.startswith("plugins_dir."):
            raise ConfigError("axes: plugins_dir: not accepted from the GUI (it would import Python files)")
        parsed.append({"path": path, "values": parse_values(path, text or "")})
    if not parsed:
        raise ConfigError("axes: add at least one axis (a dotted config path and its values)")
    data: dict[str, Any] = {"name": name, "base": base, "mode": mode, "axes": parsed}
    if mode == "random":
        data.update(samples=samples, seed=seed)
    return data


def write_sweep(data: dict[str, Any], path: Path) -> Path:
    """Write the sweep file (JSON) atomically; dates become ISO strings, which configs accept."""
    from qlop.atomic import write_text

    write_text(path, json.dumps(data, indent=2, default=str))
    return path


def check_sweep(data: dict[str, Any]) -> Any:
    """Validate every variant exactly as ``qlop sweep`` will (raises the CLI's error); return the sweep."""
    from qlop.scale.sweepfile import load_sweep

    with tempfile.TemporaryDirectory(prefix="qlop-gui-sweep-") as tmp:
        return load_sweep(write_sweep(data, Path(tmp) / f"{data['name']}.json"))


def sweep_dir(runs_dir: Path, name: str) -> Path:
    return default_sweep_dir(runs_dir, name)


# -- existing sweeps ------------------------------------------------------------------------------


def read_sweep_json(root: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(SweepLayout(root).sweep_json.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


@dataclass
class SweepSummary:
    name: str
    path: Path
    status: str
    n_variants: int
    counts: dict[str, int]
    started_utc: str | None


def list_sweeps(runs_dir: Path) -> list[SweepSummary]:
    """Sweep directories under ``<runs_dir>/sweeps`` (those with a ``sweep.json``), newest first."""
    root = default_sweep_dir(runs_dir, "x").parent
    found = []
    for path in root.glob(f"*/{SweepLayout.SWEEP_JSON}") if root.is_dir() else []:
        data = read_sweep_json(path.parent) or {}
        found.append(
            SweepSummary(
                path.parent.name,
                path.parent,
                str(data.get("status") or "-"),
                int(data.get("n_variants") or 0),
                dict(data.get("counts") or {}),
                data.get("started_utc"),
            )
        )
    return sorted(found, key=lambda s: (s.started_utc or "", s.name), reverse=True)


def resolve_sweep(runs_dir: Path, name: str) -> Path | None:
    """The sweep directory called ``name`` under ``<runs_dir>/sweeps`` (no path tricks from the URL)."""
    if not valid_name(name):
        return None
    return sweep_dir(runs_dir, name)


# -- a sweep's variants ---------------------------------------------------------------------------


@dataclass
class VariantRow:
    id: str
    values: dict[str, Any]
    status: str  # pending | running | completed | failed | interrupted
    metrics: dict[str, Any] = field(default_factory=dict)
    run_dir: str | None = None
    error: str | None = None


@dataclass
class SweepView:
    """A sweep as the page draws it."""

    axes: list[str]
    variants: list[VariantRow]
    status: str
    finished: bool
    error: str | None = None
    statistics: dict[str, Any] | None = None

    @property
    def total(self) -> int:
        return len(self.variants)

    def count(self, status: str) -> int:
        return sum(1 for v in self.variants if v.status == status)

    @property
    def done(self) -> int:
        return sum(1 for v in self.variants if v.status in ("completed", "failed"))


def fold_sweep(events: list[dict[str, Any]]) -> SweepState:
    state = SweepState()
    for event in events:
        state.apply(event)
    return state


def sweep_view(summary: dict[str, Any] | None, events: list[dict[str, Any]]) -> SweepView:
    """Variants from ``sweep.json`` (axis values, run dirs, statuses when it was written) updated by the
    sweep's events since (a variant that ended, one whose tasks are reporting)."""
    summary = summary or {}
    state = fold_sweep(events)
    axes = [a.get("path") for a in summary.get("axes") or [] if isinstance(a, dict)]
    rows: dict[str, VariantRow] = {}
    for record in summary.get("variants") or []:
        if isinstance(record, dict) and record.get("id"):
            rows[record["id"]] = VariantRow(
                str(record["id"]),
                dict(record.get("values") or {}),
                str(record.get("status") or "pending"),
                {**(record.get("metrics") or {}), "deflated_sharpe": record.get("deflated_sharpe")},
                record.get("run_dir") or None,
                record.get("error"),
            )
    started = state.sweep.status != "waiting" or state.variants
    for vid, vstate in state.variants.items():
        row = rows.setdefault(vid, VariantRow(vid, {}, "pending"))
        if vstate.finished:
            row.status = vstate.status
            row.error = vstate.error or row.error
            row.metrics = {**row.metrics, **{k: v for k, v in vstate.metrics.items() if k in SHOWN_METRICS}}
            row.run_dir = vstate.run_dir or row.run_dir
        elif vstate.n_events and row.status == "pending":
            row.status = "running"
    status = str(summary.get("status") or ("running" if started else "starting"))
    if state.finished and status in ("running", "starting"):  # the final event came before sweep.json
        status = state.sweep.status
    finished = state.finished or status in FINAL_STATUSES
    if not axes:
        axes = sorted({p for r in rows.values() for p in r.values})
    return SweepView(
        axes,
        sorted(rows.values(), key=lambda r: r.id),
        status,
        finished,
        state.sweep.error or summary.get("error"),
        summary.get("statistics"),
    )


def value_label(value: Any) -> str:
    from qlop.scale.sweepfile import value_text

    return value_text(value)


def variant_table(view: SweepView) -> list[dict[str, Any]]:
    """One row per variant: id, axis values, status, headline metrics (one number style), error."""
    from qlop.formatting import format_metric, metric_label

    rows = []
    for v in view.variants:
        row: dict[str, Any] = {"variant": v.id}
        row.update({axis: value_label(v.values.get(axis)) for axis in view.axes})
        row["status"] = v.status
        for key in SHOWN_METRICS:
            value = v.metrics.get(key)
            row[metric_label(key)] = format_metric(key, value) if value is not None else ""
        row["error"] = v.error or ""
        rows.append(row)
    return rows


def grid(view: SweepView, metric: str = "sharpe") -> tuple[str, str, list[str], list[str], list[list[str]]] | None:
    """The grid over the first two axes: ``(row axis, column axis, row labels, column labels, cells)``.

    A cell holds the variants at that pair of values (over the other axes): the mean of ``metric`` once
    they all completed, else what they are doing (``running...``, ``pending``, ``failed``). None with
    fewer than two axes (the variant table is the grid then).
    """
    from qlop.formatting import format_metric

    if len(view.axes) < 2:
        return None
    ra, ca = view.axes[0], view.axes[1]
    rlabels = list(dict.fromkeys(value_label(v.values.get(ra)) for v in view.variants))
    clabels = list(dict.fromkeys(value_label(v.values.get(ca)) for v in view.variants))
    cells = []
    for r in rlabels:
        line = []
        for c in clabels:
            group = [
                v for v in view.variants if value_label(v.values.get(ra)) == r and value_label(v.values.get(ca)) == c
            ]
            line.append(_cell(group, metric, format_metric))
        cells.append(line)
    return ra, ca, rlabels, clabels, cells


def _cell(group: list[VariantRow], metric: str, fmt: Any) -> str:
    if not group:
        return ""
    statuses = {v.status for v in group}
    if statuses == {"completed"}:
        values = [float(v.metrics[metric]) for v in group if v.metrics.get(metric) is not None]
        return fmt(metric, sum(values) / len(values)) if values else "-"
    for status in ("failed", "interrupted", "running", "pending"):
        if status in statuses:
            done = sum(1 for v in group if v.status == "completed")
            suffix = f" ({done}/{len(group)})" if len(group) > 1 and done else ""
            return CELL_TEXT[status] + suffix
    return "-"
