"""``qlop sweep``'s engine: plan the variants' stages, run them as Dask tasks, write the sweep's results.

1. Plan (:mod:`qlop.scale.plan`): one task per distinct stage computation, keyed by its plan key
   (the content-hash cache key with upstream plan keys for upstream artefact hashes), plus one task per
   variant that assembles its ordinary run directory. Variants sharing data and features share those
   tasks; a rerun of the sweep skips finished variants and finds every stage already in ``stages/``.
2. Run on the cluster (:mod:`qlop.scale.cluster`): the shared-path probe first, then every task is
   submitted with its Dask dependencies. A worker that dies takes no variant with it: the scheduler
   reruns its tasks elsewhere, and a rerun task resumes from the atomic artefacts already written.
3. Collect: per-variant status and timings, the headline metrics, the deflated Sharpe of every variant
   against the other variants (:func:`qlop.metrics.deflated_sharpe_across_trials`), the experiment's
   trials ledger (:mod:`qlop.trials`), then ``sweep.json``, ``results.parquet`` and ``report.html``.

Ctrl-C (or SIGTERM) cancels the futures, records what finished and what did not, and re-raises; every
finished variant's run directory is complete, so running the sweep again resumes.
"""

from __future__ import annotations

import json
import logging
import math
import secrets
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qlop import runs
from qlop.atomic import write_json
from qlop.formatting import format_metric
from qlop.layout import RunLayout
from qlop.scale.cluster import ClusterSpec, check_shared_path, dask_client
from qlop.scale.layout import SweepLayout
from qlop.scale.plan import StageTask, VariantPlan, plan_sweep
from qlop.scale.sweepfile import Sweep, get_path

log = logging.getLogger("qlop.sweep")

SWEEP_FORMAT = 1
#: Columns of ``results.parquet`` after the axis values: the headline metrics of each variant.
BACKTEST_METRICS = ("sharpe", "cagr", "max_drawdown", "total_return", "n_trades")
TRAIN_METRICS = ("auc", "log_loss", "base_rate")
HEADLINE_METRICS = BACKTEST_METRICS + TRAIN_METRICS
#: Seconds between rewrites of sweep.json while variants finish (for viewers polling it).
PROGRESS_WRITE_INTERVAL = 1.0


@dataclass
class SweepOptions:
    sweep_dir: Path
    cluster: ClusterSpec = field(default_factory=ClusterSpec)
    force: bool = False
    task_id: str | None = None
    stream: bool = False
    ws_url: str | None = None
    #: False gives every variant its own stage tasks (what sharing saves is measured against this)
    share: bool = True
    command: list[str] | None = None
    echo: Callable[[str], None] = lambda line: None


@dataclass
class VariantRecord:
    id: str
    values: dict[str, Any]
    diff: dict[str, Any]
    config_hash: str
    run_dir: str
    status: str = "pending"  # pending | completed | failed | interrupted
    error: str | None = None
    resumed: bool = False
    seconds: float | None = None
    cpu_seconds: float | None = None
    worker: str | None = None
    stages: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    deflated_sharpe: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "values": self.values,
            "diff": self.diff,
            "config_hash": self.config_hash,
            "run_dir": self.run_dir,
            "status": self.status,
            "error": self.error,
            "resumed": self.resumed,
            "seconds": self.seconds,
            "cpu_seconds": self.cpu_seconds,
            "worker": self.worker,
            "stages": self.stages,
            "metrics": self.metrics,
            "deflated_sharpe": self.deflated_sharpe,
        }


@dataclass
class SweepOutcome:
    layout: SweepLayout
    records: list[VariantRecord]
    summary: dict[str, Any]

    @property
    def failed(self) -> list[VariantRecord]:
        return [r for r in self.records if r.status == "failed"]


def _one_line(exc: BaseException) -> str:
    from qlop.errors import QlopError

    text = str(exc).strip().splitlines()
    if isinstance(exc, QlopError) and text:
        return text[0]
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def _finished(plan: VariantPlan) -> bool:
    """A variant already complete in its run dir under the same config (a rerun skips it)."""
    manifest = runs.read_manifest(plan.run_dir) or {}
    return manifest.get("status") == "completed" and manifest.get("config_hash") == plan.variant.config_hash


