"""``qlop run``'s engine: the configured stages in order, each cached by its content-hash key.

Each stage is ``qlop.stages.<stage>.run(config, run_dir) -> {artefact: path}``; a stage whose config
section is absent is skipped (data always runs). Observer plugins hear about every executed stage
through ``qlop_before_stage`` / ``qlop_after_stage`` / ``qlop_on_stage_error``; a
:class:`PipelineObserver` (the live session) hears about everything, cached stages included, and turns
it into events. The manifest is rewritten (atomically) after every stage, so an interrupted run
records what finished and the next run resumes from there.
"""

from __future__ import annotations

import importlib
import json
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from qlop import runs
from qlop.atomic import write_json
from qlop.errors import QlopError
from qlop.layout import RunLayout

log = logging.getLogger("qlop.run")

StageRunner = Callable[[Any, Path], Mapping[str, Any]]


class PipelineObserver:
    """Receives the life of a run; every method is optional (this base does nothing)."""

    def run_started(self, run_dir: Path, stages: list[str], manifest: Mapping[str, Any]) -> None: ...
    def stage_started(self, stage: str) -> None: ...
    def stage_cached(self, stage: str, source: Path) -> None: ...
    def stage_skipped(self, stage: str) -> None: ...
    def stage_finished(self, stage: str, seconds: float) -> None: ...
    def stage_failed(self, stage: str, error: BaseException, seconds: float) -> None: ...
    def artifact(self, stage: str, name: str, path: Path, sha256: str, cached: bool) -> None: ...
    def metric(self, stage: str, name: str, value: float) -> None: ...
    def run_finished(self, status: str, error: BaseException | None, seconds: float) -> None: ...


@dataclass
class RunResult:
    run_dir: Path
    status: str
    stages: dict[str, str] = field(default_factory=dict)  # stage -> completed | cached | skipped
    manifest: dict[str, Any] = field(default_factory=dict)


def default_runner(stage: str) -> StageRunner:
    return importlib.import_module(f"qlop.stages.{stage}").run  # type: ignore[no-any-return]


def flatten_metrics(data: Any, prefix: str = "") -> dict[str, float]:
    """Finite numbers of a (nested) metrics mapping, keyed by dotted path."""
    flat: dict[str, float] = {}
    if isinstance(data, Mapping):
        for key, value in data.items():
            flat.update(flatten_metrics(value, f"{prefix}{key}."))
    elif isinstance(data, bool):
        return {}
    elif isinstance(data, (int, float)) and math.isfinite(float(data)):
        flat[prefix.rstrip(".")] = float(data)
    return flat


def _call_hook(hook: Any, **kwargs: Any) -> None:
    """Observer hooks see a run; a broken observer is reported, it does not stop the run."""
    try:
        hook(**kwargs)
    except Exception as exc:  # noqa: BLE001
        log.warning("observer hook %s failed: %s: %s", hook.name, type(exc).__name__, exc)


def status_of(error: BaseException) -> str:
    return "interrupted" if isinstance(error, (KeyboardInterrupt, runs.RunInterrupted)) else "failed"


def error_text(error: BaseException) -> str:
    if isinstance(error, KeyboardInterrupt):
        return "interrupted (SIGINT)"
    if isinstance(error, runs.RunInterrupted):
        return f"interrupted (signal {error.signum})"
    text = str(error).strip().splitlines()
    return text[0] if isinstance(error, QlopError) and text else f"{type(error).__name__}: {text[0] if text else ''}"


def run_pipeline(
    config: Any,
    run_dir: str | Path,
    *,
    observer: PipelineObserver | None = None,
    force: bool = False,
    manager: Any = None,
    runners: Mapping[str, StageRunner] | None = None,
    search_dirs: list[Path] | None = None,
    task_id: str | None = None,
    command: list[str] | None = None,
    cache_sources: list[Path] | None = None,
) -> RunResult:
    """Run every configured stage of ``config`` into ``run_dir``; reuse cached stages unless ``force``.

    Cached stages are looked for in ``run_dir`` itself, then in the run dirs ``cache_sources`` names,
    then in every run dir under ``search_dirs`` (default: ``run_dir``'s parent).

    The run holds the directory's lock (:class:`qlop.rundir.RunLock`) throughout: a second run into the
    same directory is refused while this one is going."""
    from qlop.rundir import RunLock

    with RunLock(run_dir, " ".join(command) if command else None):
        return _run_pipeline(
            config,
            Path(run_dir),
            observer=observer,
            force=force,
            manager=manager,
            runners=runners,
            search_dirs=search_dirs,
            task_id=task_id,
            command=command,
            cache_sources=cache_sources,
        )


