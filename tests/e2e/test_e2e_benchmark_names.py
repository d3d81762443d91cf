"""The backtest benchmark: any spelling the sample source accepts works, an unknown one fails at validation.

``^GSPC`` (Yahoo's name) and ``gspc`` load as ``GSPC``; they used to crash the backtest with a KeyError
traceback after training. An unknown name used to surface only when the backtest stage ran, after the
whole training; it is now a config error, with the run's first command.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from qlop.errors import ConfigError
from qlop.stages.backtest import benchmark_close, check_benchmark

QUICKSTART = Path(__file__).parents[2] / "examples" / "quickstart.toml"
DATES = pd.DatetimeIndex(pd.bdate_range("2010-01-04", "2010-03-31"))


@pytest.mark.parametrize("name", ["^GSPC", "gspc", " GSPC "])
def test_benchmark_spellings_load_the_same_closes(name):
    from qlop.config import PipelineConfig

    def closes(benchmark: str) -> pd.Series:
        cfg = PipelineConfig.model_validate({"backtest": {"benchmark": benchmark}})
        return benchmark_close(cfg, DATES)

    expected = closes("GSPC")
    assert len(expected) > 50
    pd.testing.assert_series_equal(closes(name), expected)


def test_an_unknown_benchmark_is_a_config_error_naming_the_field():
    check_benchmark("GSPC")
    check_benchmark(None)
    with pytest.raises(ConfigError, match=r"^backtest\.benchmark: 'SPX' .*did you mean SPY"):
        check_benchmark("SPX")


def test_config_validate_rejects_an_unknown_benchmark_in_one_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(QUICKSTART.read_text(encoding="utf-8").replace('benchmark = "GSPC"', 'benchmark = "SPX"'),
                   encoding="utf-8")
    proc = subprocess.run([sys.executable, "-c", "from qlop.cli.main import main; main()", "run", "-c", str(bad)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {bad}: backtest.benchmark: 'SPX'")
    assert not (tmp_path / "runs").exists(), "nothing runs, nothing is written"
