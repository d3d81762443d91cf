"""Synthetic source at scale: 500 tickers x 5,000 bars, time and peak memory, determinism.

Run: python benchmarks/synthetic.py [--tickers 500] [--bars 5000]

Each measurement runs in a fresh subprocess so peak RSS belongs to that step alone. Printed:
generation time, tracemalloc peak of Python/numpy allocations, the process's peak RSS increase, the
panel's own size (the floor any in-memory panel needs), validate_panel time on the result, and a
reference: the bare numpy cost of drawing the same number of normal variates.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time, tracemalloc, hashlib
import numpy as np, pandas as pd
from qlop_contrib.datasources.synthetic import SyntheticSource
from qlop.schema import validate_panel
n_t, n_b, step = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
out = {}
if step == "generate":
    src = SyntheticSource("synthetic", {"n_tickers": n_t, "n_bars": n_b, "seed": 42})
    t = time.perf_counter(); panel = src.load_data([], None, None, "1d"); out["seconds"] = time.perf_counter() - t
    out["rss_mb"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
    out["panel_mb"] = panel.memory_usage(deep=True).sum() / 1e6
    out["rows"] = len(panel)
    out["digest"] = hashlib.sha256(np.ascontiguousarray(panel.to_numpy()).tobytes()).hexdigest()[:16]
    t = time.perf_counter(); validate_panel(panel, "synthetic"); out["validate_seconds"] = time.perf_counter() - t
elif step == "tracemalloc":
    src = SyntheticSource("synthetic", {"n_tickers": n_t, "n_bars": n_b, "seed": 42})
    tracemalloc.start(); src.load_data([], None, None, "1d")
    out["peak_mb"] = tracemalloc.get_traced_memory()[1] / 1e6
elif step == "reference":
    rng = np.random.default_rng(0)
    t = time.perf_counter(); rng.standard_normal((7, n_b, n_t)); out["seconds"] = time.perf_counter() - t
print(json.dumps(out))
"""


def child(step: str, n_t: int, n_b: int) -> dict:
    res = subprocess.run(
        [sys.executable, "-c", CHILD, str(n_t), str(n_b), step], capture_output=True, text=True, check=True
    )
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickers", type=int, default=500)
    parser.add_argument("--bars", type=int, default=5000)
    args = parser.parse_args()
    n_t, n_b = args.tickers, args.bars
    a = child("generate", n_t, n_b)
    b = child("generate", n_t, n_b)
    mem = child("tracemalloc", n_t, n_b)
    ref = child("reference", n_t, n_b)
    print(f"synthetic {n_t} tickers x {n_b} bars = {a['rows']:,} rows")
    print(f"  generate                 : {a['seconds']:.2f} s (second run {b['seconds']:.2f} s)")
    print(
        f"  reference, numpy normals : {ref['seconds']:.2f} s for the 7 x {a['rows']:,} draws alone "
        f"({a['seconds'] / ref['seconds']:.1f}x)"
    )
    print(f"  validate_panel           : {a['validate_seconds']:.2f} s")
    print(f"  panel size               : {a['panel_mb']:.0f} MB")
    print(f"  peak traced allocations  : {mem['peak_mb']:.0f} MB ({mem['peak_mb'] / a['panel_mb']:.2f}x the panel)")
    print(f"  peak RSS increase        : {a['rss_mb']:.0f} MB (incl. validation)")
    print(f"  same seed, same panel    : {a['digest'] == b['digest']} ({a['digest']})")


if __name__ == "__main__":
    main()
