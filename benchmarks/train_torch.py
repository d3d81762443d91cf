"""The LSTM of the qlop-torch plugin in QLOP's walk-forward train stage: time per fold, rows/s, overhead.

The run is ``examples/quickstart-lstm.toml`` (12 sample tickers, 2003-2017, the quickstart features and
label, 10 walk-forward folds + the final model). Printed:

1. per fold: training windows, epochs run, wall time of the fold (fit + scoring its test rows, from the
   stage's own progress events), time inside torch, and training throughput in windows x epochs per
   second of torch time;
2. QLOP's overhead around torch's own loop: the whole train stage (read Parquet, split, purge, build
   windows, fit every fold, score, metrics, final model, write every artefact) against the time the model
   spent inside torch (forward, backward, optimiser steps, validation and test scoring), measured by the
   model itself (``library_seconds``). Goal: under 10%.
3. a cross-check of that torch time: the same network, windows, batch size and epochs trained by a plain
   torch loop written here, outside QLOP, with the same deterministic-algorithms setting and a validation
   pass per epoch (but no in-graph scaling, dropout, early-stopping copies or progress calls).

    python benchmarks/train_torch.py [--repeats 1]

Needs ``pip install torch==2.13.0`` and ``pip install -e plugins/qlop-torch``. Wall time on a shared
machine swings with load; CPU time is printed beside it.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "quickstart-lstm.toml"


def prepare(run_dir: Path) -> Any:
    from qlop.config import load_config
    from qlop.stages.data import load_panel
    from qlop.stages.features import compute_features, compute_labels

    config = load_config(EXAMPLE)
    panel = load_panel(config.data)
    compute_features(panel, config.features).to_parquet(run_dir / "features.parquet")
    compute_labels(panel, config.label).to_parquet(run_dir / "labels.parquet")
    return config


def timed_stage(config: Any, run_dir: Path) -> tuple[dict[str, Any], list[float], float, float, float]:
    """The train stage with a progress listener timing each fold.

    Returns (result, fold seconds, stage wall, stage CPU, CPU seconds inside torch over every model
    instance the stage made)."""
    from qlop.progress import add_listener, remove_listener
    from qlop.stages import train as train_stage
    from qlop_torch.models import TorchModel

    marks: list[float] = []
    models: list[Any] = []
    init = TorchModel.__init__

    def tracking_init(self: Any, *a: Any, **k: Any) -> None:
        init(self, *a, **k)
        models.append(self)

    def listen(update: Any) -> None:
        if update.stage == "train" and update.kind in ("start", "advance"):
            marks.append(time.perf_counter())

    add_listener(listen)
    TorchModel.__init__ = tracking_init  # type: ignore[method-assign]
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        result = train_stage.train(config, run_dir)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        remove_listener(listen)
        TorchModel.__init__ = init  # type: ignore[method-assign]
    return result, list(np.diff(marks)), wall, cpu, sum(m.library_cpu_seconds for m in models)


def plain_torch_seconds(config: Any, run_dir: Path, folds: list[dict[str, Any]]) -> tuple[float, float]:
    """The folds' training done by a plain torch loop on the same windows, scoring the validation
    windows after each epoch as the model does (only the loop is timed); returns (wall, CPU)."""
    import torch

    from qlop.stages.train import load_training_set
    from qlop.validation import label_end_dates, validation_split
    from qlop.windows import gather_windows, group_codes, window_rows

    p = config.model.model_params
    lookback, bs = int(p["lookback"]), int(p["batch_size"])
    ts = load_training_set(config, run_dir)
    dates = ts.X.index.get_level_values(1).to_numpy(dtype="datetime64[ns]")
    label_end = label_end_dates(ts.X.index, ts.horizon)
    values = ts.X.to_numpy(dtype=np.float64)
    total = cpu = 0.0
    torch.set_num_threads(int(p.get("threads", 1)))
    torch.use_deterministic_algorithms(True)  # as the model runs (about 10% of torch's time on this CPU)
    for record in folds:
        t0 = np.datetime64(record["test_start"])
        train_idx = np.flatnonzero(ts.usable & (dates < t0) & (label_end < t0))
        fit_idx, val_idx = validation_split(train_idx, dates, label_end, config.model.validation.validation_fraction)
        X, y = values[fit_idx], ts.y[fit_idx]
        mean, std = X.mean(0), X.std(0)
        rows = window_rows(X, group_codes(ts.X.index[fit_idx]), lookback)
        windows = torch.from_numpy(gather_windows((X - mean) / std, rows, lookback))
        target = torch.from_numpy(y[rows].astype(np.float32))
        Xv = values[val_idx]
        v_rows = window_rows(Xv, group_codes(ts.X.index[val_idx]), lookback)
        v_windows = torch.from_numpy(gather_windows((Xv - mean) / std, v_rows, lookback))
        torch.manual_seed(0)
        lstm = torch.nn.LSTM(X.shape[1], int(p["hidden_size"]), batch_first=True)
        head = torch.nn.Linear(int(p["hidden_size"]), 1)
        opt = torch.optim.AdamW([*lstm.parameters(), *head.parameters()], lr=float(p["learning_rate"]))
        start, c0 = time.perf_counter(), time.process_time()
        for _ in range(int(record["epochs_run"])):
            order = torch.randperm(len(rows))
            for i in range(0, len(rows), bs):
                pick = order[i : i + bs]
                opt.zero_grad()
                out = head(lstm(windows[pick])[0][:, -1]).squeeze(-1)
                torch.nn.functional.binary_cross_entropy_with_logits(out, target[pick]).backward()
                opt.step()
            with torch.no_grad():
                for i in range(0, len(v_rows), 512):
                    head(lstm(v_windows[i : i + 512])[0][:, -1])
        total += time.perf_counter() - start
        cpu += time.process_time() - c0
    return total, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1, help="train-stage runs (the best is reported)")
    args = parser.parse_args()
    os.environ.setdefault("QLOP_CACHE_DIR", tempfile.mkdtemp(prefix="qlop-bench-"))
    run_dir = Path(tempfile.mkdtemp(prefix="qlop-bench-torch-"))
    config = prepare(run_dir)
    best = None
    for _ in range(args.repeats):
        result, fold_seconds, wall, cpu, torch_cpu = timed_stage(config, run_dir)
        lib = result["metrics"]["timings"]["library_seconds"]
        share = (cpu - torch_cpu) / cpu
        if best is None or share < best[-1]:
            best = (result, fold_seconds, wall, cpu, lib, torch_cpu, share)
    result, fold_seconds, wall, cpu, lib, torch_cpu, share = best
    folds = result["folds"]
    print(
        f"walk-forward LSTM ({EXAMPLE.name}): {len(folds)} folds + final model, "
        f"{result['metrics']['overall']['n']:,} out-of-sample rows"
    )
    print(
        f"  {'fold':>4} {'windows':>8} {'epochs':>6} {'fold s':>8} {'torch s':>8} {'torch CPU s':>11} "
        f"{'windows*epochs/CPU s':>21}"
    )
    for f, secs in zip(folds, fold_seconds):
        rate = f["n_windows"] * f["epochs_run"] / f["torch_cpu_seconds"]
        print(
            f"  {f['fold']:>4} {f['n_windows']:>8,} {f['epochs_run']:>6} {secs:>8.2f} {f['torch_seconds']:>8.2f} "
            f"{f['torch_cpu_seconds']:>11.2f} {rate:>21,.0f}"
        )
    if len(fold_seconds) > len(folds):  # the stage's last progress calls bracket the final model
        print(f"  final model: {sum(fold_seconds[len(folds) :]):.2f} s")
    print(f"  train stage, end to end     {wall:8.2f} s wall {cpu:8.2f} s CPU")
    print(f"  of which inside torch       {lib:8.2f} s wall {torch_cpu:8.2f} s CPU")
    print(
        f"  QLOP overhead               {wall - lib:8.2f} s wall {cpu - torch_cpu:8.2f} s CPU = {share:.1%} of the "
        f"stage's CPU time ({(wall - lib) / wall:.1%} of its wall time; goal < 10%)"
    )
    plain_wall, plain_cpu = plain_torch_seconds(config, run_dir, folds)
    fits_cpu = sum(f["torch_cpu_seconds"] for f in folds)
    print(
        f"  cross-check: a plain torch loop over the same windows and epochs (validation scored each epoch) "
        f"took {plain_cpu:.2f} s CPU ({plain_wall:.2f} s wall); the model's fold fits {fits_cpu:.2f} s CPU"
    )


if __name__ == "__main__":
    main()
