"""The one progress model of a run: overall percentage, ETAs and counters that agree everywhere.

Two halves, one meaning:

- :class:`RunClock` runs inside ``qlop run`` (the :class:`~qlop.live.session.RunSession` feeds it the
  pipeline's stage changes and every :class:`~qlop.progress.ProgressUpdate`). It weighs the stages by
  their *measured* cost (how long each took when it last ran under the same runs folder, else the
  quickstart's figures measured on a 2-core machine), refines the current stage by its own counter and
  its sub-progress (boosting rounds inside a fold), and puts ``run_fraction``, ``eta_run_s``,
  ``eta_stage_s`` and ``stage_fraction`` into every ``progress`` event.
- :class:`RunState` folds a task's events back into what a viewer draws. The terminal bars of
  ``qlop run``, ``qlop ws tail --format pretty`` and the GUI's Live run page all fold the same events
  with it, so the percentage, the ETAs and the ``3/10 fold`` counters are the same numbers everywhere.

The run's ETA is the current stage's remaining time plus the expected time of the stages still to
come (scaled by how fast this run has been against expectation); the overall fraction is
elapsed / (elapsed + ETA), so the bar, the run ETA and the stage ETA can never contradict each other.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qlop.live.protocol import is_final
from qlop.progress import ProgressUpdate

#: Seconds per stage of ``qlop demo`` (examples/quickstart.toml) measured on a loaded 2-core machine:
#: the weights before this runs folder has a measured run of its own.
DEFAULT_STAGE_SECONDS: dict[str, float] = {"data": 0.7, "features": 0.6, "train": 5.7, "backtest": 3.8, "export": 1.9}

#: Bounds on how much faster or slower than expected this run may be assumed to go.
SPEED_BOUNDS = (0.25, 4.0)

#: How many recent run directories are read for measured stage costs.
RECENT_RUNS = 30


def measured_stage_seconds(
    runs_dir: str | Path, config_hash: str | None = None, name: str | None = None
) -> dict[str, float]:
    """Seconds each stage took when it last *ran* (not cached) under ``runs_dir``.

    Runs of the same config are preferred, then runs of the same config name, then any run; stages
    never measured keep :data:`DEFAULT_STAGE_SECONDS`.
    """
    from qlop.runs import iter_run_dirs, read_manifest

    found: list[tuple[int, str, float]] = []  # (preference, stage, seconds), newest run first
    try:
        dirs = list(iter_run_dirs(runs_dir))[:RECENT_RUNS]
    except OSError:
        dirs = []
    for run_dir in dirs:
        manifest = read_manifest(run_dir) or {}
        rank = (
            0
            if config_hash and manifest.get("config_hash") == config_hash
            else 1
            if name and manifest.get("name") == name
            else 2
        )
        for stage, record in (manifest.get("stages") or {}).items():
            seconds = (record or {}).get("seconds")
            if (record or {}).get("status") == "completed" and isinstance(seconds, (int, float)) and seconds > 0:
                found.append((rank, stage, float(seconds)))
    out = dict(DEFAULT_STAGE_SECONDS)
    best: dict[str, int] = {}
    for rank, stage, seconds in found:  # stable: the newest run wins within a preference
        if stage not in best or rank < best[stage]:
            best[stage] = rank
            out[stage] = seconds
    return out


class RunClock:
    """The publisher's estimate of a run's progress (not thread-safe: the session holds a lock)."""

    def __init__(
        self, expected: Mapping[str, float] | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.expected = {**DEFAULT_STAGE_SECONDS, **(expected or {})}
        self.clock = clock
        self.pending: list[str] = []
        self.actual: dict[str, float] = {}
        self.current: str | None = None
        self.stage_started_at: float | None = None
        self.started_at: float | None = None
        self.parent: ProgressUpdate | None = None
        self.sub_fraction = 0.0
        self.best = 0.0

    # -- the pipeline's stage changes --------------------------------------------------------

    def plan(self, stages: Iterable[str]) -> None:
        self.pending = list(stages)
        self.started_at = self.clock()

    def _leave_pending(self, stage: str) -> None:
        if stage in self.pending:
            self.pending.remove(stage)

    def stage_started(self, stage: str) -> None:
        self._leave_pending(stage)
        self.current, self.stage_started_at = stage, self.clock()
        self.parent, self.sub_fraction = None, 0.0
        if self.started_at is None:
            self.started_at = self.stage_started_at

    def stage_done(self, stage: str, seconds: float | None = None) -> None:
        """A stage finished (``seconds`` it ran) or came from the cache / was skipped (``None``)."""
        self._leave_pending(stage)
        if seconds is not None:
            self.actual[stage] = float(seconds)
        if self.current == stage:
            self.current, self.parent, self.sub_fraction = None, None, 0.0

    # -- progress inside a stage -------------------------------------------------------------

    def observe(self, update: ProgressUpdate) -> None:
        if self.current is None:
            return
        if update.stage == self.current:
            if self.parent is None or (update.step, update.extra_done) != (self.parent.step, self.parent.extra_done):
                self.sub_fraction = 0.0  # a new item started: its sub-progress starts over
            self.parent = update
        elif update.stage.startswith(self.current + "."):
            fraction = update.fraction
            if update.kind == "start":
                self.sub_fraction = 0.0
            elif fraction is not None:
                self.sub_fraction = fraction

    def speed(self) -> float:
        """This run's time over the expected time of the stages it ran so far (1.0 before any)."""
        ran = [s for s in self.actual if self.expected.get(s, 0) > 0]
        if not ran:
            return 1.0
        ratio = sum(self.actual[s] for s in ran) / sum(self.expected[s] for s in ran)
        return min(SPEED_BOUNDS[1], max(SPEED_BOUNDS[0], ratio))

    def stage_fraction(self) -> float | None:
        """Share of the current stage done: its items (and extra work), refined by sub-progress."""
        p = self.parent
        if p is None or not p.total:
            return None
        work_total = p.total + p.extra_total
        done = p.step + p.extra_done
        if p.kind == "end":
            return 1.0
        sub = self.sub_fraction if done < work_total else 0.0
        return max(0.0, min(1.0, (done + sub) / work_total))

    def stage_remaining(self, now: float) -> float:
        """Seconds left in the current stage: its plan (measured cost x speed) blended, as its own
        fraction grows, into the linear extrapolation of its progress."""
        if self.current is None or self.stage_started_at is None:
            return 0.0
        elapsed = max(0.0, now - self.stage_started_at)
        planned = self.expected.get(self.current, 1.0) * self.speed()
        by_plan = max(planned - elapsed, 0.25 * elapsed)  # an overrunning stage is never "due now"
        f = self.stage_fraction()
        if not f:
            return by_plan
        if f >= 1.0:
            return 0.0
        linear = elapsed * (1.0 - f) / f
        return f * linear + (1.0 - f) * by_plan

    def snapshot(self, now: float | None = None) -> dict[str, Any]:
        """``run_fraction``, ``eta_run_s``, ``eta_stage_s`` and ``stage_fraction`` at ``now``."""
        now = self.clock() if now is None else now
        stage_eta = self.stage_remaining(now)
        speed = self.speed()
        eta = stage_eta + sum(self.expected.get(s, 1.0) * speed for s in self.pending)
        elapsed = max(0.0, now - self.started_at) if self.started_at is not None else 0.0
        fraction = elapsed / (elapsed + eta) if elapsed + eta > 0 else 0.0
        done = eta <= 0 and not self.pending
        self.best = max(self.best, fraction if done else min(fraction, 0.999))  # never backwards
        sf = self.stage_fraction()
        return {
            "run_fraction": round(self.best, 4),
            "eta_run_s": round(eta, 3),
            "eta_stage_s": round(stage_eta, 3) if self.current else None,
            "stage_fraction": round(sf, 4) if sf is not None else None,
        }


