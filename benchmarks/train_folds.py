"""One run on Dask: walk-forward folds as tasks, distributed XGBoost, and per-task costs for capacity.

Run: python benchmarks/train_folds.py [--config examples/quickstart.toml] [--workers 2] [--repeats 2]

The quickstart (12 tickers, 2003-2017, 10 walk-forward folds, 200 trees) with one thread per model
(``nthread = 1``: fixed, so a fold's result does not depend on where it runs):

1. Per-task costs: each stage of one run (data, features and labels, train, backtest, export), wall
   and CPU seconds in this process, and the process's peak memory. These are the figures the capacity
   estimate in docs/scale.md multiplies out.
2. Folds as tasks: the train stage serially, then on a local cluster of ``--workers`` processes twice
   (cold: the cluster starts and its workers import QLOP and XGBoost inside the stage; warm: the same
   cluster again). Speedup = serial wall / parallel wall; the predictions must be bit-identical. On a
   shared machine wall time is only as good as the cores the run got, so the fold tasks' CPU seconds
   are printed beside it.
3. Distributed XGBoost (``distributed = true``) on the same folds: out-of-sample AUC against the
   single-process run (goal: within 0.01), and its wall time.
4. A whole run through the pipeline, then the same run assembled from those cached stages into a new
   run directory (hard links and a manifest: the fixed cost of a sweep's variant task).
5. Dask's scheduling overhead per task (the sweep benchmark's measurement, one worker).
"""

from __future__ import annotations

