"""A backtest refuses purged k-fold predictions: their models were trained on data after the dates they
predict, so trading them is look-ahead. It used to run and report the inflated figures silently."""

from __future__ import annotations

from pathlib import Path

import pytest

from qlop.config import PipelineConfig, load_config
from qlop.errors import ConfigError
from qlop.stages import backtest as backtest_stage
from qlop.stages import data as data_stage
from qlop.stages import features as features_stage
from qlop.stages import train as train_stage

QUICKSTART = Path(__file__).parents[2] / "examples" / "quickstart.toml"


def _config(scheme: str) -> PipelineConfig:
    raw = load_config(QUICKSTART).model_dump(mode="json")
    raw["data"].update(tickers=["AAPL", "KO"], start_date="2008-01-01", end_date="2012-12-31")
    raw["model"]["model_params"].update(n_estimators=10, nthread=1)
    raw["model"]["validation"].update(scheme=scheme, train_years=2.0, n_splits=3)
    raw["backtest"]["benchmark"] = None
    raw["export"] = None
    return PipelineConfig.model_validate(raw)


def test_backtesting_purged_kfold_predictions_is_a_config_error_and_writes_nothing(tmp_path):
    config = _config("purged_kfold")
    for stage in (data_stage, features_stage, train_stage):
        stage.run(config, tmp_path)
    with pytest.raises(ConfigError, match=r"^model\.validation\.scheme: .*purged_kfold predictions.*walk_forward"):
        backtest_stage.run(config, tmp_path)
    assert not (tmp_path / "backtest").exists()

    walk_forward = _config("walk_forward")
    train_stage.run(walk_forward, tmp_path)
    written = backtest_stage.run(walk_forward, tmp_path)
    assert Path(written["metrics"]).is_file()


def _write(tmp_path: Path, strategy: str) -> Path:
    text = QUICKSTART.read_text(encoding="utf-8").replace('scheme = "walk_forward"', 'scheme = "purged_kfold"')
    text = text.replace('strategy_type = "probability_threshold"', f'strategy_type = "{strategy}"')
    if strategy != "probability_threshold":
        text = text.split("[backtest.strategy_params]")[0] + '[export]\nformat_name = "onnx"\n'
    path = tmp_path / f"{strategy}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_config_is_refused_before_any_training_when_the_strategy_trades_predictions(tmp_path):
    from qlop.config import load_config

    with pytest.raises(ConfigError, match=r"model\.validation\.scheme: purged_kfold .*'probability_threshold'"):
        load_config(_write(tmp_path, "probability_threshold"))
    # comparing models with k-fold next to a strategy that ignores predictions stays valid
    assert load_config(_write(tmp_path, "buy_and_hold")).model.validation.scheme == "purged_kfold"
