"""A run on a plugin's data source works with QLOP's bundled data sources switched off.

The benchmark is a data reference like the run's data (``[backtest.benchmark]``: source, params,
ticker), so it can come from the same third-party source, or be turned off; nothing in the run needs
the bundled ``sample`` source unless the config names it.
"""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pandas as pd
from e2e_helpers import qlop, qlop_env

#: A third-party data source, written against the public API only.
TOY_SOURCE = """
import zlib

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from qlop.api import BaseDataSourcePlugin, ComponentSpec, DataError, hookimpl, require_daily, validate_panel

TICKERS = ("AAA", "BBB", "BENCH")


class ToyParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    drift: float = Field(0.0004, ge=-0.01, le=0.01, description="Mean daily log return")


class ToySource(BaseDataSourcePlugin):
    params_model = ToyParams

    def load_data(self, tickers, start_date, end_date, interval):
        require_daily(interval, "toy")
        dates = pd.bdate_range(start_date or "2015-01-01", end_date or "2018-12-31")
        frames = []
        for ticker in tickers or TICKERS[:2]:
            if ticker not in TICKERS:
                raise DataError(f"toy: ticker {ticker}: not provided (have {', '.join(TICKERS)})")
            rng = np.random.default_rng(zlib.crc32(ticker.encode()))
            close = 100 * np.exp(np.cumsum(rng.normal(self.params.drift, 0.012, len(dates))))
            open_ = close * np.exp(rng.normal(0, 0.003, len(dates)))
            frames.append(pd.DataFrame({
                "ticker": ticker, "date": dates, "open": open_, "close": close,
                "high": np.maximum(open_, close) * 1.004, "low": np.minimum(open_, close) * 0.996,
                "adj_close": close, "volume": 1e6}))
        return validate_panel(pd.concat(frames, ignore_index=True), "toy")


@hookimpl
def qlop_register_data_source():
    return ComponentSpec(name="toy", factory=ToySource, summary="test: seeded random walks")
"""

CONFIG = """
name = "toy"
[data]
data_source_type = "toy"
tickers = ["AAA", "BBB"]
start_date = 2015-01-01
end_date = 2017-12-29
[backtest]
strategy_type = "sma_crossover"
{benchmark}
"""


def run_toy(tmp_path, benchmark: str, name: str):
    plugins = tmp_path / "plugins"
    plugins.mkdir(exist_ok=True)
    (plugins / "toy_source.py").write_text(TOY_SOURCE, encoding="utf-8")
    config = tmp_path / f"{name}.toml"
    config.write_text(CONFIG.format(benchmark=benchmark), encoding="utf-8")
    env = qlop_env(QLOP_DISABLE_PLUGINS="qlop_contrib.datasources", QLOP_CACHE_DIR=str(tmp_path / "cache"))
    run_dir = tmp_path / "runs" / name
    done = qlop(
        "--plugins-dir", str(plugins), "run", "-c", str(config), "--run-dir", str(run_dir), cwd=tmp_path, env=env
    )
    return done, run_dir


def toy_closes(tmp_path, ticker: str, start: str, end: str) -> pd.Series:
    spec = importlib.util.spec_from_file_location("toy_source_for_test", tmp_path / "plugins" / "toy_source.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    panel = module.ToySource("toy").load_data([ticker], start, end, "1d")
    return panel.xs(ticker, level="ticker")["close"]


def test_benchmark_from_the_plugins_own_source_with_bundled_sources_disabled(tmp_path):
    # the toy source does not say whether its prices include dividends, so the config says which
    done, run_dir = run_toy(
        tmp_path, '[backtest.benchmark]\ndata_source_type = "toy"\nticker = "BENCH"\nkind = "price"', "bench"
    )
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((run_dir / "backtest" / "metrics.json").read_text())
    assert metrics["benchmark"] == "BENCH" and metrics["beta"] is not None and metrics["benchmark_kind"] == "price"
    equity = pd.read_parquet(run_dir / "backtest" / "equity.parquet")
    closes = toy_closes(tmp_path, "BENCH", "2015-01-01", "2017-12-29").reindex(equity.index)
    expected = closes / closes.iloc[0] * equity["equity"].iloc[0]
    np.testing.assert_allclose(equity["benchmark"].to_numpy(), expected.to_numpy(), rtol=1e-12)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert "qlop_contrib.datasources" not in {p["name"] for p in manifest["plugins"]}
    assert json.loads((run_dir / "config.json").read_text())["backtest"]["benchmark"] == {
        "data_source_type": "toy",
        "data_source_params": {},
        "ticker": "BENCH",
        "kind": "price",
    }


def test_benchmark_off_and_the_default_needing_the_disabled_sample_source(tmp_path):
    done, run_dir = run_toy(tmp_path, "benchmark = false", "off")
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((run_dir / "backtest" / "metrics.json").read_text())
    assert metrics["benchmark"] is None and "beta" not in metrics
    assert "benchmark" not in pd.read_parquet(run_dir / "backtest" / "equity.parquet").columns

    done, run_dir = run_toy(tmp_path, "", "default")  # the default benchmark is SPY of the sample source
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "backtest.benchmark.data_source_type: " in lines[0] and "'sample'" in lines[0]
    assert not run_dir.exists()
