"""Turn a task's event stream into what the live panel draws (pure; no Streamlit here).

Events are ``{v, task_id, seq, timestamp_utc, type, payload}``. ``progress`` payloads carry the stage,
its step and total, and ETAs for the stage and the whole run; ``status`` events mark stage starts/ends
and, last, the run's ``completed`` or ``failed``; ``log`` events are the streaming log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from qlop.gui.subscriber import is_final


def _first(payload: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        if payload.get(key) is not None:
            return payload[key]
    return None


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
        if self.state == "completed":
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


def log_line(event: dict[str, Any]) -> str:
    payload = event.get("payload") or {}
    stamp = str(event.get("timestamp_utc", ""))[11:19]
    level = payload.get("level", "INFO")
    message = _first(payload, "message", "msg", "text")
    return f"{stamp} {level:<7} {message if message is not None else payload}"


def summarize(events: list[dict[str, Any]]) -> LiveView:
    """Fold events (in seq order) into a :class:`LiveView`."""
    view = LiveView()
    for event in events:
        payload = event.get("payload") or {}
        kind = event.get("type")
        view.n_events += 1
        view.last_seq = max(view.last_seq, int(event.get("seq", 0)))
        if kind == "log":
            view.log.append(log_line(event))
        elif kind == "progress":
            name = str(_first(payload, "stage") or "run")
            stage = view.stages.setdefault(name, StageView(name))
            stage.step = int(_first(payload, "step") or 0)
            stage.total = _first(payload, "total")
            stage.unit = str(_first(payload, "unit") or stage.unit)
            stage.eta = _first(payload, "eta_stage_s", "stage_eta_s", "eta_stage", "eta_s", "eta")
            stage.message = _first(payload, "message") or stage.message
            overall = _first(payload, "run_fraction", "overall_fraction", "fraction_run", "run_progress")
            if overall is not None:
                view.overall = max(view.overall, float(overall))
            view.eta = _first(payload, "eta_run_s", "run_eta_s", "eta_run", "eta_total_s")
            if view.status == "waiting":
                view.status = "running"
        elif kind == "status":
            state = str(_first(payload, "status", "state") or "")
            name = payload.get("stage")
            if name and not is_final(event):
                stage = view.stages.setdefault(str(name), StageView(str(name)))
                stage.state = state or stage.state
                if state in ("completed", "skipped", "cached"):
                    stage.step = stage.total or stage.step
                if payload.get("error"):
                    stage.message = str(payload["error"])
            if name is None or is_final(event):
                view.status = state or view.status
            elif view.status == "waiting":
                view.status = "running"
            if payload.get("run_dir"):
                view.run_dir = str(payload["run_dir"])
            if payload.get("error"):
                view.error = str(payload["error"])
            if is_final(event):
                view.finished = True
                view.eta = 0.0
                if state == "completed":
                    view.overall = 1.0
        elif kind == "artifact_path":
            name = str(_first(payload, "name", "artifact") or f"artifact {len(view.artifacts) + 1}")
            view.artifacts[name] = str(_first(payload, "path") or "")
        elif kind == "metric":
            name = _first(payload, "name", "metric")
            if name is not None:
                view.metrics[str(name)] = payload.get("value")
            else:
                view.metrics.update({k: v for k, v in payload.items() if k != "stage"})
    if not view.overall and view.stages:
        view.overall = sum(s.fraction for s in view.stages.values()) / max(len(view.stages), 1) * 0.99
    return view


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "ETA -"
    seconds = max(0, int(round(float(seconds))))
    minutes, sec = divmod(seconds, 60)
    return f"ETA {minutes}:{sec:02d}" if minutes < 60 else f"ETA {minutes // 60}h{minutes % 60:02d}"
