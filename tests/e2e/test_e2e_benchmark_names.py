"""The backtest benchmark: any spelling the sample source accepts works, an unknown one fails at validation.

``^GSPC`` (Yahoo's name) and ``gspc`` load as ``GSPC``; they used to crash the backtest with a KeyError
traceback after training. An unknown name used to surface only when the backtest stage ran, after the
whole training; it is now a config error, with the run's first command. The benchmark is a data
reference (``[backtest.benchmark]``: source, params, ticker) and the string form is its shorthand.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from qlop.benchmark import benchmark_close, check_benchmark
from qlop.config import PipelineConfig
from qlop.errors import ConfigError

QUICKSTART = Path(__file__).parents[2] / "examples" / "quickstart.toml"
DATES = pd.DatetimeIndex(pd.bdate_range("2010-01-04", "2010-03-31"))


def with_benchmark(benchmark: object) -> PipelineConfig:
    return PipelineConfig.model_validate({"backtest": {"benchmark": benchmark}})


@pytest.mark.parametrize(
    "name", ["^GSPC", "gspc", " GSPC ", {"data_source_type": "sample", "ticker": "GSPC"}, {"ticker": "^gspc"}]
)
def test_benchmark_spellings_load_the_same_closes(name):
    def closes(benchmark: object) -> pd.Series:
        return benchmark_close(with_benchmark(benchmark), DATES)

    expected = closes("GSPC")
    assert len(expected) > 50
    pd.testing.assert_series_equal(closes(name), expected)


def test_the_string_form_is_shorthand_for_a_sample_ticker_and_false_turns_it_off():
    assert with_benchmark("IXIC").backtest.benchmark.model_dump() == {
        "data_source_type": "sample",
        "data_source_params": {},
        "ticker": "IXIC",
        "kind": None,
    }
    default = PipelineConfig.model_validate({"backtest": {}}).backtest.benchmark
    assert (default.ticker, default.data_source_type) == ("SPY", "sample")  # the total-return default
    for off in (False, None, ""):
        assert with_benchmark(off).backtest.benchmark is None
        assert benchmark_close(with_benchmark(off), DATES) is None
    dumped = with_benchmark("GSPC").model_dump(mode="json")  # config.json round-trips
    assert PipelineConfig.model_validate(dumped) == with_benchmark("GSPC")


def test_an_unknown_benchmark_is_a_config_error_naming_the_field():
    check_benchmark(with_benchmark("GSPC"))
    check_benchmark(with_benchmark(False))
    with pytest.raises(ConfigError, match=r"^backtest\.benchmark: 'SPX' .*'sample'.*did you mean SPY"):
        check_benchmark(with_benchmark("SPX"))


def test_benchmark_source_and_params_are_validated_with_their_field_paths():
    from qlop.config import validate_plugins

    bad_source = with_benchmark({"data_source_type": "nosuch", "ticker": "X"})
    with pytest.raises(ConfigError, match=r"backtest\.benchmark\.data_source_type: .*nosuch"):
        validate_plugins(bad_source)
    bad_params = with_benchmark(
        {"data_source_type": "sample", "ticker": "GSPC", "data_source_params": {"collection": "nope"}}
    )
    with pytest.raises(ConfigError, match=r"backtest\.benchmark\.data_source_params\.collection: "):
        validate_plugins(bad_params)


def test_config_validate_rejects_an_unknown_benchmark_in_one_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(
        QUICKSTART.read_text(encoding="utf-8").replace('benchmark = "SPY"', 'benchmark = "SPX"'), encoding="utf-8"
    )
    proc = subprocess.run(
        [sys.executable, "-c", "from qlop.cli.main import main; main()", "run", "-c", str(bad)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {bad}: backtest.benchmark: 'SPX'")
    assert not (tmp_path / "runs").exists(), "nothing runs, nothing is written"
