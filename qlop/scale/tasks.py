"""What runs on a Dask worker: one stage of the pipeline, or the assembly of one variant's run directory.

Both are ordinary :func:`qlop.stages.pipeline.run_pipeline` calls, so the stage code, the content-hash
cache, atomic artefacts and resume-after-interruption are exactly those of ``qlop run``:

- a *stage task* runs its cut-down config into its ``stages/`` directory; the upstream stages are found
  in the upstream tasks' directories (hard-linked, "cached"), the stage itself is computed (or found
  already there when a sweep is rerun);
- a *variant task* runs the variant's full config into its ``runs/`` directory; every stage is found in
  the stage directories, so it only links artefacts and writes the manifest.

Arguments are plain JSON-able dicts (a remote worker unpickles nothing of QLOP's but the function).
Each task's events go to its run directory's ``events.jsonl`` and, through Dask's structured-event
channel (``Worker.log_event``), to the sweep's client, which publishes them under the sweep's task id
with the variant they belong to. A failure is re-raised as :class:`TaskFailed`: one line naming the
stage, picklable whatever the plugin raised.
"""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path
from typing import Any

from qlop.errors import QlopError

#: Seconds between forwarded progress events of one task (the client and the relay need no more).
PROGRESS_INTERVAL = 0.5
#: Event types a task forwards to the sweep's client (logs and artefact paths stay in events.jsonl).
FORWARDED = ("status", "progress", "metric")
#: A task's own start/end statuses; the client reports variants itself (and only the sweep may send a
#: final status under the sweep's task id).
TASK_STATUSES = ("started", "completed", "failed")


class TaskFailed(QlopError):
    """A stage or variant task failed; the message is the one line recorded for the variant."""


_manager_lock = threading.Lock()


def worker_manager(selection: dict[str, Any]) -> Any:
    """The worker's plugin manager, configured like the client's (same plugin selection)."""
    from qlop.plugins import manager as manager_mod
    from qlop.plugins.discovery import Selection

    values = dict(selection)
    values["disabled"] = set(values.get("disabled") or ())
    if values.get("only") is not None:
        values["only"] = set(values["only"])
    wanted = Selection(**values)
    with _manager_lock:
        current = manager_mod.configured()
        if current is None or current.selection != wanted:
            manager_mod.configure(wanted, warn=None)
        return manager_mod.get_plugin_manager()


def selection_dict(manager: Any) -> dict[str, Any]:
    """The client's plugin selection as plain data for the workers."""
    import dataclasses

    data = dataclasses.asdict(manager.selection)
    data["disabled"] = sorted(data.get("disabled") or ())
    if data.get("only") is not None:
        data["only"] = sorted(data["only"])
    return data


class _Forwarder:
    """A sink on a task's event recorder: passes its events to the client, tagged with the variant."""

    def __init__(self, topic: str | None, variant: str, variants: list[str], stage: str | None) -> None:
        self.topic = topic
        self.stage = stage
        self.tag: dict[str, Any] = {"variant": variant}
        if len(variants) > 1:  # a stage shared by several variants runs under the first one's id
            self.tag["shared_by"] = len(variants)
        self.thread = threading.get_ident()
        self.last_progress = 0.0
        self.worker = None
        if topic:
            with contextlib.suppress(ValueError):  # not on a worker (called directly): nothing to forward to
                from distributed import get_worker

                self.worker = get_worker()
                self.tag["worker"] = self.worker.address

    def _relevant(self, type_: str, payload: dict[str, Any]) -> bool:
        """A stage task reports its own stage only (the cut-down pipeline around it links the upstream
        stages and skips the later ones); a variant task, which only links shared stages, reports a stage
        only if it had to compute it, and never the metrics (the sweep reports them per variant)."""
        status = payload.get("status") if type_ == "status" else None
        if status in TASK_STATUSES:
            return False
        if self.stage is None:
            return type_ != "metric" and status not in ("stage_cached", "stage_skipped")
        stage = str(payload.get("pipeline_stage") or payload.get("stage") or "").partition(".")[0]
        return stage == self.stage and status != "stage_skipped"

    def __call__(self, event: dict[str, Any], text: str) -> None:
        if self.worker is None or event["type"] not in FORWARDED or threading.get_ident() != self.thread:
            return
        payload = event["payload"]
        if not self._relevant(event["type"], payload):
            return
        if event["type"] == "progress" and payload.get("kind") == "advance":
            now = time.monotonic()
            if now - self.last_progress < PROGRESS_INTERVAL:
                return
            self.last_progress = now
        self.worker.log_event(self.topic, {"type": event["type"], "payload": {**payload, **self.tag}})


