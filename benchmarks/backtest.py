"""Backtest engine throughput: many signal-driven single-asset books, against a memory-bound floor.

Run: python benchmarks/backtest.py [--books 2000] [--bars 5000] [--repeat 3]

Builds ``books x bars`` seeded price paths (GBM with overnight gaps and fat-tailed jumps) and a
moving-average crossover signal per book (long, short or flat), then times
``qlop.backtest.run_arrays`` on the whole set: one book per ticker, leverage 3, commission, minimum
commission 0, slippage, financing on the borrowed part, a short borrow fee, maintenance margin and a
liquidation fee. The time covers everything the engine does: candidate trades through the shared
simulator, sizing from each book's equity, and daily marks (equity, cash, gross and net exposure,
open positions) at every bar of every book. A first, untimed-for-the-ratio call loads the compiled
kernels (numba; compiled and cached on a fresh checkout); its time is printed separately.

Prints bar-books per second and the ratio of the engine's time to a memory-bound floor: one
``np.cumprod`` over the same ``books x bars`` price matrix (the least any per-bar computation over
that data can cost). Goals: within 5x the floor for the signal engine (isolated margin), within 10x
for the target-weight modes, timed on the same books and signals: ``margin_mode = "cross"`` (the
signals as targets) and ``sizing = "vol_target"`` (every bar a target, a 5% rebalancing band), each
also split into its targets (``raw_targets``) and its bar loop.

Also printed: the first call in a fresh process (``--first-call``: import, on-disk cached kernels,
one small backtest; goal 0.5 s) and whether ``qlop --help`` imports numba (it must not); and, with
``--vectorbt-python PATH`` (a Python whose environment has vectorbt, never QLOP's), vectorbt's
``Portfolio.from_signals`` on the same signals (entries at the next open, the same fees), best of
``--repeat`` after one call that compiles it, as a ratio to the same floor.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def make_books(n_books: int, n_bars: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Prices (books x bars, C-order) and crossover signals, flattened book after book."""
    rng = np.random.default_rng(seed)
    vol = rng.uniform(0.01, 0.03, size=(n_books, 1))
    ret = rng.standard_t(4, size=(n_books, n_bars)) * vol / np.sqrt(2.0)
    close = 50.0 * np.exp(np.cumsum(ret, axis=1))
    gap = rng.normal(0.0, 0.3, size=(n_books, n_bars)) * vol
    open_ = np.empty_like(close)
    open_[:, 0] = close[:, 0]
    open_[:, 1:] = close[:, :-1] * np.exp(gap[:, 1:])
    spread = np.abs(rng.normal(0.0, 0.5, size=(2, n_books, n_bars))) * vol
    high = np.maximum(open_, close) * np.exp(spread[0])
    low = np.minimum(open_, close) * np.exp(-spread[1])
    csum = np.cumsum(close, axis=1)

    def sma(n: int) -> np.ndarray:
        out = np.full_like(close, np.nan)
        out[:, n - 1] = csum[:, n - 1] / n
        out[:, n:] = (csum[:, n:] - csum[:, :-n]) / n
        return out

    fast, slow = sma(10), sma(40)
    band = 0.002 * slow
    with np.errstate(invalid="ignore"):
        signal = np.where(fast > slow + band, 1, np.where(fast < slow - band, -1, 0)).astype(np.int8)
    return {"open": open_, "high": high, "low": low, "close": close, "signal": signal}


FIRST_CALL = """
import time
t0 = time.perf_counter()
import numpy as np, pandas as pd
from qlop.backtest import EngineSettings, run_engine
t1 = time.perf_counter()
idx = pd.MultiIndex.from_product([["A", "B"], pd.bdate_range("2020-01-01", periods=300)], names=["ticker", "date"])
c = 100 * np.exp(np.cumsum(np.random.default_rng(0).normal(0, 0.01, len(idx))))
panel = pd.DataFrame({"open": c, "high": c * 1.01, "low": c * 0.99, "close": c, "adj_close": c, "volume": 1.0}, index=idx)
sig = pd.DataFrame({"signal": (np.arange(len(idx)) // 17 % 3 - 1).astype("int8")}, index=idx)
t2 = time.perf_counter()
run_engine(panel, sig, EngineSettings(leverage=2.0))
t3 = time.perf_counter()
run_engine(panel, sig, EngineSettings(leverage=2.0, margin_mode="cross"))
t4 = time.perf_counter()
print(f"{t1 - t0:.3f} {t3 - t2:.3f} {t4 - t3:.3f}")
"""

HELP_IMPORTS = """
import sys
sys.argv = ["qlop", "--help"]
from qlop.cli.main import main
try:
    main()
except SystemExit:
    pass
print("NUMBA" if "numba" in sys.modules else "CLEAN", file=sys.stderr)
"""

