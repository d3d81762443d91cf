"""Sweeps on Dask: parallel speedup, scheduling overhead per task, and what stage sharing saves.

Run: python benchmarks/sweep.py [--workers 2] [--tasks 200]

1. Speedup. A 12-variant sweep of the quickstart (4 leverages x 3 entry thresholds) at
   ``--workers 1`` and at ``--workers N`` (local clusters, fresh sweep directories, nothing
   cached). Goal: >= 1.7x on 2 cores. The machine may be shared, so the CPU seconds the tasks used
   (``time.process_time`` in every task) are printed too: wall-clock speedup on a loaded machine can
   only be as good as the cores it actually got. Also printed: how busy the workers were, each
   worker's CPU seconds, and the speedup the schedule allows when every worker has a core of its own
   (the serial run's task CPU over the busiest worker's task CPU).
2. Scheduling overhead. ``--tasks`` no-op tasks through the same client (``qlop.scale.cluster``), one
   worker: the wall time per task, as a batch of independent tasks and as a dependency chain (each
   waits for the previous, the sweep's stage-to-stage pattern). Goal: < 20 ms. Also QLOP's own fixed
   cost per task: a variant task whose stages are all shared only links artefacts and writes a
   manifest; its median wall and CPU time are printed.
3. Stage sharing. 12 variants that differ only in the strategy (entry threshold), with sharing (one
   data, features, train and export task for all 12) and without (every variant computes its own),
   both at ``--workers N``: wall times, compute seconds, and the stage counts that show data, features
   and training are not recomputed.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

QUICKSTART = Path(__file__).resolve().parents[1] / "examples" / "quickstart.toml"


def write_sweep(directory: Path, name: str, axes: dict[str, list]) -> Path:
    lines = [f'base = "{QUICKSTART}"']
    for path, values in axes.items():
        lines += ["[[axes]]", f'path = "{path}"', f"values = {json.dumps(values)}"]
    out = directory / f"{name}.toml"
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


def run(sweep_file: Path, sweep_dir: Path, workers: int, share: bool = True) -> dict:
    from qlop.plugins.manager import get_plugin_manager
    from qlop.scale.cluster import ClusterSpec
    from qlop.scale.sweep import SweepOptions, run_sweep
    from qlop.scale.sweepfile import load_sweep

    manager = get_plugin_manager()
    sweep = load_sweep(sweep_file, manager)
    started = time.perf_counter()
    outcome = run_sweep(
        sweep, SweepOptions(sweep_dir=sweep_dir, cluster=ClusterSpec(workers=workers), share=share), manager
    )
    wall = time.perf_counter() - started
    summary = outcome.summary
    assert summary["status"] == "completed", [r.error for r in outcome.failed]
    computed = {}
    for variant in summary["variants"]:
        for stage, record in variant["stages"].items():
            computed[stage] = computed.get(stage, 0) + (record["status"] == "computed")
    return {
        "wall": wall,
        "timings": summary["timings"],
        "computed": computed,
        "variant_task_seconds": [v["seconds"] for v in summary["variants"]],
        "variant_task_cpu": [v["cpu_seconds"] for v in summary["variants"]],
    }


def _noop(*_: object) -> int:
    return 0


def scheduling_overhead(n_tasks: int) -> tuple[float, float]:
    """Milliseconds per task: independent no-op tasks, and a chain of them (one worker)."""
    from qlop.scale.cluster import ClusterSpec, dask_client

    with dask_client(ClusterSpec(workers=1)) as client:
        client.submit(_noop, pure=False).result()  # warm up the worker
        t0 = time.perf_counter()
        futures = [client.submit(_noop, i, pure=False) for i in range(n_tasks)]
        client.gather(futures)
        batch = (time.perf_counter() - t0) / n_tasks
        t0 = time.perf_counter()
        previous = client.submit(_noop, -1, pure=False)
        for i in range(n_tasks):
            previous = client.submit(_noop, previous, i, pure=False)
        previous.result()
        chain = (time.perf_counter() - t0) / (n_tasks + 1)
    return batch * 1000, chain * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument(
        "--only",
        type=int,
        choices=(1, 2, 3),
        action="append",
        help="Run only this part (repeatable); default all three.",
    )
    args = parser.parse_args()
    parts = set(args.only or (1, 2, 3))

    with tempfile.TemporaryDirectory(prefix="qlop-bench-sweep-") as tmp:
        root = Path(tmp)
        runs = {"runs_dir": [str(root / "runs")]}  # a one-value axis: the trials ledger goes to the temp dir
        grid = write_sweep(
            root,
            "grid",
            {
                "label.label_params.leverage": [1.5, 2.0, 2.5, 3.0],
                "backtest.strategy_params.entry": [0.53, 0.55, 0.57],
                **runs,
            },
        )
        strategy = write_sweep(
            root,
            "strategy",
            {
                "backtest.strategy_params.entry": [
                    0.50,
                    0.51,
                    0.52,
                    0.53,
                    0.54,
                    0.55,
                    0.56,
                    0.57,
                    0.58,
                    0.59,
                    0.60,
                    0.61,
                ],
                **runs,
            },
        )

        print(
            "sweep benchmark: examples/quickstart.toml (12 tickers, 2003-2017, walk-forward XGBoost, ONNX "
            "export), 12 variants per sweep"
        )
        if 1 in parts or 2 in parts:
            one = run(grid, root / "w1", 1)
            many = run(grid, root / f"w{args.workers}", args.workers)
        if 1 in parts:
            print_speedup(one, many, args.workers)
        if 2 in parts:
            print_overhead(many, args.tasks)
        if 3 in parts:
            print_sharing(strategy, root, args.workers)


def print_speedup(one: dict, many: dict, workers: int) -> None:
    print("\n1. speedup (4 leverages x 3 entries: 4 data/features/train/export chains, 12 backtests)")
    for label, res in (("--workers 1", one), (f"--workers {workers}", many)):
        t = res["timings"]
        print(
            f"   {label:<12} wall {res['wall']:7.1f} s   task CPU {t['task_cpu_seconds']:7.1f} s   "
            f"task wall {t['task_seconds']:7.1f} s   ({t['tasks']} tasks)"
        )
    speedup = one["wall"] / many["wall"]
    cpu_ratio = many["timings"]["task_cpu_seconds"] / max(one["timings"]["task_cpu_seconds"], 1e-9)
    used = many["timings"]["task_cpu_seconds"] / many["wall"]
    per_worker = many["timings"]["workers"]
    busy = many["timings"]["task_seconds"] / (len(per_worker) * many["wall"])
    bound = one["timings"]["task_cpu_seconds"] / max(w["cpu_seconds"] for w in per_worker.values())
    print(f"   speedup {speedup:.2f}x wall-clock (goal >= 1.7x on 2 cores)")
    print(
        f"   the {workers}-worker run used {used:.2f} cores on average (the machine's other load decides that), "
        f"{cpu_ratio:.2f}x the serial run's CPU seconds (each worker process imports QLOP and its libraries "
        f"once); its workers ran tasks {busy:.0%} of the wall time"
    )
    print(
        "   CPU seconds per worker: "
        + ", ".join(f"{w['cpu_seconds']:.1f} s ({w['tasks']} tasks)" for w in per_worker.values())
        + f"; with a full core per worker the schedule allows {bound:.2f}x (serial CPU / busiest worker's CPU)"
    )


def print_overhead(many: dict, n_tasks: int) -> None:
    batch, chain = scheduling_overhead(n_tasks)
    fixed = sorted(many["variant_task_seconds"])
    fixed_cpu = sorted(many["variant_task_cpu"])
    print(
        f"\n2. scheduling overhead per task ({n_tasks} no-op tasks, 1 worker): "
        f"{batch:.2f} ms independent, {chain:.2f} ms chained (goal < 20 ms)"
    )
    print(
        f"   QLOP's fixed cost of a task whose stages are all shared (assemble a run dir): "
        f"median {fixed[len(fixed) // 2] * 1000:.0f} ms wall, {fixed_cpu[len(fixed_cpu) // 2] * 1000:.0f} ms CPU"
    )


def print_sharing(strategy: Path, root: Path, workers: int) -> None:
    shared = run(strategy, root / "shared", workers, share=True)
    alone = run(strategy, root / "alone", workers, share=False)
    print("\n3. stage sharing (12 variants differing only in the entry threshold)")
    for label, res in (("shared", shared), ("unshared", alone)):
        c = res["computed"]
        print(
            f"   {label:<9} wall {res['wall']:7.1f} s   task CPU {res['timings']['task_cpu_seconds']:6.1f} s   "
            f"stage compute {res['timings']['compute_seconds']:7.1f} s   "
            f"computed: data {c.get('data', 0)}, features {c.get('features', 0)}, train {c.get('train', 0)}, "
            f"export {c.get('export', 0)}, backtest {c.get('backtest', 0)}"
        )
    cpu_alone, cpu_shared = alone["timings"]["task_cpu_seconds"], shared["timings"]["task_cpu_seconds"]
    print(
        f"   sharing saved {alone['wall'] - shared['wall']:.1f} s of wall time "
        f"({alone['wall'] / shared['wall']:.1f}x) and {cpu_alone - cpu_shared:.1f} s of task CPU "
        f"({cpu_alone / max(cpu_shared, 1e-9):.1f}x); sweep.json's own estimate (stage wall seconds, "
        f"each shared stage counted once per variant): {shared['timings']['saved_by_sharing_seconds']:.1f} s"
    )


if __name__ == "__main__":
    main()