def _clean_leftovers(run_dir: Path) -> None:
    """Temp files a killed worker left mid-write in this task's directory (nobody else writes there)."""
    from qlop.runs import leftover_temp_files

    if run_dir.is_dir():
        for path in leftover_temp_files(run_dir):
            if path.is_dir():
                import shutil

                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    path.unlink()


def _run(spec: dict[str, Any], sources: list[Path], stage: str | None) -> tuple[Any, tuple[float, float], str | None]:
    """Run the spec's config into its run dir; return the result, (wall, CPU) seconds and the worker."""
    from qlop.config import config_from_data, validate_plugins
    from qlop.live.session import RunSession
    from qlop.stages.pipeline import error_text, run_pipeline

    pm = worker_manager(spec["selection"])
    run_dir = Path(spec["run_dir"])
    _clean_leftovers(run_dir)
    worker = None
    with contextlib.suppress(ValueError, ImportError):
        from distributed import get_worker

        worker = get_worker().address
    started, cpu_started = time.monotonic(), time.process_time()
    try:
        config = config_from_data(spec["config"], spec["variant"])
        validate_plugins(config, pm)  # also loads the config's plugins_dir on this worker
        session = RunSession(run_dir, spec["task_id"], stream=False, terminal=None)
        with session:
            assert session.recorder is not None
            session.recorder.sinks.append(_Forwarder(spec.get("topic"), spec["variant"], spec["variants"], stage))
            result = run_pipeline(
                config,
                run_dir,
                observer=session,
                manager=pm,
                search_dirs=[],
                cache_sources=sources,
                task_id=spec["task_id"],
                command=spec.get("command"),
            )
    except Exception as exc:  # noqa: BLE001 - every failure becomes the variant's one line
        where = stage or _failed_stage(run_dir) or "run"
        raise TaskFailed(f"{where}: {error_text(exc)}") from None
    return result, (time.monotonic() - started, time.process_time() - cpu_started), worker


def _failed_stage(run_dir: Path) -> str | None:
    from qlop.runs import read_manifest

    stages = (read_manifest(run_dir) or {}).get("stages") or {}
    return next((s for s, r in stages.items() if (r or {}).get("status") == "failed"), None)


def run_stage_task(spec: dict[str, Any], *upstream: dict[str, Any]) -> dict[str, Any]:
    """Compute one stage into its ``stages/`` directory (upstream stages linked from ``upstream``)."""
    stage = spec["stage"]
    result, (seconds, cpu), worker = _run(spec, [Path(u["run_dir"]) for u in upstream], stage)
    record = result.manifest["stages"].get(stage) or {}
    return {
        "stage": stage,
        "key": spec["key"],
        "run_dir": spec["run_dir"],
        "status": result.stages.get(stage),
        "compute_seconds": record.get("seconds") if result.stages.get(stage) == "completed" else 0.0,
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu, 3),
        "worker": worker,
    }


def run_variant_task(spec: dict[str, Any], *stage_results: dict[str, Any]) -> dict[str, Any]:
    """Assemble the variant's ordinary run directory from its stages' directories."""
    result, (seconds, cpu), worker = _run(spec, [Path(r["run_dir"]) for r in stage_results], None)
    return {
        "variant": spec["variant"],
        "run_dir": spec["run_dir"],
        "status": result.status,
        "stages": dict(result.stages),
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu, 3),
        "worker": worker,
        "stage_results": list(stage_results),
    }