VECTORBT = """
import sys, time, numpy as np
sys.path.insert(0, sys.argv[1])
from backtest import make_books
import vectorbt as vbt
b = make_books(int(sys.argv[2]), int(sys.argv[3]))
sig = b["signal"].T  # bars x books
prev = np.vstack([np.zeros((1, sig.shape[1]), sig.dtype), sig[:-1]])  # decided at the close, traded next open
price = b["open"].T
kw = dict(entries=prev > 0, exits=prev <= 0, short_entries=prev < 0, short_exits=prev >= 0, price=price,
          close=b["close"].T, fees=0.0003, init_cash=100_000.0, freq="1D")
t = time.perf_counter(); vbt.Portfolio.from_signals(**kw).total_return(); first = time.perf_counter() - t
times = []
for _ in range(int(sys.argv[4])):
    t = time.perf_counter(); pf = vbt.Portfolio.from_signals(**kw); times.append(time.perf_counter() - t)
print(f"{min(times):.4f} {first:.2f} {vbt.__version__} {float(np.median(pf.total_return())):.4f}")
"""


def fresh_process(code: str, python: str = sys.executable, args: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """Run ``code`` in a new interpreter (this checkout first on its path)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([python, "-c", code, *args], capture_output=True, text=True, env=env, check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--books", type=int, default=2000)
    parser.add_argument("--bars", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--vectorbt-python", default=None, help="a Python with vectorbt installed (not QLOP's)")
    args = parser.parse_args()

    from qlop.backtest.candidates import ExitRules
    from qlop.backtest.engine import EngineSettings, run_arrays
    from qlop.sim.panel import PanelArrays

    nb, nt = args.books, args.bars
    t0 = time.perf_counter()
    books = make_books(nb, nt)
    build = time.perf_counter() - t0
    n = nb * nt
    day = np.tile(np.arange(nt, dtype=np.int64) * 7 // 5 + 10_000, nb)  # business-day-like calendar
    starts = np.repeat(np.arange(nb, dtype=np.int64) * nt, nt)
    arr = PanelArrays(
        open=books["open"].ravel(),
        high=books["high"].ravel(),
        low=books["low"].ravel(),
        close=books["close"].ravel(),
        day=day,
        seg_start=starts,
        seg_end=starts + nt - 1,
    )
    code = np.repeat(np.arange(nb, dtype=np.int64), nt)
    signal = books["signal"].ravel()
    weight = np.ones(n)
    score = np.full(n, np.nan)
    settings = EngineSettings(
        initial_capital=100_000.0,
        leverage=3.0,
        position_size=0.5,
        max_positions=1,
        max_gross_leverage=3.0,
        commission_bps=1.0,
        slippage_bps=2.0,
        financing_rate=0.05,
        borrow_fee=0.01,
        maintenance_margin=0.2,
        liquidation_fee=0.005,
    )
    exits = ExitRules(exit_on_signal=True)
    book_of_code = np.arange(nb, dtype=np.int64)

    close_m = books["close"]
    floor_times = []
    for _ in range(max(3, args.repeat)):
        t = time.perf_counter()
        np.cumprod(close_m, axis=1)
        floor_times.append(time.perf_counter() - t)
    floor = min(floor_times)

    # the first call in a process loads the compiled kernels (compiles them on a fresh checkout)
    t = time.perf_counter()
    run_arrays(arr, code, signal, weight, score, settings, exits, book_of_code)
    first = time.perf_counter() - t
    times, out = [], None
    for _ in range(args.repeat):
        t = time.perf_counter()
        out = run_arrays(arr, code, signal, weight, score, settings, exits, book_of_code)
        times.append(time.perf_counter() - t)
    best, median = min(times), statistics.median(times)

    # where the time goes (one extra run, step by step)
    from qlop.backtest.candidates import build_candidates, sim_rules
    from qlop.backtest.engine import book_layout, mark_books
    from qlop.backtest.sizing import Sized, size_single

    rules = sim_rules(settings.terms, exits)
    t = time.perf_counter()
    cand = build_candidates(arr, code, signal, rules, exits)
    t_cand = time.perf_counter() - t
    t = time.perf_counter()
    layout = book_layout(arr, code, book_of_code)
    t_layout = time.perf_counter() - t
    t = time.perf_counter()
    sized = Sized.empty(len(cand))
    size_single(
        cand, weight[cand.signal_row], np.arange(len(cand)), cand.code, settings.sizing_rules, settings.costs, sized
    )
    t_size = time.perf_counter() - t
    t = time.perf_counter()
    mark_books(arr, layout, cand, sized, settings.costs, settings.initial_capital)
    t_mark = time.perf_counter() - t

    assert out is not None
    reasons = np.bincount(out.cand.reason, minlength=6)
    print(f"books x bars           : {nb:,} x {nt:,} = {n:,} bar-books (data built in {build:.2f} s)")
    print(
        f"trades                 : {int(out.sized.taken.sum()):,} taken of {len(out.cand):,} candidates; "
        f"liquidations {int(reasons[3]):,}, signal exits {int(reasons[4]):,}, end {int(reasons[5]):,}"
    )
    print(f"bars in a position     : {int((out.n_positions > 0).sum()):,}")
    print(
        f"final equity (median)  : {float(np.median(out.equity.reshape(nb, nt)[:, -1])):,.0f} "
        f"(from {settings.initial_capital:,.0f})"
    )
    print(f"floor  np.cumprod      : {floor * 1e3:8.1f} ms  ({n / floor / 1e6:,.0f} M bar-books/s)")
    print(
        f"engine run_arrays      : {best * 1e3:8.1f} ms best, {median * 1e3:.1f} ms median of {args.repeat} "
        f"({n / best / 1e6:,.1f} M bar-books/s); first call {first * 1e3:.0f} ms (kernel loading, fresh memory)"
    )
    print(f"  candidates (sim)     : {t_cand * 1e3:8.1f} ms")
    print(f"  book layout          : {t_layout * 1e3:8.1f} ms")
    print(f"  sizing               : {t_size * 1e3:8.1f} ms")
    print(f"  daily marks          : {t_mark * 1e3:8.1f} ms")
    print(f"ratio to the floor     : {best / floor:.1f}x (goal: within 5x)")

    # the target-weight modes on the same books and signals
    from qlop.backtest.portfolio import raw_targets, run_portfolio_arrays

    for label, extra in (
        ("cross margin", {"margin_mode": "cross"}),
        ("vol_target, band 5%", {"sizing": "vol_target", "rebalance_band": 0.05, "max_leverage": 3.0}),
    ):
        mode = settings.model_copy(update=extra)
        run_portfolio_arrays(arr, code, raw_targets(arr, signal, weight, mode), mode, book_of_code)
        mode_times, target_times = [], []
        for _ in range(args.repeat):
            t = time.perf_counter()
            target = raw_targets(arr, signal, weight, mode)
            t_mid = time.perf_counter()
            res = run_portfolio_arrays(arr, code, target, mode, book_of_code)
            mode_times.append(time.perf_counter() - t)
            target_times.append(t_mid - t)
            del target
        i_best = int(np.argmin(mode_times))
        mb = mode_times[i_best]
        calls = int(res.stats[:, 3].sum())
        print(
            f"{label:<23}: {mb * 1e3:8.1f} ms best ({n / mb / 1e6:,.1f} M bar-books/s), {res.fill.shape[0]:,} fills, "
            f"{calls:,} margin calls; ratio to the floor {mb / floor:.1f}x (goal: within 10x)"
        )
        print(
            f"  targets / bar loop   : {target_times[i_best] * 1e3:8.1f} ms / "
            f"{(mb - target_times[i_best]) * 1e3:.1f} ms (in the best run)"
        )

    # a fresh process: import, kernels from the on-disk cache, one small backtest of each engine
    proc = fresh_process(FIRST_CALL)
    if proc.returncode == 0:
        imp, sig_first, tgt_first = (float(x) for x in proc.stdout.split())
        print(
            f"first call (fresh proc): import {imp:.2f} s, first signal backtest {sig_first:.2f} s (numba's "
            f"import and cached kernels), then the first target-weight backtest {tgt_first:.2f} s "
            "(goal: first backtest within 0.5 s)"
        )
    else:
        print(f"first call (fresh proc): failed: {proc.stderr.strip().splitlines()[-1:]}")
    helped = fresh_process(HELP_IMPORTS)
    print(f"qlop --help            : {'imports numba' if 'NUMBA' in helped.stderr else 'numba not imported'}")

    if args.vectorbt_python:
        proc = fresh_process(
            VECTORBT, args.vectorbt_python, (str(ROOT / "benchmarks"), str(nb), str(nt), str(args.repeat))
        )
        if proc.returncode == 0:
            vb, vfirst, version, vret = proc.stdout.split()
            print(
                f"vectorbt {version:<14}: {float(vb) * 1e3:8.1f} ms best (first call {float(vfirst):.1f} s), "
                f"ratio to the floor {float(vb) / floor:.1f}x, engine / vectorbt {best / float(vb):.2f} "
                "(vectorbt unlevered, no financing or margin)"
            )
        else:
            print(f"vectorbt               : failed: {proc.stderr.strip().splitlines()[-1:]}")
    else:
        print("vectorbt               : not measured (pass --vectorbt-python PATH: a Python with vectorbt installed)")


if __name__ == "__main__":
    main()
