"""A run's live side: every event to ``events.jsonl``, optionally to the relay, and to the terminal.

:class:`RunSession` is the pipeline's observer. While it is open it also listens to :mod:`qlop.progress`
(``progress`` events with the stage's and the whole run's ETA, and the terminal bars) and to the
``qlop`` logger (a ``log`` event per INFO+ record). Closing it guarantees the task's last event is a
final ``status`` and gives the relay a short time to acknowledge it; nothing here can fail the run.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from qlop import progress
from qlop.live.events import EventRecorder
from qlop.live.handler import EventLogHandler, RelayPublisher
from qlop.live.protocol import relay_token, relay_url
from qlop.live.terminal import TerminalView, _fmt_seconds
from qlop.progress import ProgressUpdate
from qlop.stages.pipeline import PipelineObserver

#: Rough share of a run's time per stage, for the whole-run ETA before real timings are known.
STAGE_WEIGHTS = {"data": 1.0, "features": 2.0, "train": 6.0, "backtest": 2.0, "export": 1.0}


def _prints_logs(root: logging.Logger) -> bool:
    """True when the root logger already prints to a stream (``qlop -v`` configures that)."""
    return any(type(h) is logging.StreamHandler for h in root.handlers)


class RunSession(PipelineObserver):
    """Use as a context manager around :func:`qlop.stages.pipeline.run_pipeline`."""

    def __init__(self, run_dir: str | Path, task_id: str | None = None, *, stream: bool = False,
                 ws_url: str | None = None, token: str | None = None, terminal: TerminalView | None = None,
                 flush_timeout: float = 2.0, progress_interval: float = 0.1) -> None:
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
        self._weights: dict[str, float] = {}
        self._done_weight = 0.0
        self._current: str | None = None
        self._exec_started: float | None = None
        self._last_emit: dict[str, float] = {}
        self._stage_fraction = 0.0

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> "RunSession":
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if self.stream:
            self.publisher = RelayPublisher(self.ws_url, self.task_id, self.token)
        self.recorder = EventRecorder(self.task_id, self.run_dir / "events.jsonl",
                                      sinks=[self.publisher] if self.publisher else [])
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
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
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
        """Record an event; nothing follows the final status (it must stay the task's last event)."""
        if self.recorder is not None and not self.final_sent:
            self.recorder.emit(type_, payload)

    def _line(self, text: str) -> None:
        if self.terminal is not None:
            self.terminal.line(text)

    # -- pipeline observer -------------------------------------------------------------------

    def run_started(self, run_dir: Path, stages: list[str], manifest: Any) -> None:
        self._weights = {s: STAGE_WEIGHTS.get(s, 1.0) for s in stages}
        self.emit("status", {"status": "started", "run_dir": str(Path(run_dir).resolve()), "stages": stages,
                             "attempt": manifest.get("attempts"), "config_hash": manifest.get("config_hash")})

    def stage_started(self, stage: str) -> None:
        self._current = stage
        self._stage_fraction = 0.0
        if self._exec_started is None:
            self._exec_started = time.monotonic()
        self.emit("status", {"status": "stage_started", "stage": stage})

    def stage_cached(self, stage: str, source: Path) -> None:
        self._weights.pop(stage, None)
        payload: dict[str, Any] = {"status": "stage_cached", "stage": stage}
        if source.resolve() != self.run_dir.resolve():
            payload["source"] = str(source)
        self.emit("status", payload)
        self._line(f"{stage:<9} cached" + (f" (from {source.name})" if "source" in payload else ""))

    def stage_skipped(self, stage: str) -> None:
        self._weights.pop(stage, None)
        self.emit("status", {"status": "stage_skipped", "stage": stage})

    def stage_finished(self, stage: str, seconds: float) -> None:
        self._done_weight += self._weights.get(stage, 0.0)
        self._current = None
        self.emit("status", {"status": "stage_completed", "stage": stage, "seconds": round(seconds, 3)})
        self._line(f"{stage:<9} done in {_fmt_seconds(seconds)}")

    def stage_failed(self, stage: str, error: BaseException, seconds: float) -> None:
        from qlop.stages.pipeline import _error_text, _status_of

        self._current = None
        self.emit("status", {"status": "stage_failed", "stage": stage, "error": _error_text(error),
                             "interrupted": _status_of(error) == "interrupted", "seconds": round(seconds, 3)})
        self._line(f"{stage:<9} {_status_of(error)} after {_fmt_seconds(seconds)}")

    def artifact(self, stage: str, name: str, path: Path, sha256: str, cached: bool) -> None:
        self.emit("artifact_path", {"stage": stage, "name": name, "path": str(Path(path).resolve()), "sha256": sha256,
                                    "cached": cached})

    def metric(self, stage: str, name: str, value: float) -> None:
        self.emit("metric", {"stage": stage, "name": name, "value": value})

    def run_finished(self, status: str, error: BaseException | None, seconds: float) -> None:
        from qlop.stages.pipeline import _error_text, _status_of

        if self.final_sent:
            return
        payload: dict[str, Any] = {"status": "completed" if status == "completed" else "failed",
                                   "run_dir": str(self.run_dir.resolve()), "seconds": round(seconds, 3)}
        if error is not None:
            payload["error"] = _error_text(error)
            payload["interrupted"] = _status_of(error) == "interrupted"
        self.emit("status", payload)
        self.final_sent = True

    # -- progress ----------------------------------------------------------------------------

    def run_fraction(self, stage_fraction: float) -> float | None:
        total = sum(self._weights.values())
        if not total:
            return None
        current = self._weights.get(self._current or "", 0.0)
        return min(1.0, (self._done_weight + current * stage_fraction) / total)

    def on_progress(self, update: ProgressUpdate) -> None:
        if self.terminal is not None:
            try:
                self.terminal.on_progress(update)
            except Exception:  # noqa: BLE001 - a display problem must not stop the run
                pass
        now = time.monotonic()
        key = update.stage
        if update.kind == "advance":
            last = self._last_emit.get(key, 0.0)
            at_end = update.total is not None and update.step >= update.total
            if now - last < self.progress_interval and not at_end:
                return
        self._last_emit[key] = now
        own = 1.0 if update.kind == "end" else (min(1.0, update.step / update.total) if update.total else 0.0)
        if self._current is None or update.stage == self._current:
            self._stage_fraction = own  # sub-progress ("train.rounds") does not move the run's bar
        fraction = self.run_fraction(self._stage_fraction)
        run_eta = None
        if fraction and self._exec_started is not None and fraction > 0:
            elapsed = now - self._exec_started
            run_eta = round(max(0.0, elapsed * (1.0 - fraction) / fraction), 3)
        stage_eta = update.eta_seconds
        payload: dict[str, Any] = {
            "stage": update.stage, "pipeline_stage": self._current, "kind": update.kind,
            "step": update.step, "total": update.total, "unit": update.unit,
            "elapsed": round(update.elapsed, 3),
            "eta_stage_s": round(stage_eta, 3) if stage_eta is not None else (0.0 if update.kind == "end" else None),
            "run_fraction": round(fraction, 4) if fraction is not None else None,
            "eta_run_s": run_eta,
        }
        if update.message:
            payload["message"] = update.message
        if update.kind == "end" and not update.ok:
            payload["ok"] = False
        self.emit("progress", payload)