# ------------------------------------------------------------------------- the viewers' side


@dataclass
class StageState:
    """One stage (or sub-progress such as ``train.rounds``) as its events describe it."""

    name: str
    step: int = 0
    total: int | None = None
    unit: str = "step"
    eta: float | None = None
    state: str = "running"
    message: str | None = None
    work_fraction: float | None = None
    seconds: float | None = None

    @property
    def parent(self) -> str:
        return self.name.partition(".")[0]

    @property
    def is_sub(self) -> bool:
        return "." in self.name

    @property
    def fraction(self) -> float:
        if self.state in ("completed", "cached", "skipped"):
            return 1.0
        if self.work_fraction is not None:
            return max(0.0, min(1.0, self.work_fraction))
        if not self.total:
            return 0.0
        return max(0.0, min(1.0, self.step / self.total))

    @property
    def counter(self) -> str:
        """``3/10 fold`` (or ``3 ticker`` without a total); empty before any count."""
        if self.total:
            return f"{self.step}/{self.total} {self.unit}"
        return f"{self.step} {self.unit}" if self.step else ""


@dataclass
class RunState:
    """The state of a run as its events describe it (what every live view draws)."""

    status: str = "waiting"
    stages: dict[str, StageState] = field(default_factory=dict)
    overall: float = 0.0
    eta: float | None = None
    log: list[str] = field(default_factory=list)
    artifacts: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    failed_stage: str | None = None
    finished: bool = False
    n_events: int = 0
    last_seq: int = 0
    run_dir: str | None = None
    seconds: float | None = None
    #: When the last run figures (fraction, ETA) were sent: the event's UTC time, epoch seconds.
    figures_at: float | None = None
    #: ``timestamp_utc`` of the event being folded.
    last_stamp: str | None = None
    #: The highest fraction :meth:`at` has returned (a viewer's bar never goes back).
    shown: float = 0.0

    def apply(self, event: Mapping[str, Any]) -> str | None:
        """Fold one event in; returns its log line (None for progress events)."""
        payload = event.get("payload") or {}
        kind = event.get("type")
        self.last_stamp = event.get("timestamp_utc")
        self.n_events += 1
        self.last_seq = max(self.last_seq, int(event.get("seq", 0) or 0))
        line = log_line(event)
        if line is not None:
            self.log.append(line)
        if kind == "progress":
            self._progress(payload)
        elif kind == "status":
            self._status(event, payload)
        elif kind == "artifact_path":
            self.artifacts[str(payload.get("name") or len(self.artifacts))] = str(payload.get("path") or "")
        elif kind == "metric" and payload.get("name") is not None:
            self.metrics[str(payload["name"])] = payload.get("value")
        return line

    def _run_figures(self, payload: Mapping[str, Any]) -> None:
        if payload.get("run_fraction") is not None:
            self.overall = max(self.overall, float(payload["run_fraction"]))
        if payload.get("eta_run_s") is not None:
            self.eta = float(payload["eta_run_s"])
            self.figures_at = _epoch(self.last_stamp)

    def at(self, now: float | None = None) -> tuple[float, float | None]:
        """(overall fraction, run ETA in seconds) carried forward from the last figures to ``now``
        (epoch seconds, default the current time).

        Between two events the run goes on at the pace its ETA implies: the elapsed time grows and the
        ETA shrinks by the time passed, so the fraction elapsed / (elapsed + ETA) keeps moving even
        through a stage that reports nothing. It never passes 99% before the final status and never
        goes below a fraction it returned before (a later event may say the run is a little behind the
        guess: the bar then waits for it); a finished run is at its own figures.
        """
        if self.finished or self.figures_at is None or self.eta is None or not 0 < self.overall < 1:
            fraction, eta = self.overall, self.eta
        else:
            passed = max(0.0, (time.time() if now is None else now) - self.figures_at)
            elapsed = self.overall * self.eta / (1.0 - self.overall)  # from fraction = elapsed / (elapsed + ETA)
            eta = max(0.0, self.eta - passed)
            fraction = min((elapsed + passed) / (elapsed + passed + eta), 0.99)
        if not self.finished or self.status == "completed":
            fraction = max(fraction, self.overall, self.shown)
        self.shown = fraction
        return fraction, eta

    def _progress(self, payload: Mapping[str, Any]) -> None:
        name = str(payload.get("stage") or "run")
        stage = self.stages.setdefault(name, StageState(name))
        if payload.get("kind") == "start":
            stage.step, stage.message, stage.work_fraction = 0, None, None
        if stage.state in ("pending", "completed") and payload.get("kind") != "end":
            stage.state = "running"  # a sub-progress (train.rounds) starts again for the next fit
        stage.step = int(payload.get("step") or 0)
        stage.total = payload.get("total")
        stage.unit = str(payload.get("unit") or stage.unit)
        stage.eta = payload.get("eta_stage_s")
        stage.message = payload.get("message") or stage.message
        if not stage.is_sub and payload.get("stage_fraction") is not None:
            stage.work_fraction = float(payload["stage_fraction"])
        if payload.get("kind") == "end":
            ok = payload.get("ok", True)
            stage.state = "completed" if ok else "failed"
            stage.eta = 0.0 if ok else None
        self._run_figures(payload)
        if self.status == "waiting":
            self.status = "running"

    def _status(self, event: Mapping[str, Any], payload: Mapping[str, Any]) -> None:
        state = str(payload.get("status") or "")
        name = payload.get("stage")
        if is_final(event):
            self.status, self.finished, self.eta = state, True, 0.0
            self.seconds = payload.get("seconds")
            if payload.get("interrupted"):
                self.status = "cancelled"
            if state == "completed":
                self.overall = 1.0
                for stage in self.stages.values():
                    if stage.state in ("pending", "running"):
                        stage.state = "completed"
                        stage.step = stage.total or stage.step
        elif name:
            stage = self.stages.setdefault(str(name), StageState(str(name)))
            stage.state = state.removeprefix("stage_").replace("started", "running")
            if stage.state == "running":
                stage.step, stage.message, stage.work_fraction = 0, None, None
            if stage.state in ("completed", "cached", "skipped"):
                stage.step = stage.total or stage.step
                stage.eta = 0.0
                stage.seconds = payload.get("seconds")
            if stage.state in ("failed", "interrupted"):
                self.failed_stage = str(name)
            self.status = f"running: {name}" if stage.state == "running" else "running"
            self._run_figures(payload)
        else:
            self.status = "running" if state == "started" else state
            for stage_name in payload.get("stages") or []:
                self.stages.setdefault(str(stage_name), StageState(str(stage_name), state="pending"))
        if payload.get("run_dir"):
            self.run_dir = str(payload["run_dir"])
        if payload.get("error"):
            self.error = str(payload["error"])

    def ordered_stages(self) -> list[StageState]:
        """Pipeline stages in run order, each followed by its sub-progress; skipped ones left out."""
        order: dict[str, int] = {}
        for name in self.stages:
            order.setdefault(name.partition(".")[0], len(order))
        shown = [s for s in self.stages.values() if s.state != "skipped"]
        return sorted(shown, key=lambda s: (order[s.parent], s.is_sub, s.name))


