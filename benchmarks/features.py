"""Feature and label building: the default set on the sample data and at scale, and QLOP's TA-Lib overhead.

Run: python benchmarks/features.py [--repeat N] [--skip-scale] [--only-intraday]

Prints
  1. the default feature set (qlop_contrib/features/defaults.py) plus the default
     ``leverage_opportunity`` labels on the 29 sample tickers (~128,000 rows): goal < 1 s;
  2. the same on 500 synthetic tickers x 5,000 bars (the ``synthetic`` data source), in a fresh process:
     goal < 15 s and < 4 GB peak memory (peak RSS of that process, and its growth over the loaded panel);
  3. QLOP's rsi, atr, macd, sma, ema and bollinger steps through ``compute_features`` on a 1M-row
     panel of 200 tickers, as a ratio against calling TA-Lib directly on the same per-ticker arrays:
     goal <= 1.3x. Three references: bare calls (outputs discarded); calls whose outputs are stored
     into full-length columns (the least work that yields usable panel columns); and QLOP's same nine
     columns written by hand (TA-Lib per ticker into columns, then the ratios in numpy).

  4. the default feature set plus the intraday calendar fields, and the default labels, on 20 synthetic
     tickers x one year of XNYS 1-minute bars (~1.94M rows), in a fresh process: goal < 5 s.
  5. the signal engine's backtest on that same panel (one shared book, and a book per ticker).

Times are medians of N runs after one warm-up; the ticker-block cache is cleared before every QLOP
run, so each run pays for finding the ticker blocks and checking the sort order.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable

os.environ.setdefault("QLOP_CACHE_DIR", tempfile.mkdtemp(prefix="qlop-bench-"))


def median_time(fn: Callable[[], Any], repeat: int, setup: Callable[[], Any] | None = None) -> float:
    return median_times(fn, repeat, setup)[0]


def median_times(fn: Callable[[], Any], repeat: int, setup: Callable[[], Any] | None = None) -> tuple[float, float]:
    """Median wall and CPU (this process) seconds of ``repeat`` calls, after one warm-up call."""
    fn()  # warm-up: imports, first-touch allocations
    wall, cpu = [], []
    for _ in range(repeat):
        if setup:
            setup()
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall), statistics.median(cpu)


def _cold() -> None:
    from qlop.grouping import clear_cache

    clear_cache()


def bench_sample(repeat: int) -> None:
    from qlop.config import DataConfig, LabelConfig
    from qlop.stages.data import load_panel
    from qlop.stages.features import compute_features, compute_labels
    from qlop_contrib.features.defaults import default_features_config

    panel = load_panel(DataConfig())
    cfg = default_features_config()
    label = LabelConfig()
    t0 = time.perf_counter()
    features = compute_features(panel, cfg)
    first = time.perf_counter() - t0
    t_feat = median_times(lambda: compute_features(panel, cfg), repeat, _cold)
    t_lab = median_times(lambda: compute_labels(panel, label), repeat, _cold)
    t_both = median_times(lambda: (compute_features(panel, cfg), compute_labels(panel, label)), repeat, _cold)
    n_tickers = panel.index.get_level_values(0).nunique()
    print(
        f"1. default features + labels, {n_tickers} sample tickers, {len(panel):,} rows, "
        f"{features.shape[1]} features (median of {repeat}; wall / CPU)"
    )
    print(
        f"   features {t_feat[0]:.3f} / {t_feat[1]:.3f} s, labels {t_lab[0]:.3f} / {t_lab[1]:.3f} s, "
        f"together {t_both[0]:.3f} / {t_both[1]:.3f} s (goal < 1 s): {'OK' if t_both[0] < 1 else 'TOO SLOW'}"
    )
    print(f"   (first call in a fresh process, importing TA-Lib: features {first:.3f} s)")


def _peak_rss_bytes() -> int:
    """Peak resident set size of this process (VmHWM; ru_maxrss where /proc is missing)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def scale_child(n_tickers: int, n_bars: int) -> None:
    """Runs in a fresh process: load the synthetic panel, then time features + labels once."""
    import talib  # noqa: F401  (import cost is not feature work)

    from qlop.config import DataConfig, LabelConfig
    from qlop.stages.data import load_panel
    from qlop.stages.features import compute_features, compute_labels
    from qlop_contrib.features.defaults import default_features_config

    t0 = time.perf_counter()
    panel = load_panel(
        DataConfig(
            data_source_type="synthetic", data_source_params={"n_tickers": n_tickers, "n_bars": n_bars, "seed": 1}
        )
    )
    t_load = time.perf_counter() - t0
    rss_panel = _peak_rss_bytes()
    reset = _reset_peak_rss()
    t0, c0 = time.perf_counter(), time.process_time()
    features = compute_features(panel, default_features_config())
    t_feat, c_feat = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    labels = compute_labels(panel, LabelConfig())
    t_lab, c_lab = time.perf_counter() - t0, time.process_time() - c0
    print(
        json.dumps(
            {
                "rows": len(panel),
                "features": features.shape[1],
                "label_rows": int(labels["label"].notna().sum()),
                "load": t_load,
                "t_features": t_feat,
                "t_labels": t_lab,
                "cpu": c_feat + c_lab,
                "peak_rss": _peak_rss_bytes(),
                "rss_after_load": rss_panel,
                "peak_reset": reset,
                "panel_bytes": int(panel.memory_usage(deep=True).sum()),
                "features_bytes": int(features.memory_usage(deep=True).sum()),
            }
        )
    )


