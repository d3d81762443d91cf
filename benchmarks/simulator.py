"""Leveraged-trade simulator: time of qlop.sim.simulate, and its ratio to a per-trade Python loop.

Run: python benchmarks/simulator.py [--repeat 7] [--tickers 500] [--bars 5000]

Prints the median wall time and the best CPU time (of this process) of N runs of
  * simulate on the 29 sample tickers: one trade per labelled row (~128,000 trades, H = 10), long with
    take-profit/stop/costs, short with a borrow fee, and mixed sides with per-trade horizons and
    exit-at-open overrides;
  * the plain per-trade loop the tests use as the reference (tests/sim/conftest.py), on 5,000 of those
    trades, scaled to all of them, as a ratio;
  * simulate and the whole leverage_opportunity labelling on a synthetic panel (default 500 x 5,000).
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def timed(fn, repeat: int) -> tuple[float, float]:
    """Median wall time, and the best CPU time of the process (robust when other jobs share the cores)."""
    wall, cpu = [], []
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        fn()
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - t)
    return statistics.median(wall), min(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--tickers", type=int, default=500)
    parser.add_argument("--bars", type=int, default=5000)
    args = parser.parse_args()

    import os

    import pandas as pd

    os.environ.setdefault("QLOP_CACHE_DIR", tempfile.mkdtemp(prefix="qlop-bench-"))
    from qlop.config import DataConfig
    from qlop.sim import TradeRules, simulate
    from qlop.sim.panel import panel_arrays
    from qlop.stages.data import load_panel
    from qlop_contrib.labels.leverage import LeverageOpportunityLabel

    spec = importlib.util.spec_from_file_location("sim_reference", ROOT / "tests" / "sim" / "conftest.py")
    ref = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ref)  # type: ignore[union-attr]

    panel = load_panel(DataConfig())
    a = panel_arrays(panel)
    h = 10
    rows = np.flatnonzero(np.arange(len(a)) + h <= a.seg_end)
    entries = rows + 1
    px = (a.open, a.high, a.low, a.close, a.day, a.seg_end)
    long = TradeRules(
        side="long",
        leverage=3,
        horizon=h,
        take_profit=0.05,
        stop_loss=0.03,
        maintenance_margin=0.25,
        commission_bps=1,
        slippage_bps=2,
        financing_rate=0.05,
    )
    short = long.model_copy(update={"side": "short", "borrow_fee": 0.02})
    rng = np.random.default_rng(0)
    side = rng.choice([-1, 1], size=entries.size)
    hor = rng.integers(1, h + 1, size=entries.size)
    xo = np.where(rng.random(entries.size) < 0.3, entries + rng.integers(1, h, size=entries.size), -1)

    print(f"sample panel: {len(a):,} bars, {entries.size:,} trades, H = {h}")
    cases = {
        "long, tp/sl/costs": lambda: simulate(*px, entries, long),
        "short, borrow fee": lambda: simulate(*px, entries, short),
        "mixed sides + overrides": lambda: simulate(*px, entries, long, side=side, horizon=hor, exit_open_idx=xo),
    }
    for name, fn in cases.items():
        fn()
        med, best = timed(fn, args.repeat)
        print(f"  simulate {name:<26} median {med * 1e3:7.1f} ms   best CPU {best * 1e3:7.1f} ms")

    sub = entries[:: max(1, entries.size // 5000)]
    c = time.process_time()
    ref.reference_simulate(*px, sub, long)
    loop = (time.process_time() - c) * entries.size / sub.size
    _, best = timed(cases["long, tp/sl/costs"], args.repeat)
    print(
        f"  per-trade Python loop (reference), CPU scaled to all trades: {loop:6.2f} s"
        f"  -> simulate is {loop / best:,.0f}x faster"
    )

    rng = np.random.default_rng(1)
    n_t, n_b = args.tickers, args.bars
    r = rng.normal(0, 0.02, (n_t, n_b))
    close = 100 * np.exp(np.cumsum(r, axis=1))
    open_ = close * np.exp(rng.normal(0, 0.005, (n_t, n_b)))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.01, (n_t, n_b))))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.01, (n_t, n_b))))
    index = pd.MultiIndex.from_product(
        [[f"T{i:04d}" for i in range(n_t)], pd.bdate_range("2000-01-03", periods=n_b)], names=["ticker", "date"]
    )
    big = pd.DataFrame(
        {"open": open_.ravel(), "high": high.ravel(), "low": low.ravel(), "close": close.ravel()}, index=index
    )
    del r, close, open_, high, low
    b = panel_arrays(big)
    big_entries = np.flatnonzero(np.arange(len(b)) + h <= b.seg_end) + 1
    label = LeverageOpportunityLabel("leverage_opportunity", {"leverage": 3.0})  # 3x long, 5% tp, 3% sl
    med, best = timed(
        lambda: simulate(b.open, b.high, b.low, b.close, b.day, b.seg_end, big_entries, label.trade_rules()),
        max(1, args.repeat // 2),
    )
    print(
        f"synthetic {n_t} x {n_b}: simulate {big_entries.size:,} trades  median {med:6.2f} s   best CPU {best:6.2f} s"
    )
    med, best = timed(lambda: label.make_labels(big), max(1, args.repeat // 2))
    print(f"synthetic {n_t} x {n_b}: leverage_opportunity make_labels  median {med:6.2f} s   best CPU {best:6.2f} s")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