def _run_pipeline(
    config: Any,
    run_dir: Path,
    *,
    observer: PipelineObserver | None,
    force: bool,
    manager: Any,
    runners: Mapping[str, StageRunner] | None,
    search_dirs: list[Path] | None,
    task_id: str | None,
    command: list[str] | None,
    cache_sources: list[Path] | None,
) -> RunResult:
    from qlop.plugins.manager import get_plugin_manager

    pm = manager or get_plugin_manager()
    obs = observer or PipelineObserver()
    search = [Path(p) for p in (search_dirs if search_dirs is not None else [run_dir.parent])]
    resolved = config.model_dump(mode="json")
    write_json(RunLayout(run_dir).config, resolved)

    previous = runs.read_manifest(run_dir) or {}
    old_stages: dict[str, Any] = previous.get("stages") or {}
    planned = [s for s in runs.STAGES if runs.stage_enabled(config, s)]
    started = time.monotonic()
    manifest: dict[str, Any] = {
        "format": runs.MANIFEST_FORMAT,
        "run_id": run_dir.name,
        "task_id": task_id or run_dir.name,
        "name": config.name,
        "status": "running",
        "error": None,
        "created_utc": previous.get("created_utc") or runs.utc_now(),
        "started_utc": runs.utc_now(),
        "finished_utc": None,
        "seconds": None,
        "attempts": int(previous.get("attempts") or 0) + 1,
        "command": command,
        "config_hash": runs.config_hash(config),
        **runs.environment(),
        "plugins": pm.active_plugins(),
        "inputs": {},
        "outputs": {},
        "timings": {},
        "stages": {s: {"status": "pending"} for s in runs.STAGES},
    }
    runs.write_manifest(run_dir, manifest)
    obs.run_started(run_dir, planned, manifest)
    result = RunResult(run_dir, "running", manifest=manifest)
    hook_config = MappingProxyType(resolved)
    produced: dict[str, dict[str, dict[str, str]]] = {}  # stage -> its recorded outputs
    current = None
    stage_t0 = started
    try:
        for stage in runs.STAGES:
            old = old_stages.get(stage) or {}
            if stage not in planned:
                runs.remove_outputs(run_dir, old.get("outputs") or {})
                manifest["stages"][stage] = {"status": "skipped"}
                result.stages[stage] = "skipped"
                obs.stage_skipped(stage)
                continue
            inputs = {
                name: out["sha256"] for dep in runs.STAGE_INPUTS[stage] for name, out in produced.get(dep, {}).items()
            }
            if stage == "data":
                token = runs.data_source_token(config, pm)
                if token is not None:
                    inputs["source_token"] = token
            elif stage == "backtest":  # the benchmark's data is an input of the backtest too
                token = runs.benchmark_token(config, pm)
                if token is not None:
                    inputs["benchmark_token"] = token
            inputs.update(runs.rate_series_tokens(config, stage, pm))  # and the data of its rate series
            plugins = runs.stage_plugins(config, stage, pm)
            key = runs.cache_key(config, stage, inputs, plugins)
            record: dict[str, Any] = {"status": "running", "key": key, "inputs": inputs, "plugins": plugins}
            hit = None if force else runs.find_cached(stage, key, run_dir, search, previous, cache_sources or ())
            current, stage_t0 = stage, time.monotonic()
            if hit is not None:
                source, cached = hit
                outputs = cached["outputs"]
                if source.resolve() != run_dir.resolve():
                    runs.import_outputs(source, run_dir, outputs)
                runs.remove_outputs(run_dir, old.get("outputs") or {}, keep={o["path"] for o in outputs.values()})
                record.update(
                    status="cached",
                    outputs=outputs,
                    seconds=cached.get("seconds"),
                    cached_from=None if source.resolve() == run_dir.resolve() else str(source),
                )
                manifest["stages"][stage] = record
                produced[stage] = outputs
                result.stages[stage] = "cached"
                log.info("%s: cached%s", stage, f" (from {source.name})" if record["cached_from"] else "")
                obs.stage_cached(stage, source)
            else:
                record["started_utc"] = runs.utc_now()
                manifest["stages"][stage] = record
                runs.write_manifest(run_dir, manifest)
                _call_hook(pm.hook.qlop_before_stage, stage=stage, run_dir=str(run_dir), config=hook_config)
                log.info("%s: started", stage)
                obs.stage_started(stage)
                runner = (runners or {}).get(stage) or default_runner(stage)
                raw = runner(config, run_dir) or {}
                seconds = time.monotonic() - stage_t0
                outputs = runs.relative_outputs(run_dir, raw)
                runs.remove_outputs(run_dir, old.get("outputs") or {}, keep={o["path"] for o in outputs.values()})
                record.update(status="completed", outputs=outputs, seconds=round(seconds, 3))
                manifest["timings"][stage] = round(seconds, 3)
                produced[stage] = outputs
                result.stages[stage] = "completed"
                runs.write_manifest(run_dir, manifest)
                _call_hook(
                    pm.hook.qlop_after_stage,
                    stage=stage,
                    run_dir=str(run_dir),
                    outputs=MappingProxyType({n: str(run_dir / o["path"]) for n, o in outputs.items()}),
                    seconds=seconds,
                )
                log.info("%s: completed in %.1f s (%s)", stage, seconds, ", ".join(o["path"] for o in outputs.values()))
                obs.stage_finished(stage, seconds)
            summary = _stage_summary(run_dir, stage)
            if summary:
                record["summary"] = summary
            for name, out in outputs.items():
                obs.artifact(stage, name, run_dir / out["path"], out["sha256"], hit is not None)
            _report_metrics(run_dir, stage, obs)
            runs.write_manifest(run_dir, manifest)
            current = None
            if stage == "data" and "backtest" in planned and not (runners or {}).get("data"):
                # the data's dates are known: a benchmark that cannot cover the backtest fails before training
                from qlop.benchmark import check_run_data

                check_run_data(config, run_dir / outputs["data"]["path"], pm)
    except BaseException as exc:
        seconds = time.monotonic() - stage_t0
        status = status_of(exc)
        if current is not None:
            # INFO: the CLI prints the error itself, once, on one line
            log.info("%s: %s: %s", current, status, error_text(exc))
            manifest["stages"][current].update(status=status, error=error_text(exc), seconds=round(seconds, 3))
            if status == "failed" and isinstance(exc, Exception):
                _call_hook(pm.hook.qlop_on_stage_error, stage=current, run_dir=str(run_dir), error=exc)
            obs.stage_failed(current, exc, seconds)
        _finish(run_dir, manifest, produced, started, status, exc)
        result.status = status
        obs.run_finished(status, exc, time.monotonic() - started)
        raise
    _finish(run_dir, manifest, produced, started, "completed", None)
    result.status = "completed"
    obs.run_finished("completed", None, time.monotonic() - started)
    return result