#: One year of XNYS sessions (2023: 250 sessions, 3 early closes) in 1-minute bars.
XNYS_1M_2023 = 97_140


def intraday_child(n_tickers: int, n_bars: int) -> None:
    """Runs in a fresh process: load the 1-minute panel, then time features and labels (best of 5)."""
    import talib  # noqa: F401  (import cost is not feature work)

    from qlop.config import DataConfig, FeaturesConfig, LabelConfig
    from qlop.stages.data import load_panel
    from qlop.stages.features import compute_features, compute_labels
    from qlop_contrib.features.defaults import default_features_config

    t0 = time.perf_counter()
    panel = load_panel(
        DataConfig(
            data_source_type="synthetic",
            data_source_params={"n_tickers": n_tickers, "n_bars": n_bars, "seed": 1, "start": "2023-01-03"},
            interval="1m",
            session="XNYS",
        )
    )
    t_load = time.perf_counter() - t0
    steps = list(default_features_config()["steps"])
    steps.append({"step_type": "calendar", "step_params": {"fields": ["time_of_day", "minutes_to_close"]}})
    cfg = FeaturesConfig.model_validate({"steps": steps})
    t_feat = best_times(lambda: compute_features(panel, cfg), 5, _cold)
    features = compute_features(panel, cfg)
    out: dict[str, Any] = {"rows": len(panel), "features": features.shape[1], "load": t_load, "t_features": t_feat}
    try:
        out["t_labels"] = best_times(lambda: compute_labels(panel, LabelConfig()), 5, _cold)
    except Exception as exc:  # reported, not hidden: the labels' simulator must accept intraday panels
        out["labels_error"] = str(exc).splitlines()[0]
    out.update(intraday_backtest(panel))
    print(json.dumps(out))


def intraday_backtest(panel: Any) -> dict[str, Any]:
    """The signal engine on the same panel: a causal 60-bar trend signal, 3x, the label's kind of
    barriers (tp 2%, sl 1%, 60 bars) closing at each session's end, one shared book and one per ticker."""
    import pandas as pd

    from qlop.backtest import EngineSettings, run_engine
    from qlop.backtest.candidates import ExitRules

    close = panel["close"]
    mean = close.groupby(level="ticker").transform(lambda s: s.rolling(60).mean())
    signals = pd.DataFrame({"signal": (close > mean).astype("int8")}, index=panel.index)
    settings = EngineSettings(
        leverage=3.0, position_size=0.05, max_positions=20, commission_bps=1.0, slippage_bps=2.0, financing_rate=0.05
    )
    exits = ExitRules(take_profit=0.02, stop_loss=0.01, horizon=60, exit_at_session_end=True)
    shared = run_engine(panel, signals, settings, exits)  # also the numba warm-up
    return {
        "bt_trades": len(shared.trades),
        "t_bt_shared": best_times(lambda: run_engine(panel, signals, settings, exits), 3),
        "t_bt_ticker": best_times(lambda: run_engine(panel, signals, settings, exits, books="ticker"), 3),
    }


def best_times(fn: Callable[[], Any], repeat: int, setup: Callable[[], Any] | None = None) -> tuple[float, float]:
    """Best wall and best CPU seconds of ``repeat`` calls (wall swings with the host; CPU is stable)."""
    wall, cpu = [], []
    for _ in range(repeat):
        if setup:
            setup()
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    return min(wall), min(cpu)