import argparse
import copy
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def _timed(fn: Any, *args: Any) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn(*args)
    return out, time.perf_counter() - wall, time.process_time() - cpu


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _copy_inputs(src: Path, dst: Path) -> Path:
    dst.mkdir(parents=True)
    for name in ("features.parquet", "labels.parquet"):
        shutil.copy(src / name, dst / name)
    return dst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(REPO / "examples" / "quickstart.toml"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--tickers",
        type=int,
        default=None,
        help="the first N tickers of the embedded sample instead of the config's (heavier folds)",
    )
    parser.add_argument("--trees", type=int, default=None, help="n_estimators (default: the config's)")
    parser.add_argument(
        "--early-stopping",
        type=int,
        default=None,
        help="early_stopping_rounds (0: every fold fits all trees; default: the config's)",
    )
    args = parser.parse_args()

    from qlop import progress
    from qlop.config import config_from_data, load_config
    from qlop.scale.cluster import ClusterSpec, cluster_session
    from qlop.stages import backtest, data, export, features, train

    config = load_config(args.config)
    spec = config.model_dump(mode="json")
    spec["model"]["model_params"]["nthread"] = 1
    if args.trees is not None:
        spec["model"]["model_params"]["n_estimators"] = args.trees
    if args.early_stopping is not None:
        spec["model"]["model_params"]["early_stopping_rounds"] = args.early_stopping
    if args.tickers is not None:
        from qlop_contrib.datasources.sample import PRIMARY_TICKERS

        spec["data"]["tickers"] = list(PRIMARY_TICKERS[: args.tickers])
    with tempfile.TemporaryDirectory(prefix="qlop-bench-folds-") as tmp:
        root = Path(tmp)
        spec["runs_dir"] = str(root / "runs")
        config = config_from_data(copy.deepcopy(spec), "bench")
        run_dir = root / "serial"
        run_dir.mkdir()

        mp = config.model.model_params
        print(
            f"one run on Dask: {args.config} with nthread = 1 ({len(config.data.tickers)} tickers, "
            f"{config.data.start_date} .. {config.data.end_date}, {mp.get('n_estimators')} trees, early stopping "
            f"{mp.get('early_stopping_rounds')})"
        )
        costs: dict[str, tuple[float, float]] = {}
        _, wall, cpu = _timed(data.run, config, run_dir)
        costs["data"] = (wall, cpu)
        _, wall, cpu = _timed(features.run, config, run_dir)
        costs["features"] = (wall, cpu)
        serial_runs = []
        marks: dict[str, float] = {}

        def mark(update: Any) -> None:  # CPU clock when the serial folds end and the final model starts
            if update.stage == "train" and update.message == "final model (every row)":
                marks["folds_done"] = time.process_time()

        progress.add_listener(mark)
        for _ in range(args.repeats):
            t0 = time.process_time()
            result, wall, cpu = _timed(train.train, config, run_dir)
            serial_runs.append((wall, cpu, marks["folds_done"] - t0))
        progress.remove_listener(mark)
        serial = result
        costs["train"] = min(serial_runs)[:2]
        serial_fold_cpu = min(serial_runs)[2]
        if config.backtest is not None:
            _, wall, cpu = _timed(backtest.run, config, run_dir)
            costs["backtest"] = (wall, cpu)
        if config.export is not None:
            _, wall, cpu = _timed(export.run, config, run_dir)
            costs["export"] = (wall, cpu)
        n_folds = serial["metrics"]["n_folds"]
        print(f"\n1. per-task costs of one run ({n_folds} folds; best of {args.repeats} for train)")
        for stage, (wall, cpu) in costs.items():
            print(f"   {stage:<9} wall {wall:7.2f} s   CPU {cpu:7.2f} s")
        total_cpu = sum(cpu for _, cpu in costs.values())
        print(f"   one run: CPU {total_cpu:.1f} s; peak memory of this process {_peak_mb():.0f} MB")

        print(f"\n2. folds as tasks: train stage serial vs --workers {args.workers}")
        for i, (wall, cpu, folds_cpu) in enumerate(serial_runs):
            print(f"   serial  #{i + 1}                wall {wall:7.2f} s   CPU {cpu:7.2f} s (folds {folds_cpu:.2f} s)")
        best_serial = min(w for w, _, _ in serial_runs)
        warm: list[float] = []
        with cluster_session(ClusterSpec(workers=args.workers)):
            for i in range(args.repeats + 1):
                target = _copy_inputs(run_dir, root / f"tasks{i}")
                t0 = time.perf_counter()
                parallel = train.train(config, target)
                wall = time.perf_counter() - t0
                ex = parallel["metrics"]["execution"]
                same = parallel["predictions"].equals(serial["predictions"])
                label = "cold (cluster starts)" if i == 0 else f"warm #{i}"
                busiest = max(ex["worker_cpu_seconds"].values())
                print(
                    f"   {label:<22} wall {wall:7.2f} s   fold-task CPU {ex['task_cpu_seconds']:7.2f} s "
                    f"(busiest worker {busiest:.2f} s)   speedup {best_serial / wall:.2f}x   "
                    f"predictions bit-identical: {same}"
                )
                assert same, "fold tasks must reproduce the serial predictions exactly"
                warm.append(busiest)
        # the CPU critical path: the busiest worker's folds, then the final model (here, after them)
        busiest = min(warm[1:] or warm)
        rest = costs["train"][1] - serial_fold_cpu
        print(
            f"   CPU-bound speedup (what {args.workers} free cores would give): serial train CPU "
            f"{costs['train'][1]:.2f} s / (busiest worker's fold CPU {busiest:.2f} s + final model and the "
            f"rest {rest:.2f} s) = {costs['train'][1] / (busiest + rest):.2f}x"
        )

        print(f"\n3. distributed XGBoost (xgboost.dask, {args.workers} workers) on the same folds")
        dist_spec = copy.deepcopy(spec)
        dist_spec["model"]["model_params"]["distributed"] = True
        dist_config = config_from_data(dist_spec, "bench-distributed")
        with cluster_session(ClusterSpec(workers=args.workers)):
            target = _copy_inputs(run_dir, root / "distributed")
            dist, wall, cpu = _timed(train.train, dist_config, target)
        a, b = serial["metrics"]["overall"]["auc"], dist["metrics"]["overall"]["auc"]
        fold_diffs = [
            abs(x["auc"] - y["auc"])
            for x, y in zip(serial["metrics"]["folds"], dist["metrics"]["folds"])
            if x.get("auc") is not None and y.get("auc") is not None
        ]
        print(
            f"   AUC single-process {a:.4f}, distributed {b:.4f}: |difference| {abs(a - b):.4f} (goal <= 0.01); "
            f"largest per-fold difference {max(fold_diffs):.4f}"
        )
        print(f"   wall {wall:.2f} s (cluster start included; client CPU {cpu:.2f} s)")

        from qlop.stages.pipeline import run_pipeline

        first = root / "pipeline" / "first"
        _, full_wall, full_cpu = _timed(lambda: run_pipeline(config, first, search_dirs=[]))
        _, fixed_wall, fixed_cpu = _timed(
            lambda: run_pipeline(config, root / "pipeline" / "second", search_dirs=[], cache_sources=[first])
        )
        print(
            f"\n4. a whole run through the pipeline: wall {full_wall:.2f} s, CPU {full_cpu:.2f} s; the same run "
            f"assembled from cached stages (what a sweep's variant task does once its stages exist): "
            f"wall {fixed_wall:.2f} s, CPU {fixed_cpu:.2f} s"
        )

        sys.path.insert(0, str(REPO / "benchmarks"))
        from sweep import (
            scheduling_overhead,  # the sweep benchmark's measurement, not a second one
        )

        batch, chain = scheduling_overhead(200)
        print(
            f"\n5. Dask scheduling overhead per task (200 no-op tasks, 1 worker): {batch:.2f} ms independent, "
            f"{chain:.2f} ms chained"
        )


if __name__ == "__main__":
    main()
