"""How long `qlop --help` takes, as a ratio against `python -c "import click"` (the floor of any click CLI).

Goal: at most 3x. The root group is lazy: no plugin, pandas, numpy, xgboost, ... is imported for --help.
Also reported: `qlop plugins list --json` (full plugin discovery, no component imported) for context.

    python benchmarks/cli_startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time


def timed(cmd: list[str], runs: int, env: dict[str, str]) -> float:
    """Median wall time of ``runs`` fresh processes (after one warm-up for the OS file cache)."""
    subprocess.run(cmd, capture_output=True, env=env, check=True)
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, capture_output=True, env=env, check=True)
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    env = {**os.environ, "QLOP_CACHE_DIR": tempfile.mkdtemp(prefix="qlop-bench-")}
    py = sys.executable
    cases = {
        'python -c "import click"': [py, "-c", "import click"],
        "qlop --help": [py, "-m", "qlop.cli.main", "--help"],
        "qlop --version": [py, "-m", "qlop.cli.main", "--version"],
        "qlop plugins list --json": [py, "-m", "qlop.cli.main", "plugins", "list", "--json"],
        'python -c "import pandas"': [py, "-c", "import pandas"],
    }
    times = {name: timed(cmd, args.runs, env) for name, cmd in cases.items()}
    base = times['python -c "import click"']
    print(f"median of {args.runs} runs each ({sys.version.split()[0]}, {os.cpu_count()} cpus)")
    for name, seconds in times.items():
        print(f"  {name:<28} {seconds * 1000:8.1f} ms   {seconds / base:5.2f}x click")
    ratio = times["qlop --help"] / base
    print(f"qlop --help / import click = {ratio:.2f}x (goal <= 3x): {'OK' if ratio <= 3 else 'TOO SLOW'}")


if __name__ == "__main__":
    main()