def bench_intraday(n_tickers: int = 20, n_bars: int = XNYS_1M_2023) -> None:
    out = subprocess.run(
        [sys.executable, __file__, "--intraday-child", str(n_tickers), str(n_bars)],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
    )
    if out.returncode:
        print(out.stderr)
        raise SystemExit(out.returncode)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    print(
        f"4. default features + time_of_day/minutes_to_close + default labels, {n_tickers} synthetic tickers x "
        f"one year of XNYS 1-minute bars = {r['rows']:,} rows, {r['features']} features "
        f"(panel generated in {r['load']:.1f} s, not counted; best of 5, wall / CPU)"
    )
    feat = r["t_features"]
    if "t_labels" in r:
        lab = r["t_labels"]
        cpu = feat[1] + lab[1]
        print(
            f"   features {feat[0]:.2f} / {feat[1]:.2f} s, labels {lab[0]:.2f} / {lab[1]:.2f} s, together "
            f"{feat[0] + lab[0]:.2f} / {cpu:.2f} s (goal < 5 s, judged on CPU time: wall time swings with "
            f"whatever else the host runs): {'OK' if cpu < 5 else 'TOO SLOW'}"
        )
    else:
        print(f"   features {feat[0]:.2f} / {feat[1]:.2f} s; labels FAILED: {r['labels_error']}")
    shared, ticker = r["t_bt_shared"], r["t_bt_ticker"]
    print(
        f"5. backtest of a 60-bar trend signal on that panel (3x, tp 2% / sl 1% / 60 bars, session-end exits; "
        f"{r['bt_trades']:,} trades; best of 3, wall / CPU): one shared book {shared[0]:.2f} / {shared[1]:.2f} s, "
        f"a book per ticker {ticker[0]:.2f} / {ticker[1]:.2f} s"
    )


def bench_scale(n_tickers: int, n_bars: int) -> None:
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(n_tickers), str(n_bars)],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
    )
    if out.returncode:
        print(out.stderr)
        raise SystemExit(out.returncode)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    total = r["t_features"] + r["t_labels"]
    gb = r["peak_rss"] / 1e9
    print(
        f"2. default features + labels, {n_tickers} synthetic tickers x {n_bars:,} bars = {r['rows']:,} rows "
        f"(panel generated in {r['load']:.1f} s, not counted)"
    )
    print(
        f"   features {r['t_features']:.2f} s, labels {r['t_labels']:.2f} s, together {total:.2f} s wall, "
        f"{r['cpu']:.2f} s CPU (goal < 15 s): {'OK' if total < 15 else 'TOO SLOW'}"
    )
    what = "after loading the panel" if r["peak_reset"] else "whole process, including the panel's generation"
    print(
        f"   peak RSS {gb:.2f} GB ({what}; goal < 4 GB): {'OK' if gb < 4 else 'TOO BIG'}; "
        f"RSS with the panel loaded {r['rss_after_load'] / 1e9:.2f} GB; panel {r['panel_bytes'] / 1e9:.2f} GB, "
        f"features {r['features_bytes'] / 1e9:.2f} GB"
    )