def _finish(
    run_dir: Path,
    manifest: dict[str, Any],
    produced: Mapping[str, Any],
    started: float,
    status: str,
    error: BaseException | None,
) -> None:
    manifest.update(
        status=status,
        error=error_text(error) if error is not None else None,
        finished_utc=runs.utc_now(),
        seconds=round(time.monotonic() - started, 3),
    )
    manifest["inputs"] = {"config": manifest["config_hash"]}
    data_out = produced.get("data") or {}
    if data_out:
        manifest["inputs"].update({f"data:{n}": o["sha256"] for n, o in data_out.items()})
    manifest["outputs"] = {n: o["sha256"] for outs in produced.values() for n, o in outs.items()}
    runs.write_manifest(run_dir, manifest)


def _stage_summary(run_dir: Path, stage: str) -> dict[str, Any]:
    """The scalar entries of a stage's summary file (the exporter's format, parity figures, hashes)."""
    rel = RunLayout.STAGE_SUMMARIES.get(stage)
    if not rel or not (run_dir / rel).is_file():
        return {}
    try:
        data = json.loads((run_dir / rel).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, (str, int, float, bool))} if isinstance(data, dict) else {}


def _report_metrics(run_dir: Path, stage: str, obs: PipelineObserver) -> None:
    rel = RunLayout.STAGE_METRICS.get(stage)
    if not rel or not (run_dir / rel).is_file():
        return
    try:
        data = json.loads((run_dir / rel).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    for name, value in flatten_metrics(data).items():
        obs.metric(stage, name, value)