def _json_value(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def read_variant_metrics(run_dir: Path) -> dict[str, Any]:
    """The headline metrics of a finished run directory (None where the run has no such figure)."""
    layout = RunLayout(run_dir)
    backtest = _read_json(layout.backtest_metrics)
    overall = _read_json(layout.train_metrics).get("overall") or {}
    out: dict[str, Any] = {m: backtest.get(m) for m in BACKTEST_METRICS}
    out.update({m: overall.get(m) for m in TRAIN_METRICS})
    return out


def read_variant_returns(run_dir: Path) -> Any | None:
    """Daily returns of a finished run's backtest in excess of its risk-free return, the returns its
    Sharpe is computed on (None when it has no backtest)."""
    import pandas as pd

    from qlop.metrics import returns_from_equity

    layout = RunLayout(run_dir)
    if not layout.equity.is_file():
        return None
    frame = pd.read_parquet(layout.equity)
    equity = frame["equity"].to_numpy(dtype=float)
    capital = _read_json(layout.backtest_metrics).get("initial_capital")
    returns = returns_from_equity(equity, float(capital) if capital else float(equity[0]))
    if "risk_free_return" in frame.columns:
        returns = returns - frame["risk_free_return"].to_numpy(dtype=float)
    return returns


class SweepRunner:
    """One execution of a sweep; :func:`run_sweep` is the entry point."""

    def __init__(self, sweep: Sweep, options: SweepOptions, manager: Any) -> None:
        from qlop.live.protocol import valid_task_id

        self.sweep = sweep
        self.options = options
        self.manager = manager
        self.layout = SweepLayout(Path(options.sweep_dir).resolve())
        self.task_id = options.task_id or f"sweep-{self.layout.root.name}"
        if not valid_task_id(self.task_id):
            self.task_id = f"sweep-{secrets.token_hex(4)}"
        self.tag = secrets.token_hex(4)
        self.tasks: dict[str, StageTask] = {}
        self.plans: list[VariantPlan] = []
        self.records: dict[str, VariantRecord] = {}
        self.recorder: Any = None
        self.publisher: Any = None
        self.started = time.monotonic()
        self.started_utc = runs.utc_now()
        self.stage_results: dict[str, dict[str, Any]] = {}
        self.variant_results: dict[str, dict[str, Any]] = {}
        self.cluster_info: dict[str, Any] = {
            "kind": "scheduler" if options.cluster.scheduler else "local",
            "address": options.cluster.scheduler,
            "workers": None if options.cluster.scheduler else options.cluster.local_workers,
        }
        self._last_write = 0.0

    # -- events ------------------------------------------------------------------------------

    def emit(self, type_: str, payload: dict[str, Any]) -> None:
        if self.recorder is not None:
            self.recorder.emit(type_, {"variant": None, **payload})

    def _on_worker_event(self, event: Any) -> None:
        """Client-side handler of the tasks' forwarded events (Dask's structured-event channel)."""
        try:
            _, msg = event
            self.recorder.emit(msg["type"], msg["payload"])
        except Exception:  # noqa: BLE001, S110 - a malformed event must not stop the sweep
            pass

    # -- planning ----------------------------------------------------------------------------

    def plan(self) -> list[VariantPlan]:
        self.tasks, self.plans = plan_sweep(self.sweep.variants, self.layout, self.manager, share=self.options.share)
        previous = {
            (r.get("id"), r.get("config_hash")): r
            for r in _read_json(self.layout.sweep_json).get("variants") or []
            if isinstance(r, dict)
        }
        todo = []
        for plan in self.plans:
            v = plan.variant
            diff = {
                p: {"base": _json_value(get_path(self.sweep.base, p)), "variant": _json_value(value)}
                for p, value in v.values.items()
            }
            record = VariantRecord(
                v.id, {p: _json_value(x) for p, x in v.values.items()}, diff, v.config_hash or "", str(plan.run_dir)
            )
            self.records[v.id] = record
            if not self.options.force and _finished(plan):
                record.status, record.resumed = "completed", True
                old = previous.get((v.id, record.config_hash)) or {}
                record.seconds, record.worker = old.get("seconds"), old.get("worker")
                record.cpu_seconds = old.get("cpu_seconds")
                record.stages = old.get("stages") or {}
            else:
                todo.append(plan)
        return todo

    def _needed(self, todo: list[VariantPlan]) -> list[StageTask]:
        keys: set[str] = set()
        for plan in todo:
            keys.update(plan.stage_keys.values())
        return [task for key, task in self.tasks.items() if key in keys]  # insertion order: deps first

    def _spec(
        self, *, run_dir: Path, config: dict[str, Any], variant: str, variants: list[str], topic: str, task_suffix: str
    ) -> dict[str, Any]:
        from qlop.scale.tasks import selection_dict

        task_id = f"{self.task_id}.{task_suffix}"[:128]
        return {
            "run_dir": str(run_dir),
            "config": config,
            "variant": variant,
            "variants": variants,
            "topic": topic,
            "task_id": task_id,
            "selection": selection_dict(self.manager),
            "command": self.options.command,
        }

    # -- running -----------------------------------------------------------------------------

    def run(self) -> SweepOutcome:
        from qlop.live.events import EventRecorder

        self.layout.root.mkdir(parents=True, exist_ok=True)
        todo = self.plan()
        needed = self._needed(todo)
        sinks = []
        if self.options.stream:
            from qlop.live.handler import RelayPublisher
            from qlop.live.protocol import relay_token, relay_url

            self.publisher = RelayPublisher(relay_url(self.options.ws_url), self.task_id, relay_token())
            sinks.append(self.publisher)
        self.recorder = EventRecorder(self.task_id, self.layout.events, sinks=sinks)
        interrupted: BaseException | None = None
        try:
            shared = sum(1 for t in needed if len(t.variants) > 1)
            self.options.echo(f"sweep dir: {self.layout.root}")
            self.options.echo(
                f"{len(self.plans)} variants ({len(self.plans) - len(todo)} already done), "
                f"{len(needed)} stage tasks ({shared} shared by several variants) on "
                f"{self.options.cluster.describe()}"
            )
            self.emit(
                "status",
                {
                    "status": "started",
                    "sweep_dir": str(self.layout.root),
                    "name": self.sweep.name,
                    "n_variants": len(self.plans),
                    "resumed": len(self.plans) - len(todo),
                    "axes": self.sweep.axes,
                    "variants": [r.id for r in self.records.values()],
                },
            )
            self.write_sweep_json("running")
            if todo:
                try:
                    self._execute(todo, needed)
                except (KeyboardInterrupt, runs.RunInterrupted) as exc:
                    interrupted = exc
                except Exception as exc:  # the cluster itself (unreachable, probe refused): nothing more runs
                    self.write_sweep_json("failed", error=_one_line(exc))
                    self.emit(
                        "status", {"status": "failed", "sweep_dir": str(self.layout.root), "error": _one_line(exc)}
                    )
                    raise
            outcome = self.finish(interrupted)
        finally:
            if self.publisher is not None:
                self.publisher.close(2.0)
            self.recorder.close()
        if interrupted is not None:
            raise interrupted
        return outcome

    def _execute(self, todo: list[VariantPlan], needed: list[StageTask]) -> None:
        from distributed import as_completed

        from qlop.scale.tasks import run_stage_task, run_variant_task

        if self.options.force:
            # --force: forget every stage this sweep needs, so each is computed again exactly once (a
            # pipeline-level force would make every stage task recompute its upstream stages too)
            import shutil

            for task in needed:
                shutil.rmtree(task.run_dir, ignore_errors=True)
        with dask_client(self.options.cluster) as client:
            n_workers = check_shared_path(client, self.layout.root)
            self.cluster_info["workers"] = n_workers
            topic = f"qlop-sweep-{self.tag}"
            client.subscribe_topic(topic, self._on_worker_event)
            futures: dict[str, Any] = {}
            all_futures: list[Any] = []
            try:
                for task in needed:
                    spec = self._spec(
                        run_dir=task.run_dir,
                        config=task.config,
                        variant=task.variants[0],
                        variants=task.variants,
                        topic=topic,
                        task_suffix=f"{task.stage}-{task.key[:12]}",
                    )
                    spec.update(stage=task.stage, key=task.key)
                    futures[task.key] = client.submit(
                        run_stage_task,
                        spec,
                        *[futures[d] for d in task.deps],
                        key=f"qlop-{task.stage}-{task.key[:20]}-{self.tag}",
                        pure=False,
                    )
                    all_futures.append(futures[task.key])
                by_key: dict[str, VariantPlan] = {}
                for plan in todo:
                    v = plan.variant
                    spec = self._spec(
                        run_dir=plan.run_dir,
                        config=v.config.model_dump(mode="json"),
                        variant=v.id,
                        variants=[v.id],
                        topic=topic,
                        task_suffix=v.id,
                    )
                    future = client.submit(
                        run_variant_task,
                        spec,
                        *[futures[k] for k in plan.stage_keys.values()],
                        key=f"qlop-variant-{v.id}-{(v.config_hash or '')[:12]}-{self.tag}",
                        pure=False,
                    )
                    by_key[future.key] = plan
                    all_futures.append(future)
                done = sum(1 for r in self.records.values() if r.status == "completed")
                for future in as_completed([f for f in all_futures if f.key in by_key], loop=client.loop):
                    plan = by_key[future.key]
                    if future.status == "finished":
                        self._variant_done(plan, future.result())
                    else:
                        self._variant_failed(plan, future.exception())
                    done += 1
                    self.emit(
                        "progress",
                        {
                            "stage": "sweep",
                            "kind": "advance",
                            "step": done,
                            "total": len(self.plans),
                            "unit": "variants",
                            "run_fraction": round(done / len(self.plans), 4),
                        },
                    )
                    if time.monotonic() - self._last_write > PROGRESS_WRITE_INTERVAL:
                        self.write_sweep_json("running")
            except BaseException:
                client.cancel(all_futures, force=True)
                raise

    def _variant_done(self, plan: VariantPlan, result: dict[str, Any]) -> None:
        record = self.records[plan.variant.id]
        record.status = "completed"
        record.seconds, record.worker = result.get("seconds"), result.get("worker")
        record.cpu_seconds = result.get("cpu_seconds")
        self.variant_results[record.id] = result
        for stage_result in result.get("stage_results") or []:
            self.stage_results[stage_result["key"]] = stage_result
        record.metrics = read_variant_metrics(plan.run_dir)
        sharpe = record.metrics.get("sharpe")
        self.options.echo(f"{record.id} completed  Sharpe {format_metric('sharpe', sharpe)}  ({plan.variant.label()})")
        self.emit(
            "status",
            {
                "status": "variant_completed",
                "variant": record.id,
                "run_dir": record.run_dir,
                "values": record.values,
                "metrics": record.metrics,
                "seconds": record.seconds,
            },
        )

    def _variant_failed(self, plan: VariantPlan, exc: BaseException | None) -> None:
        record = self.records[plan.variant.id]
        record.status = "failed"
        record.error = _one_line(exc) if exc is not None else "failed"
        if not RunLayout(plan.run_dir).is_run():
            record.run_dir = ""  # it never started: the error names the stage that failed
        self.options.echo(f"{record.id} FAILED  {record.error}  ({plan.variant.label()})")
        self.emit(
            "status", {"status": "variant_failed", "variant": record.id, "error": record.error, "values": record.values}
        )

    # -- results -----------------------------------------------------------------------------

    def _stage_timings(self) -> dict[str, Any]:
        """Per variant: each stage computed for it, shared (computed for another variant) or cached (found
        from an earlier execution); for the sweep: the compute seconds its stages took, and what the
        variants would have cost one by one (every stage of every variant computed for it alone)."""
        owner: dict[str, str] = {}  # key -> the first variant of this execution that used it
        for plan in self.plans:
            if not self.records[plan.variant.id].resumed:
                for key in plan.stage_keys.values():
                    owner.setdefault(key, plan.variant.id)
        for plan in self.plans:
            record = self.records[plan.variant.id]
            stages: dict[str, Any] = {}
            for stage, key in plan.stage_keys.items():
                res = self.stage_results.get(key)
                task = self.tasks[key]
                if res is None:
                    stages[stage] = {"key": key, "status": "cached" if record.resumed else "not run"}
                    continue
                seconds = float(res.get("compute_seconds") or 0.0)
                status = (
                    "cached"
                    if res.get("status") == "cached"
                    else ("computed" if owner.get(key) == plan.variant.id else "shared")
                )
                stages[stage] = {
                    "key": key,
                    "status": status,
                    "compute_seconds": round(seconds, 3),
                    "stage_dir": str(task.run_dir),
                    "worker": res.get("worker"),
                }
            if not record.resumed:
                record.stages = stages
        computed: dict[str, float] = {}  # key -> compute seconds, each distinct stage once
        alone = 0.0
        for record in self.records.values():
            for stage in record.stages.values():
                seconds = float(stage.get("compute_seconds") or 0.0)
                alone += seconds
                computed[stage["key"]] = max(computed.get(stage["key"], 0.0), seconds)
        total = sum(computed.values())
        ran = [*self.stage_results.values(), *self.variant_results.values()]  # tasks of this execution
        workers: dict[str, dict[str, float]] = {}  # how the work spread over the workers
        for res in ran:
            w = workers.setdefault(str(res.get("worker")), {"tasks": 0, "seconds": 0.0, "cpu_seconds": 0.0})
            w["tasks"] += 1
            w["seconds"] = round(w["seconds"] + float(res.get("seconds") or 0), 3)
            w["cpu_seconds"] = round(w["cpu_seconds"] + float(res.get("cpu_seconds") or 0), 3)
        return {
            "compute_seconds": round(total, 3),
            "one_by_one_seconds": round(alone, 3),
            "saved_by_sharing_seconds": round(max(0.0, alone - total), 3),
            "tasks": len(ran),
            "task_seconds": round(sum(float(r.get("seconds") or 0) for r in ran), 3),
            "task_cpu_seconds": round(sum(float(r.get("cpu_seconds") or 0) for r in ran), 3),
            "workers": workers,
        }

    def _statistics(self) -> dict[str, Any] | None:
        from qlop.metrics import deflated_sharpe_across_trials

        trials, periods = [], []
        for plan in self.plans:
            record = self.records[plan.variant.id]
            if record.status != "completed":
                continue
            returns = read_variant_returns(plan.run_dir)
            if returns is not None:
                trials.append((record, returns))
                periods.append(_read_json(RunLayout(plan.run_dir).backtest_metrics).get("periods_per_year"))
        if not trials:
            return None
        stats = deflated_sharpe_across_trials([r for _, r in trials])
        for (record, _), dsr in zip(trials, stats["deflated_sharpe"]):
            record.deflated_sharpe = dsr if math.isfinite(dsr) else None
        # annualised with the trials' own periods per year (each run records what it inferred or was given)
        ppy = statistics.median([float(p) for p in periods if p]) if any(periods) else math.nan
        annual = math.sqrt(ppy)
        best = max(
            trials, key=lambda t: t[0].metrics.get("sharpe") if t[0].metrics.get("sharpe") is not None else -math.inf
        )[0]
        return {
            "n_trials": stats["n_trials"],
            "sharpe_variance": stats["sharpe_variance"],
            "sr0": stats["sr0"],
            "sr0_annualized": stats["sr0"] * annual,
            "sharpe_variance_annualized": stats["sharpe_variance"] * ppy,
            "periods_per_year": ppy,
            "best": {"variant": best.id, "sharpe": best.metrics.get("sharpe"), "deflated_sharpe": best.deflated_sharpe},
        }

    def _record_trials(self) -> dict[str, Any] | None:
        from qlop.trials import count_trials, ledger_path, record_trials, trial_hash

        groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for plan in self.plans:
            record = self.records[plan.variant.id]
            config = plan.variant.config
            if record.status != "completed" or config.backtest is None or record.resumed:
                continue  # a resumed variant was counted when it ran
            groups.setdefault((config.runs_dir, config.name), []).append(
                {
                    "config_hash": trial_hash(config),
                    "run_dir": record.run_dir,
                    "source": f"sweep:{self.sweep.name}",
                    "sharpe": record.metrics.get("sharpe"),
                }
            )
        for plan in self.plans:  # the ledgers of resumed variants are reported too
            config = plan.variant.config
            if config.backtest is not None:
                groups.setdefault((config.runs_dir, config.name), [])
        if not groups:
            return None
        ledgers = []
        for (runs_dir, name), trials in groups.items():
            n = record_trials(runs_dir, name, trials) if trials else count_trials(runs_dir, name)
            ledgers.append({"name": name, "path": str(ledger_path(runs_dir, name).resolve()), "n_tried": n})
        return {
            "name": ledgers[0]["name"],
            "path": ledgers[0]["path"],
            "n_tried": sum(g["n_tried"] for g in ledgers),
            "ledgers": ledgers,
        }

    def summary(self, status: str, timings: dict[str, Any], statistics: Any, ledger: Any) -> dict[str, Any]:
        spec = self.sweep.spec
        counts = {
            s: sum(1 for r in self.records.values() if r.status == s)
            for s in ("completed", "failed", "interrupted", "pending")
        }
        return {
            "format": SWEEP_FORMAT,
            "name": self.sweep.name,
            "status": status,
            "task_id": self.task_id,
            "sweep_file": str(self.sweep.path.resolve()),
            "base": spec.base if isinstance(spec.base, str) else "inline",
            "mode": spec.mode,
            "samples": spec.samples,
            "seed": spec.seed if spec.mode == "random" else None,
            "axes": [{"path": a.path, "values": _json_value(a.values)} for a in spec.axes],
            "n_variants": len(self.records),
            "counts": counts,
            "started_utc": self.started_utc,
            "finished_utc": runs.utc_now() if status != "running" else None,
            "seconds": round(time.monotonic() - self.started, 3),
            "cluster": self.cluster_info,
            "stage_tasks": len(self.tasks),
            "shared_stage_tasks": sum(1 for t in self.tasks.values() if len(t.variants) > 1),
            "timings": timings,
            "statistics": statistics,
            "trials_ledger": ledger,
            "command": self.options.command,
            "variants": [r.to_json() for r in self.records.values()],
        }

    def write_sweep_json(
        self, status: str, timings: Any = None, statistics: Any = None, ledger: Any = None, error: str | None = None
    ) -> dict[str, Any]:
        data = self.summary(status, timings or {}, statistics, ledger)
        if error is not None:
            data["error"] = error
        write_json(self.layout.sweep_json, data)
        self._last_write = time.monotonic()
        return data

    def finish(self, interrupted: BaseException | None) -> SweepOutcome:
        from qlop.atomic import atomic_path, write_text
        from qlop.scale.report import results_frame, sweep_report

        for plan in self.plans:
            record = self.records[plan.variant.id]
            if record.status == "pending" and _finished(plan):  # finished while the sweep was stopping
                record.status = "completed"
                record.metrics = read_variant_metrics(plan.run_dir)
            elif record.status == "pending":
                record.status = "interrupted" if interrupted is not None else "failed"
            if record.resumed and not record.metrics:
                record.metrics = read_variant_metrics(Path(record.run_dir))
        timings = self._stage_timings()
        statistics = self._statistics()
        ledger = self._record_trials()
        failed = [r for r in self.records.values() if r.status == "failed"]
        status = "interrupted" if interrupted is not None else ("some_failed" if failed else "completed")
        data = self.write_sweep_json(status, timings, statistics, ledger)
        frame = results_frame(data)
        with atomic_path(self.layout.results) as tmp:
            frame.to_parquet(tmp, index=False)
        write_text(self.layout.report, sweep_report(data, frame))
        final: dict[str, Any] = {
            "status": "completed" if status == "completed" else "failed",
            "sweep_dir": str(self.layout.root),
            "n_variants": len(self.records),
            "n_failed": len(failed),
            "seconds": data["seconds"],
            "results": str(self.layout.results),
            "report": str(self.layout.report),
        }
        if status != "completed":
            final["error"] = (
                "interrupted" if interrupted is not None else f"{len(failed)} of {len(self.records)} variants failed"
            )
            final["interrupted"] = interrupted is not None
        self.emit("status", final)
        return SweepOutcome(self.layout, list(self.records.values()), data)


def run_sweep(sweep: Sweep, options: SweepOptions, manager: Any) -> SweepOutcome:
    """Run every variant of ``sweep`` (resuming finished ones) and write the sweep's outputs."""
    return SweepRunner(sweep, options, manager).run()
