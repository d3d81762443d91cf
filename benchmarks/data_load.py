"""Sample-data load: cold (parse + validate) vs cached reload, against plain pandas.read_csv.

Run: python benchmarks/data_load.py [--repeat N]

Prints the median of N runs of
  * reference: pandas.read_csv of the 29 primary CSVs + concat (no checks, no canonical index);
  * cold: qlop.stages.data.load_panel(sample, all 29 tickers) with an empty cache folder;
  * cached: the same call again (Parquet cache read + validation);
plus the speed-up of the cached reload and cold's ratio to the reference. Imports are done before
timing; the first-ever call in a process also pays for importing pandas/pyarrow (printed separately).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    import pandas as pd

    from qlop.config import DataConfig
    from qlop.plugins import manager
    from qlop.stages.data import load_panel
    from qlop_contrib.datasources.sample import PRIMARY_TICKERS, data_dir

    cfg = DataConfig(data_source_type="sample")
    files = [data_dir() / f"{t}.csv" for t in PRIMARY_TICKERS]

    def reference() -> int:
        return len(pd.concat([pd.read_csv(f).assign(ticker=f.stem) for f in files]))

    cold, warm, ref = [], [], []
    rows = 0
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as cache:
            os.environ["QLOP_CACHE_DIR"] = cache
            manager.reset()
            t0 = time.perf_counter()
            rows = len(load_panel(cfg))
            t1 = time.perf_counter()
            load_panel(cfg)
            t2 = time.perf_counter()
            cold.append(t1 - t0)
            warm.append(t2 - t1)
        t0 = time.perf_counter()
        reference()
        ref.append(time.perf_counter() - t0)

    code = (
        "import time,os,tempfile;t=time.perf_counter();from qlop.config import DataConfig;"
        "from qlop.stages.data import load_panel;"
        "os.environ['QLOP_CACHE_DIR']=tempfile.mkdtemp();"
        "load_panel(DataConfig(data_source_type='sample'));print(time.perf_counter()-t)"
    )
    fresh = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)

    c, w, r = statistics.median(cold), statistics.median(warm), statistics.median(ref)
    print(f"sample, all 29 tickers: {rows:,} rows (median of {args.repeat})")
    print(f"  reference pandas.read_csv + concat : {r * 1000:8.1f} ms")
    print(f"  cold load_panel (parse + validate) : {c * 1000:8.1f} ms   ({c / r:.1f}x the bare read; goal < 1000 ms)")
    print(f"  cached reload (Parquet + validate) : {w * 1000:8.1f} ms   ({c / w:.1f}x faster than cold)")
    print(f"  fresh process incl. imports        : {fresh * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
