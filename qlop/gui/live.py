"""Turn a task's event stream into what the live panel draws (pure; no Streamlit here).

Events are ``{v, task_id, seq, timestamp_utc, type, payload}``. ``progress`` payloads carry the stage,
its step and total, and ETAs for the stage and the whole run; ``status`` events mark stage starts/ends
and, last, the run's ``completed`` or ``failed``; ``log`` events are the streaming log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from qlop.live.protocol import is_final


@dataclass
class StageView:
    name: str
    step: int = 0
    total: int | None = None
    unit: str = "step"
    eta: float | None = None
    state: str = "running"
    message: str | None = None

    @property
    def fraction(self) -> float:
        if self.state in ("completed", "cached", "skipped"):
            return 1.0
        if not self.total:
            return 0.0
        return max(0.0, min(1.0, self.step / self.total))


@dataclass
class LiveView:
    """The state of a run as its events describe it."""

    status: str = "waiting"
    stages: dict[str, StageView] = field(default_factory=dict)
    overall: float = 0.0
    eta: float | None = None
    log: list[str] = field(default_factory=list)
    artifacts: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    finished: bool = False
    n_events: int = 0
    last_seq: int = 0
    run_dir: str | None = None


def _status_text(payload: dict[str, Any]) -> str:
    status = str(payload.get("status") or "")
    stage = payload.get("stage")
    text = f"{stage} {status.removeprefix('stage_')}" if stage else f"run {status}"
    if payload.get("seconds") is not None and status.endswith("completed"):
        text += f" in {float(payload['seconds']):.1f}s"
    if payload.get("error"):
        text += f": {payload['error']}"
    return text


def log_line(event: dict[str, Any]) -> str | None:
    """One line of the streaming log for a log, status, artifact or metric event (None for progress)."""
    payload = event.get("payload") or {}
    kind = event.get("type")
    stamp = str(event.get("timestamp_utc", ""))[11:19]
    if kind == "log":
        text = f"{payload.get('level', 'INFO'):<8} {payload.get('message', '')}"
        if payload.get("error"):
            text += f" ({payload['error']})"
    elif kind == "status":
        text = f"{'STATUS':<8} {_status_text(payload)}"
    elif kind == "artifact_path":
        text = f"{'OUTPUT':<8} {payload.get('name')}: {payload.get('path')}"
    elif kind == "metric":
        value = payload.get("value")
        shown = f"{value:.6g}" if isinstance(value, float) else str(value)
        text = f"{'METRIC':<8} {payload.get('name')} = {shown}"
    else:
        return None
    return f"{stamp} {text}"


def summarize(events: list[dict[str, Any]]) -> LiveView:
    """Fold events (in seq order) into a :class:`LiveView`."""
    view = LiveView()
    for event in events:
        payload = event.get("payload") or {}
        kind = event.get("type")
        view.n_events += 1
        view.last_seq = max(view.last_seq, int(event.get("seq", 0)))
        line = log_line(event)
        if line is not None:
            view.log.append(line)
        if kind == "progress":
            name = str(payload.get("stage") or "run")
            stage = view.stages.setdefault(name, StageView(name))
            if stage.state == "pending":
                stage.state = "running"
            stage.step = int(payload.get("step") or 0)
            stage.total = payload.get("total")
            stage.unit = str(payload.get("unit") or stage.unit)
            stage.eta = payload.get("eta_stage_s")
            stage.message = payload.get("message") or stage.message
            if payload.get("kind") == "end":
                ok = payload.get("ok", True)
                stage.state = "completed" if ok else "failed"
                if ok:
                    stage.step = stage.total or stage.step
            if payload.get("run_fraction") is not None:
                view.overall = max(view.overall, float(payload["run_fraction"]))
            if payload.get("eta_run_s") is not None:
                view.eta = payload["eta_run_s"]
            if view.status == "waiting":
                view.status = "running"
        elif kind == "status":
            state = str(payload.get("status") or "")
            name = payload.get("stage")
            if is_final(event):
                view.status, view.finished, view.eta = state, True, 0.0
                if payload.get("interrupted"):
                    view.status = "cancelled"
                if state == "completed":
                    view.overall = 1.0
                    for stage in view.stages.values():
                        if stage.state in ("pending", "running"):
                            stage.state = "completed"
            elif name:
                stage = view.stages.setdefault(str(name), StageView(str(name)))
                stage.state = state.removeprefix("stage_").replace("started", "running")
                if stage.state in ("completed", "cached", "skipped"):
                    stage.step = stage.total or stage.step
                    stage.eta = 0.0
                view.status = f"running: {name}" if stage.state == "running" else "running"
            else:
                view.status = "running" if state == "started" else state
                for stage_name in payload.get("stages") or []:
                    view.stages.setdefault(str(stage_name), StageView(str(stage_name), state="pending"))
            if payload.get("run_dir"):
                view.run_dir = str(payload["run_dir"])
            if payload.get("error"):
                view.error = str(payload["error"])
        elif kind == "artifact_path":
            view.artifacts[str(payload.get("name") or len(view.artifacts))] = str(payload.get("path") or "")
        elif kind == "metric" and payload.get("name") is not None:
            view.metrics[str(payload["name"])] = payload.get("value")
    if not view.overall and view.stages:
        view.overall = sum(s.fraction for s in view.stages.values()) / max(len(view.stages), 1) * 0.99
    return view


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "ETA -"
    seconds = max(0, int(round(float(seconds))))
    minutes, sec = divmod(seconds, 60)
    return f"ETA {minutes}:{sec:02d}" if minutes < 60 else f"ETA {minutes // 60}h{minutes % 60:02d}"
