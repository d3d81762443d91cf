"""Walk-forward folds as Dask tasks: ``qlop run -c CFG --workers N`` (or ``--scheduler ADDRESS``).

The folds of one run are independent until the final model, which reuses what they learned
(``final_params``), so each fold is one task. The training set goes to the cluster once (scattered
to every worker); a task rebuilds the model from the run's config under the client's plugin
selection and calls the same :func:`qlop.stages.train.fit_fold` the serial loop calls, on the same
rows, so with seeded models of fixed thread counts its predictions are bit-identical to the serial
run's. The client reports each fold as it completes and assembles everything in fold order.
Workers need no shared storage for this: data goes in and predictions come back over Dask.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from qlop.config import PipelineConfig
    from qlop.stages.train import FoldFit, TrainingSet

#: Seconds between checks for a requested stop (Ctrl-C) while waiting for fold tasks.
POLL_SECONDS = 0.2


def fit_fold_task(spec: dict[str, Any], data: dict[str, Any], fold: dict[str, Any]) -> "FoldFit":
    """Runs on a worker: fit one fold exactly as the serial loop would."""
    from qlop.config import config_from_data, validate_plugins
    from qlop.scale.tasks import worker_manager
    from qlop.stages.train import TrainingSet, fit_fold
    from qlop.validation import Fold

    started, cpu_started = time.monotonic(), time.process_time()
    pm = worker_manager(spec["selection"])
    config = config_from_data(spec["config"], spec["source"])
    validate_plugins(config, pm)  # also loads the config's plugins_dir on this worker
    ts = TrainingSet(data["X"], data["y"], data["usable"], data["task"], data["horizon"], {}, data["scorable"])
    fit = fit_fold(config, ts, Fold(**fold), data["label_end"], data["dates"])
    fit.worker = _worker_address()
    fit.seconds = time.monotonic() - started
    fit.cpu_seconds = time.process_time() - cpu_started
    return fit


def _worker_address() -> str | None:
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return None


def fit_folds(
    client: Any,
    config: "PipelineConfig",
    ts: "TrainingSet",
    folds: list[Any],
    label_end: np.ndarray,
    dates: np.ndarray,
    info: dict[str, Any],
) -> Iterator["FoldFit"]:
    """Submit one task per fold; return the fits as they complete. ``info`` receives facts about the
    execution (workers, scatter time, the tasks' wall and CPU seconds), updated as folds complete.

    The iterator waits with a short poll, so a stop requested by Ctrl-C (:mod:`qlop.progress`) is
    raised between folds; leaving it early (an error, an interrupt) cancels the remaining tasks.
    """
    import secrets

    from qlop.plugins.manager import get_plugin_manager
    from qlop.scale.tasks import selection_dict

    tag = secrets.token_hex(4)
    spec = {
        "config": config.model_dump(mode="json"),
        "source": f"{config.name} (fold task)",
        "selection": selection_dict(get_plugin_manager()),
    }
    data = {
        "X": ts.X,
        "y": ts.y,
        "usable": ts.usable,
        "scorable": ts.scorable,
        "task": ts.task,
        "horizon": ts.horizon,
        "dates": dates,
        "label_end": label_end,
    }
    workers = len(client.scheduler_info(n_workers=-1).get("workers") or {})
    t0 = time.monotonic()
    [data_future] = client.scatter([data], broadcast=True, hash=False)
    scatter_seconds = time.monotonic() - t0
    futures = [
        client.submit(
            fit_fold_task,
            spec,
            data_future,
            {
                "fold": f.fold,
                "train_idx": f.train_idx,
                "test_idx": f.test_idx,
                "test_start": f.test_start,
                "test_end": f.test_end,
                "n_purged": f.n_purged,
                "n_embargoed": f.n_embargoed,
                "extra": dict(f.extra),
            },
            key=f"qlop-fold-{f.fold}-{tag}",
            pure=False,
        )
        for f in folds
    ]
    info.update(workers=workers, tasks=len(futures), scatter_seconds=round(scatter_seconds, 3))
    return _completed(client, futures, [data_future], info)


def _completed(client: Any, futures: list[Any], keep: list[Any], info: dict[str, Any]) -> Iterator["FoldFit"]:
    from distributed import as_completed

    from qlop.progress import check_stop

    task_seconds = cpu_seconds = 0.0
    per_worker: dict[str, float] = {}  # CPU seconds of the fold tasks each worker ran
    done = False
    try:
        pending = as_completed(futures, loop=client.loop)
        while not pending.is_empty():
            batch = pending.next_batch(block=False)
            if not batch:
                check_stop()
                time.sleep(POLL_SECONDS)
                continue
            for future in batch:
                fit = future.result()  # a fold's error is re-raised here, naming the model's plugin
                task_seconds += fit.seconds or 0.0
                cpu_seconds += fit.cpu_seconds or 0.0
                per_worker[fit.worker or "?"] = per_worker.get(fit.worker or "?", 0.0) + (fit.cpu_seconds or 0.0)
                info.update(
                    task_seconds=round(task_seconds, 3),
                    task_cpu_seconds=round(cpu_seconds, 3),
                    worker_cpu_seconds={w: round(c, 3) for w, c in sorted(per_worker.items())},
                )
                yield fit
        done = True
    finally:
        if not done:
            client.cancel(futures, force=True)
        client.cancel(keep)