#: ``status`` values a sweep sends when one of its variants ends.
VARIANT_ENDS = {"variant_completed": "completed", "variant_failed": "failed"}


@dataclass
class SweepState:
    """A sweep's events folded per variant: every event of ``qlop sweep`` carries a ``variant`` in its
    payload (``None`` for the sweep's own), so each variant gets the :class:`RunState` of its tasks and
    the sweep keeps its own (started, one ``sweep`` progress step per finished variant, final status).
    A stage shared by several variants reports under the first of them (``shared_by`` says how many)."""

    sweep: RunState = field(default_factory=RunState)
    variants: dict[str, RunState] = field(default_factory=dict)
    total: int = 0

    @property
    def finished(self) -> bool:
        return self.sweep.finished

    def count(self, status: str) -> int:
        return sum(1 for v in self.variants.values() if v.status == status)

    def apply(self, event: Mapping[str, Any]) -> str | None:
        """Fold one event in; returns its log line, prefixed by its variant (None for progress)."""
        payload = event.get("payload") or {}
        variant = payload.get("variant")
        status = payload.get("status") if event.get("type") == "status" else None
        if variant is None:
            line = self.sweep.apply(event)
            if status == "started":
                self.total = int(payload.get("n_variants") or 0)
                for name in payload.get("variants") or []:
                    self.variants.setdefault(str(name), RunState())
            return line
        state = self.variants.setdefault(str(variant), RunState())
        if status in VARIANT_ENDS:
            state.n_events += 1
            state.status, state.finished = VARIANT_ENDS[status], True
            state.error = payload.get("error")
            state.metrics.update(payload.get("metrics") or {})
            if state.status == "completed":
                state.overall = 1.0
            state.run_dir = payload.get("run_dir") or state.run_dir
            stamp = str(event.get("timestamp_utc", ""))[11:19]
            return f"{stamp} {'STATUS':<8} {variant} {state.status}" + (f": {state.error}" if state.error else "")
        line = state.apply(event)
        if line is None:
            return None
        shared = f" (shared by {payload['shared_by']})" if payload.get("shared_by") else ""
        stamp, _, text = line.partition(" ")
        return f"{stamp} {variant} {text}{shared}"


def _epoch(stamp: Any) -> float | None:
    """An event's ``timestamp_utc`` (ISO 8601, ``Z``) as epoch seconds; None when absent or unreadable."""
    import datetime as dt

    if not isinstance(stamp, str) or not stamp:
        return None
    try:
        moment = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)).timestamp()


def fold_events(events: Iterable[Mapping[str, Any]]) -> RunState:
    """Fold events (in seq order) into a :class:`RunState`."""
    state = RunState()
    for event in events:
        state.apply(event)
    return state


def _status_text(payload: Mapping[str, Any]) -> str:
    from qlop.formatting import duration

    status = str(payload.get("status") or "")
    stage = payload.get("stage")
    text = f"{stage} {status.removeprefix('stage_')}" if stage else f"run {status}"
    if payload.get("seconds") is not None and status.endswith("completed"):
        text += f" in {duration(payload['seconds'])}"
    if payload.get("error"):
        text += f": {payload['error']}"
    return text


def log_line(event: Mapping[str, Any]) -> str | None:
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