def gbm_panel(n_tickers: int, n_bars: int, seed: int = 0) -> Any:
    """A canonical panel of OHLC-consistent GBM paths (fast to make; the values do not matter here)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    n = n_tickers * n_bars
    logret = rng.normal(0.0003, 0.015, (n_tickers, n_bars))
    close = (50.0 * np.exp(np.cumsum(logret, axis=1))).ravel()
    open_ = close * np.exp(rng.normal(0, 0.004, n))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.006, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.006, n)))
    dates = pd.bdate_range("2000-01-03", periods=n_bars)
    index = pd.MultiIndex.from_product([[f"T{i:04d}" for i in range(n_tickers)], dates], names=["ticker", "date"])
    return pd.DataFrame(
        {
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "adj_close": close,
            "volume": rng.lognormal(13, 0.5, n),
        },
        index=index,
    )


TALIB_STEPS = [("rsi", {}), ("atr", {}), ("macd", {}), ("sma", {}), ("ema", {}), ("bollinger", {})]


def bench_talib_ratio(repeat: int, n_tickers: int = 200, n_bars: int = 5_000) -> None:
    import numpy as np
    import talib

    from qlop.config import FeaturesConfig
    from qlop.stages.features import compute_features

    panel = gbm_panel(n_tickers, n_bars)
    cfg = FeaturesConfig.model_validate({"steps": [{"step_type": t, "step_params": p} for t, p in TALIB_STEPS]})
    o, h, lo, c = (np.ascontiguousarray(panel[k].to_numpy()) for k in ("open", "high", "low", "close"))
    bounds = [(i * n_bars, (i + 1) * n_bars) for i in range(n_tickers)]

    def direct() -> None:
        for s, e in bounds:
            talib.RSI(c[s:e], 14)
            talib.ATR(h[s:e], lo[s:e], c[s:e], 14)
            talib.MACD(c[s:e], 12, 26, 9)
            talib.SMA(c[s:e], 20)
            talib.EMA(c[s:e], 20)
            talib.BBANDS(c[s:e], 20, 2.0, 2.0, 0)

    def direct_stored() -> None:
        n = len(c)
        cols = [np.empty(n) for _ in range(9)]
        for s, e in bounds:
            cols[0][s:e] = talib.RSI(c[s:e], 14)
            cols[1][s:e] = talib.ATR(h[s:e], lo[s:e], c[s:e], 14)
            cols[2][s:e], cols[3][s:e], cols[4][s:e] = talib.MACD(c[s:e], 12, 26, 9)
            cols[5][s:e] = talib.SMA(c[s:e], 20)
            cols[6][s:e] = talib.EMA(c[s:e], 20)
            cols[7][s:e], _, cols[8][s:e] = talib.BBANDS(c[s:e], 20, 2.0, 2.0, 0)

    def by_hand() -> dict[str, np.ndarray]:
        """QLOP's nine columns written by hand: TA-Lib per ticker into columns, then numpy ratios."""
        n = len(c)
        rsi, atr, sma, ema, up, mid, low = (np.empty(n) for _ in range(7))
        macd = [np.empty(n) for _ in range(3)]
        for s, e in bounds:
            rsi[s:e] = talib.RSI(c[s:e], 14)
            atr[s:e] = talib.ATR(h[s:e], lo[s:e], c[s:e], 14)
            macd[0][s:e], macd[1][s:e], macd[2][s:e] = talib.MACD(c[s:e], 12, 26, 9)
            sma[s:e] = talib.SMA(c[s:e], 20)
            ema[s:e] = talib.EMA(c[s:e], 20)
            up[s:e], mid[s:e], low[s:e] = talib.BBANDS(c[s:e], 20, 2.0, 2.0, 0)
        span = up - low
        return {
            "rsi": rsi,
            "atr": atr,
            "macd": macd[0],
            "signal": macd[1],
            "hist": macd[2],
            "sma": c / sma - 1,
            "ema": c / ema - 1,
            "pctb": (c - low) / span,
            "width": span / mid,
        }

    # Interleaved, so all four see the same machine load. Wall time, and CPU time of this process
    # (robust when other processes compete for the cores); best and median over the repetitions.
    funcs = {
        "direct": direct,
        "stored": direct_stored,
        "by_hand": by_hand,
        "qlop": lambda: compute_features(panel, cfg),
    }
    clocks = {"wall": time.perf_counter, "cpu": time.process_time}
    samples = {(c, k): [] for c in clocks for k in funcs}
    for fn in funcs.values():
        fn()
    for _ in range(repeat):
        for name, fn in funcs.items():
            _cold()
            w0, c0 = time.perf_counter(), time.process_time()
            fn()
            samples[("wall", name)].append(time.perf_counter() - w0)
            samples[("cpu", name)].append(time.process_time() - c0)
    out = compute_features(panel, cfg)
    print(
        f"3. rsi, atr, macd, sma, ema, bollinger on {len(panel):,} rows, {n_tickers} tickers "
        f"({out.shape[1]} columns); best / median of {repeat} interleaved runs"
    )
    verdict = None
    for clock in clocks:
        best = {k: min(samples[(clock, k)]) for k in funcs}
        med = {k: statistics.median(samples[(clock, k)]) for k in funcs}
        print(
            f"   {clock:>4}: TA-Lib per ticker, bare calls {best['direct'] * 1e3:.1f} / {med['direct'] * 1e3:.1f} ms; "
            f"outputs stored into columns {best['stored'] * 1e3:.1f} / {med['stored'] * 1e3:.1f} ms; "
            f"QLOP's nine columns by hand {best['by_hand'] * 1e3:.1f} / {med['by_hand'] * 1e3:.1f} ms; "
            f"QLOP {best['qlop'] * 1e3:.1f} / {med['qlop'] * 1e3:.1f} ms"
        )
        r_bare = med["qlop"] / med["direct"]
        print(
            f"         QLOP / bare = {best['qlop'] / best['direct']:.2f}x best, {r_bare:.2f}x median; "
            f"QLOP / stored = {best['qlop'] / best['stored']:.2f}x best, {med['qlop'] / med['stored']:.2f}x "
            f"median; QLOP / by hand = {best['qlop'] / best['by_hand']:.2f}x best, "
            f"{med['qlop'] / med['by_hand']:.2f}x median"
        )
        if clock == "cpu":
            verdict = r_bare
    print(f"   goal QLOP / bare TA-Lib <= 1.3x (CPU time, median): {verdict:.2f}x {'OK' if verdict <= 1.3 else 'OVER'}")


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        scale_child(int(sys.argv[2]), int(sys.argv[3]))
        return
    if len(sys.argv) == 4 and sys.argv[1] == "--intraday-child":
        intraday_child(int(sys.argv[2]), int(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--skip-scale", action="store_true", help="Skip the 500 x 5,000 run (2.5M rows).")
    parser.add_argument("--only-intraday", action="store_true", help="Run only the 1-minute intraday figure (4).")
    args = parser.parse_args()
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} cpus")
    if not args.only_intraday:
        bench_sample(args.repeat)
        if not args.skip_scale:
            bench_scale(500, 5_000)
        bench_talib_ratio(args.repeat)
    bench_intraday()


if __name__ == "__main__":
    main()
