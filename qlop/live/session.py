"""A run's live side: every event to ``events.jsonl``, optionally to the relay, and to the terminal.

:class:`RunSession` is the pipeline's observer. While it is open it also listens to :mod:`qlop.progress`
(``progress`` events with the stage's and the whole run's ETA, and the terminal bars) and to the
``qlop`` logger (a ``log`` event per INFO+ record). Closing it guarantees the task's last event is a
final ``status`` and gives the relay a short time to acknowledge it; nothing here can fail the run.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

from qlop import progress
from qlop.layout import RunLayout
from qlop.live.events import EventRecorder
from qlop.live.handler import EventLogHandler, RelayPublisher
from qlop.live.progress_model import RunClock, measured_stage_seconds
from qlop.live.protocol import relay_token, relay_url
from qlop.live.terminal import TerminalView, format_seconds
from qlop.progress import ProgressUpdate
from qlop.stages.pipeline import PipelineObserver

#: Seconds without a progress call after which the session re-estimates and sends a ``tick``, so the
#: overall bar and the ETA keep moving through a long step that reports nothing (a model fit).
HEARTBEAT_SECONDS = 1.0


def _prints_logs(root: logging.Logger) -> bool:
    """True when the root logger already prints to a stream (``qlop -v`` configures that)."""
    return any(type(h) is logging.StreamHandler for h in root.handlers)


class RunSession(PipelineObserver):
    """Use as a context manager around :func:`qlop.stages.pipeline.run_pipeline`."""

    def __init__(
        self,
        run_dir: str | Path,
        task_id: str | None = None,
        *,
        stream: bool = False,
        ws_url: str | None = None,
        token: str | None = None,
        terminal: TerminalView | None = None,
        flush_timeout: float = 2.0,
        progress_interval: float = 0.1,
        heartbeat: float | None = HEARTBEAT_SECONDS,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.task_id = task_id or self.run_dir.name
        self.stream = stream
        self.ws_url = relay_url(ws_url)
        self.token = token if token is not None else relay_token()
        self.terminal = terminal
        self.flush_timeout = flush_timeout
        self.progress_interval = progress_interval
        self.publisher: RelayPublisher | None = None
        self.recorder: EventRecorder | None = None
        self.final_sent = False
        self._handlers: list[logging.Handler] = []
        self._old_level: int | None = None
        self.clock = RunClock()
        self.heartbeat = heartbeat
        self._lock = threading.RLock()
        self._stop_beat = threading.Event()
        self._beat: threading.Thread | None = None
        self._last_emit: dict[str, float] = {}
        self._last_step: dict[str, int] = {}  # the counter each stage's last sent event showed
        self._last_progress = 0.0

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> "RunSession":
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if self.stream:
            self.publisher = RelayPublisher(self.ws_url, self.task_id, self.token)
        self.recorder = EventRecorder(
            self.task_id, RunLayout(self.run_dir).events, sinks=[self.publisher] if self.publisher else []
        )
        logger = logging.getLogger("qlop")
        if logger.getEffectiveLevel() > logging.INFO:
            self._old_level = logger.level
            logger.setLevel(logging.INFO)
        self._handlers.append(EventLogHandler(self.recorder))
        if self.terminal is not None and not _prints_logs(logging.getLogger()):
            self._handlers.append(self.terminal.log_handler())  # otherwise -v's handler prints them
        for handler in self._handlers:
            logger.addHandler(handler)
        progress.add_listener(self.on_progress)
        if self.terminal is not None:
            self.terminal.start()
        if self.heartbeat:
            self._beat = threading.Thread(target=self._heartbeat, name="qlop-progress-tick", daemon=True)
            self._beat.start()
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self._stop_beat.set()
        if self._beat is not None:
            self._beat.join(2.0)
        progress.remove_listener(self.on_progress)
        logger = logging.getLogger("qlop")
        for handler in self._handlers:
            logger.removeHandler(handler)
        if self._old_level is not None:
            logger.setLevel(self._old_level)
        if self.terminal is not None:
            self.terminal.stop()
        if not self.final_sent and self.recorder is not None:
            self.run_finished("failed" if exc is not None else "completed", exc, 0.0)
        if self.publisher is not None:
            self.publisher.close(self.flush_timeout)
        if self.recorder is not None:
            self.recorder.close()

    def emit(self, type_: str, payload: dict[str, Any]) -> None:
        """Record an event (and show it on the terminal's bars); nothing follows the final status."""
        with self._lock:
            if self.recorder is None or self.final_sent:
                return
            event = self.recorder.emit(type_, payload)
        if event is not None and self.terminal is not None:
            try:
                self.terminal.on_event(event)
            except Exception:  # noqa: BLE001 - a display problem must not stop the run
                pass

    def _line(self, text: str) -> None:
        if self.terminal is not None:
            self.terminal.line(text)

    # -- pipeline observer -------------------------------------------------------------------

    def run_started(self, run_dir: Path, stages: list[str], manifest: Any) -> None:
        expected = measured_stage_seconds(Path(run_dir).parent, manifest.get("config_hash"), manifest.get("name"))
        with self._lock:
            self.clock = RunClock(expected)
            self.clock.plan(stages)
        self.emit(
            "status",
            {
                "status": "started",
                "run_dir": str(Path(run_dir).resolve()),
                "stages": stages,
                "attempt": manifest.get("attempts"),
                "config_hash": manifest.get("config_hash"),
            },
        )

    def _figures(self) -> dict[str, Any]:
        """The run's overall fraction and ETA now (for status events, so a viewer's bar moves too)."""
        with self._lock:
            snap = self.clock.snapshot()
        return {"run_fraction": snap["run_fraction"], "eta_run_s": snap["eta_run_s"]}

    def stage_started(self, stage: str) -> None:
        with self._lock:
            self.clock.stage_started(stage)
        self.emit("status", {"status": "stage_started", "stage": stage, **self._figures()})

    def stage_cached(self, stage: str, source: Path) -> None:
        with self._lock:
            self.clock.stage_done(stage)
        payload: dict[str, Any] = {"status": "stage_cached", "stage": stage, **self._figures()}
        if source.resolve() != self.run_dir.resolve():
            payload["source"] = str(source)
        self.emit("status", payload)
        self._line(f"{stage:<9} cached" + (f" (from {source.name})" if "source" in payload else ""))

    def stage_skipped(self, stage: str) -> None:
        with self._lock:
            self.clock.stage_done(stage)
        self.emit("status", {"status": "stage_skipped", "stage": stage})

    def stage_finished(self, stage: str, seconds: float) -> None:
        with self._lock:
            self.clock.stage_done(stage, seconds)
        self.emit(
            "status", {"status": "stage_completed", "stage": stage, "seconds": round(seconds, 3), **self._figures()}
        )
        self._line(f"{stage:<9} done in {format_seconds(seconds)}")

    def stage_failed(self, stage: str, error: BaseException, seconds: float) -> None:
        from qlop.stages.pipeline import error_text, status_of

        with self._lock:
            self.clock.stage_done(stage)
        self.emit(
            "status",
            {
                "status": "stage_failed",
                "stage": stage,
                "error": error_text(error),
                "interrupted": status_of(error) == "interrupted",
                "seconds": round(seconds, 3),
            },
        )
        self._line(f"{stage:<9} {status_of(error)} after {format_seconds(seconds)}")

    def artifact(self, stage: str, name: str, path: Path, sha256: str, cached: bool) -> None:
        self.emit(
            "artifact_path",
            {"stage": stage, "name": name, "path": str(Path(path).resolve()), "sha256": sha256, "cached": cached},
        )

    def metric(self, stage: str, name: str, value: float) -> None:
        self.emit("metric", {"stage": stage, "name": name, "value": value})

    def run_finished(self, status: str, error: BaseException | None, seconds: float) -> None:
        from qlop.stages.pipeline import error_text, status_of

        if self.final_sent:
            return
        payload: dict[str, Any] = {
            "status": "completed" if status == "completed" else "failed",
            "run_dir": str(self.run_dir.resolve()),
            "seconds": round(seconds, 3),
        }
        if error is not None:
            payload["error"] = error_text(error)
            payload["interrupted"] = status_of(error) == "interrupted"
        self.emit("status", payload)
        self.final_sent = True

    # -- progress ----------------------------------------------------------------------------

    def on_progress(self, update: ProgressUpdate) -> None:
        """A stage's progress call: re-estimate with the run's clock and send a (throttled) event."""
        now = time.monotonic()
        with self._lock:
            self.clock.observe(update)
            if update.kind == "advance" and not self._milestone(update):
                last = self._last_emit.get(update.stage, 0.0)
                if now - last < self.progress_interval:
                    return
            self._last_emit[update.stage] = now
            self._last_step[update.stage] = update.step
            self._last_progress = now
            payload = self._progress_payload(update, update.kind, now)
        self.emit("progress", payload)

    def _milestone(self, update: ProgressUpdate) -> bool:
        """An advance never dropped by the throttle: the counter reaching its total (``5/5 fold``, even
        when the folds complete together on a cluster and extra work follows) and the extra work done."""
        reached_total = (
            update.total is not None
            and update.step >= update.total
            and self._last_step.get(update.stage) != update.step
        )
        extra_done = bool(update.extra_total) and update.extra_done >= update.extra_total
        return reached_total or extra_done

    def _progress_payload(self, update: ProgressUpdate, kind: str, now: float) -> dict[str, Any]:
        snap = self.clock.snapshot(now)
        pipeline_stage = update.stage == self.clock.current
        if pipeline_stage:
            stage_eta = snap["eta_stage_s"]
        else:  # a sub-progress (train.rounds) has its own ETA
            stage_eta = update.eta_seconds if update.kind != "end" else 0.0
        payload: dict[str, Any] = {
            "stage": update.stage,
            "pipeline_stage": self.clock.current,
            "kind": kind,
            "step": update.step,
            "total": update.total,
            "unit": update.unit,
            "elapsed": round(now - update.started, 3),
            "eta_stage_s": round(stage_eta, 3) if stage_eta is not None else (0.0 if update.kind == "end" else None),
            "run_fraction": snap["run_fraction"],
            "eta_run_s": snap["eta_run_s"],
        }
        if pipeline_stage and snap["stage_fraction"] is not None:
            payload["stage_fraction"] = snap["stage_fraction"]
        if update.message:
            payload["message"] = update.message
        if update.kind == "end" and not update.ok:
            payload["ok"] = False
        return payload

    def _heartbeat(self) -> None:
        """While a stage runs without progress calls, send its re-estimated progress every beat."""
        assert self.heartbeat
        while not self._stop_beat.wait(self.heartbeat):
            now = time.monotonic()
            with self._lock:
                parent = self.clock.parent
                if (
                    self.clock.current is None
                    or parent is None
                    or parent.stage != self.clock.current
                    or parent.kind == "end"
                    or now - self._last_progress < self.heartbeat
                ):
                    continue
                self._last_progress = now
                payload = self._progress_payload(parent, "tick", now)
            self.emit("progress", payload)
