"""Scale-free features as a contract: the default set ignores each ticker's price scale (what
back-adjustment changes), and the features stage warns when price-scale features meet back-adjusted data."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from qlop.config import FeaturesConfig, load_config
from qlop.stages.features import build, compute_features
from qlop.testing import assert_same_values, make_ohlcv_panel, rescale_panel
from qlop_contrib.features.defaults import DEFAULT_STEPS, default_features_config

from .conftest import make_step

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("step", DEFAULT_STEPS, ids=[s["step_type"] for s in DEFAULT_STEPS])
def test_every_default_step_declares_scale_free(step):
    assert make_step(step["step_type"], step["step_params"]).scale_free is True


def test_default_set_is_unchanged_on_a_rescaled_panel():
    """Each ticker's prices times its own constant (volumes times another): every default feature is
    the same. Raw MACD, the old default, is not: its level follows the price scale."""
    panel = make_ohlcv_panel(("AAA", "BBB", "CCC"), n_days=400, seed=3)
    rescaled = rescale_panel(panel)
    cfg = FeaturesConfig.model_validate(default_features_config())
    assert_same_values(
        compute_features(panel, cfg),
        compute_features(rescaled, cfg),
        "default features on a rescaled panel",
        rtol=1e-7,
        atol=1e-10,
    )
    raw = FeaturesConfig.model_validate({"steps": [{"step_type": "macd"}]})
    before, after = compute_features(panel, raw), compute_features(rescaled, raw)
    hist = "macd_hist_12_26_9"
    assert not np.allclose(before[hist], after[hist], equal_nan=True)


def test_normalised_macd_is_raw_macd_over_the_close():
    panel = make_ohlcv_panel(("AAA", "BBB"), n_days=200, seed=1)
    cfg = FeaturesConfig.model_validate(
        {"steps": [{"step_type": "macd"}, {"step_type": "macd", "step_params": {"normalize": True}}]}
    )
    out = compute_features(panel, cfg)
    for kind in ("macd", "macd_signal", "macd_hist"):
        np.testing.assert_allclose(
            out[f"{kind}_norm_12_26_9"], out[f"{kind}_12_26_9"] / panel["close"], rtol=1e-12, equal_nan=True
        )


def test_quickstart_spells_out_the_default_set():
    config = load_config(REPO / "examples" / "quickstart.toml")
    steps = [{"step_type": s.step_type, "step_params": s.step_params} for s in config.features.steps]
    assert steps == DEFAULT_STEPS


def test_sample_source_knows_which_files_are_back_adjusted():
    source = make_source("sample")
    assert source.back_adjusted(["AAPL"]) is True
    assert source.back_adjusted(["GSPC", "IXIC", "wiki_unadjusted/AAPL"]) is False
    assert source.back_adjusted(["GSPC", "SPY"]) is True
    assert make_source("sample", collection="wiki_unadjusted").back_adjusted(["AAPL", "MSFT"]) is False
    assert make_source("synthetic").back_adjusted(["SYN00000"]) is False
    assert make_source("csv", path=".").back_adjusted(["AAPL"]) is None  # a file does not say


def make_source(name, **params):
    from qlop.plugins.manager import get_plugin_manager

    return get_plugin_manager().create("data_source", name, params, "data.data_source_params")


CONFIG = """
[data]
data_source_type = "{source}"
tickers = {tickers}
start_date = "2009-01-01"
end_date = "2010-12-31"
{params}

[features]
steps = [
  {{ step_type = "macd" }},
  {{ step_type = "zscore", step_params = {{ columns = ["macd_hist_12_26_9"] }} }},
  {{ step_type = "rsi" }},
  {{ step_type = "lag", step_params = {{ columns = ["close"] }} }},
  {{ step_type = "lag", step_params = {{ columns = ["rsi_14"] }} }},
]
"""


def _run_dir(
    tmp_path: Path,
    source: str = "sample",
    tickers: str = '["AAPL", "GSPC"]',
    params: str = "",
    steps: list | None = None,
) -> tuple[Path, Path]:
    from qlop.stages import data

    path = tmp_path / "c.toml"
    text = CONFIG.format(source=source, tickers=tickers, params=params)
    if steps is not None:
        text = text.split("[features]")[0] + "[features]\nsteps = " + _toml_list(steps) + "\n"
    path.write_text(text)
    data.run(load_config(path), tmp_path / "run")
    return path, tmp_path / "run"


def _toml_list(steps: list) -> str:
    import json

    items = []
    for s in steps:
        params = ", ".join(f"{k} = {json.dumps(v)}" for k, v in s["step_params"].items())
        items.append(f'{{ step_type = "{s["step_type"]}", step_params = {{ {params} }} }}')
    return "[\n  " + ",\n  ".join(items) + "\n]"


def test_build_warns_about_price_scale_features_on_back_adjusted_data(tmp_path):
    path, run_dir = _run_dir(tmp_path)
    result = build(load_config(path), run_dir)
    (message,) = result.warnings
    assert "data source 'sample' gives back-adjusted prices" in message
    # the raw MACD, the z-score that reads it (inherited), and the lag of a price; not rsi, not rsi's lag
    assert "features.steps.0 (macd): macd_12_26_9, macd_signal_12_26_9, macd_hist_12_26_9" in message
    assert "features.steps.1 (zscore) via features.steps.0 (macd): zscore_20_macd_hist_12_26_9" in message
    assert "features.steps.3 (lag): close_lag_1" in message
    assert "rsi_14_lag_1" not in message and "rsi_14," not in message


def test_cli_build_and_the_stage_say_it(tmp_path, caplog):
    from qlop.cli.main import cli
    from qlop.stages import features

    path, run_dir = _run_dir(tmp_path)
    res = CliRunner().invoke(cli, ["features", "build", "-c", str(path), "--run-dir", str(run_dir)])
    assert res.exit_code == 0, res.output
    assert "warning: features: data source 'sample' gives back-adjusted prices" in res.stderr
    with caplog.at_level(logging.WARNING, logger="qlop.stages.features"):
        features.run(load_config(path), run_dir)  # what `qlop run` calls: the run's log records it
    assert any("not scale-free" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("case", ["defaults", "index_and_unadjusted", "synthetic"])
def test_no_warning_when_scale_free_or_not_adjusted(tmp_path, case):
    if case == "defaults":
        path, run_dir = _run_dir(tmp_path, steps=DEFAULT_STEPS)
    elif case == "index_and_unadjusted":
        path, run_dir = _run_dir(tmp_path, tickers='["GSPC", "wiki_unadjusted/AAPL"]')
    else:
        path, run_dir = _run_dir(
            tmp_path,
            source="synthetic",
            tickers='["S1", "S2"]',
            params='data_source_params = { n_bars = 400, start = "2009-01-01" }',
        )
    assert build(load_config(path), run_dir).warnings == []
