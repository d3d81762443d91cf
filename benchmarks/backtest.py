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
that data can cost). The goal is within 10x the floor.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--books", type=int, default=2000)
    parser.add_argument("--bars", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
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
    print(f"ratio to the floor     : {best / floor:.1f}x (goal: within 10x)")


if __name__ == "__main__":
    main()
