"""The backtest stage and ``qlop backtest`` on small slices of the sample data."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from qlop.config import config_from_data
from qlop.errors import ArtifactError, ConfigError
from qlop.stages import backtest as stage

BASE = {
    "name": "bt-test",
    "data": {
        "data_source_type": "sample",
        "tickers": ["AAPL", "MSFT", "KO"],
        "start_date": "2012-01-01",
        "end_date": "2013-12-31",
    },
    "backtest": {
        "strategy_type": "sma_crossover",
        "strategy_params": {"fast": 5, "slow": 20},
        "leverage": 2.0,
        "position_size": 0.3,
        "max_positions": 3,
        "commission_bps": 1.0,
        "min_commission": 1.0,
        "slippage_bps": 2.0,
        "financing_rate": 0.05,
    },
}


def _config(**backtest):
    data = json.loads(json.dumps(BASE))
    data["backtest"].update(backtest)
    return config_from_data(data)


def _write_toml(path: Path, backtest_extra: str = "", label: str = "") -> Path:
    path.write_text(
        f"""
name = "bt-cli"
[data]
data_source_type = "sample"
tickers = ["AAPL", "KO"]
start_date = 2012-01-01
end_date = 2012-12-31
{label}
[backtest]
leverage = 2.0
maintenance_margin = 0.2
{backtest_extra}
""",
        encoding="utf-8",
    )
    return path


def test_stage_writes_every_artefact(tmp_path):
    written = stage.run(_config(), tmp_path)
    assert set(written) == {"equity", "trades", "metrics", "report"}
    eq = pd.read_parquet(written["equity"])
    assert {"equity", "cash", "gross_exposure", "net_exposure", "leverage", "n_positions", "benchmark"} <= set(
        eq.columns
    )
    assert eq.index.name == "date" and eq.index.is_monotonic_increasing
    trades = pd.read_parquet(written["trades"])
    for col in (
        "ticker",
        "side",
        "entry_date",
        "entry_price",
        "exit_date",
        "exit_price",
        "leverage",
        "margin",
        "exit_reason",
        "pnl",
        "fees",
        "financing",
    ):
        assert col in trades.columns
    assert len(trades) > 10
    metrics = json.loads(Path(written["metrics"]).read_text())
    assert metrics["n_trades"] == len(trades)
    assert metrics["final_equity"] == pytest.approx(eq["equity"].iloc[-1])
    assert metrics["benchmark"] == "SPY" and metrics["benchmark_kind"] == "total_return" and metrics["beta"] is not None
    assert metrics["benchmark_coverage"]["complete"] is True
    assert metrics["fees_paid"] == pytest.approx(trades["fees"].sum())
    html = Path(written["report"]).read_text(encoding="utf-8")
    assert "plotly.js" in html[:200_000] or "Plotly" in html
    assert not re.search(r"<script[^>]+src=", html), "the report must not load scripts from anywhere"
    for heading in (
        "Equity against the benchmark",
        "Drawdown",
        "Monthly returns",
        "Exposure and leverage",
        "Trade results by exit reason",
        "Metrics",
    ):
        assert heading in html
    assert not list(tmp_path.glob(".backtest*")), "no temporary directory left behind"


def test_probability_threshold_with_label_barriers_from_predictions(tmp_path):
    from qlop.stages.data import load_panel

    cfg = config_from_data(
        {
            **json.loads(json.dumps(BASE)),
            "label": {
                "label_type": "leverage_opportunity",
                "label_params": {"leverage": 2.0, "horizon": 5, "take_profit": 0.03, "stop_loss": 0.02},
            },
            "backtest": {
                "strategy_type": "probability_threshold",
                "strategy_params": {"entry": 0.7},
                "leverage": 2.0,
                "benchmark": None,
            },
        }
    )
    panel = load_panel(cfg.data)
    rng = np.random.default_rng(0)
    preds = pd.DataFrame({"prob": rng.random(len(panel)), "fold": 0}, index=panel.index)
    preds = preds.iloc[20 : len(preds) // 3]  # AAPL only, from its 21st day
    preds.to_parquet(tmp_path / "predictions.parquet")
    written = stage.run(cfg, tmp_path)
    trades = pd.read_parquet(written["trades"])
    assert set(trades["ticker"]) == {"AAPL"}
    eq = pd.read_parquet(written["equity"])
    assert eq.index[0] == preds.index.get_level_values(1)[0]  # starts with the predictions
    assert set(trades["exit_reason"]) <= {"tp", "sl", "horizon", "liquidation", "end"}
    assert (trades["bars_held"] <= 5).all()
    metrics = json.loads(Path(written["metrics"]).read_text())
    assert metrics["benchmark"] is None and "beta" not in metrics


def test_nan_predictions_are_no_signal(tmp_path):
    """A row a model could not score (NaN, e.g. a sequence model's first rows) opens nothing: the same
    trades as when that row has no prediction at all."""
    from qlop.stages.data import load_panel

    cfg = config_from_data(
        {
            **json.loads(json.dumps(BASE)),
            "backtest": {
                "strategy_type": "probability_threshold",
                "strategy_params": {"entry": 0.6, "barriers": "custom", "horizon": 5},
                "leverage": 2.0,
                "benchmark": None,
            },
        }
    )
    panel = load_panel(cfg.data)
    prob = np.random.default_rng(1).random(len(panel))
    prob[::3] = np.nan
    with_nan = pd.DataFrame({"prob": prob, "fold": 0}, index=panel.index)
    runs = {}
    for name, preds in (("nan", with_nan), ("dropped", with_nan.dropna())):
        run_dir = tmp_path / name
        run_dir.mkdir()
        preds.to_parquet(run_dir / "predictions.parquet")
        runs[name] = pd.read_parquet(stage.run(cfg, run_dir)["trades"])
    assert len(runs["nan"]) > 5
    pd.testing.assert_frame_equal(runs["nan"], runs["dropped"])
    nan_days = set(with_nan.index[np.isnan(prob)])
    signal_days = set(zip(runs["nan"]["ticker"], pd.to_datetime(runs["nan"]["signal_date"])))
    assert signal_days and not signal_days & nan_days


def test_missing_predictions_is_an_artifact_error_and_keeps_previous_results(tmp_path):
    stage.run(_config(), tmp_path)
    before = (tmp_path / "backtest" / "metrics.json").read_text()
    with pytest.raises(ArtifactError, match="predictions.parquet not found: run `qlop train` first"):
        stage.run(_config(strategy_type="top_k", strategy_params={"k": 1}), tmp_path)
    assert (tmp_path / "backtest" / "metrics.json").read_text() == before


def test_label_barriers_without_label_section_is_a_config_error(tmp_path):
    cfg = _config(strategy_type="probability_threshold", strategy_params={})
    idx = pd.MultiIndex.from_tuples([("AAPL", pd.Timestamp("2012-01-03"))], names=["ticker", "date"])
    pd.DataFrame({"prob": [0.9], "fold": [0]}, index=idx).to_parquet(tmp_path / "predictions.parquet")
    with pytest.raises(ConfigError, match="barriers: 'label' needs a \\[label\\] section"):
        stage.run(cfg, tmp_path)
    assert not (tmp_path / "backtest").exists()


def test_metrics_table_renders_as_text():
    from qlop.cli.tables import metrics_table, render

    text = render(metrics_table({"strategy": "x", "total_return": 0.1234, "sharpe": None, "n_trades": 12}))
    assert "Total return" in text and "12.34%" in text and "Sharpe" in text and "-" in text


def test_cli_backtest_prints_metrics_table(tmp_path):
    from qlop.cli.main import cli

    cfg = _write_toml(
        tmp_path / "c.toml",
        'strategy_type = "buy_and_hold"\nposition_size = 0.5\nmax_positions = 2\nmax_gross_leverage = 2.0',
    )
    result = CliRunner().invoke(cli, ["backtest", "-c", str(cfg), "--run-dir", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert "Total return" in result.output and "Sharpe" in result.output
    assert (tmp_path / "run" / "backtest" / "report.html").is_file()
    trades = pd.read_parquet(tmp_path / "run" / "backtest" / "trades.parquet")
    assert sorted(trades["ticker"]) == ["AAPL", "KO"] and (trades["exit_reason"] == "end").all()


def test_cli_errors_are_one_line_with_exit_code_2(tmp_path):
    from qlop.cli.main import cli

    cfg = _write_toml(tmp_path / "c.toml", 'strategy_type = "top_k"')
    result = CliRunner().invoke(cli, ["backtest", "-c", str(cfg), "--run-dir", str(tmp_path / "run")])
    assert result.exit_code == 2
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "predictions.parquet" in lines[0]
    bad = _write_toml(
        tmp_path / "bad.toml", 'strategy_type = "sma_crossover"\n[backtest.strategy_params]\nfast = 30\nslow = 10'
    )
    result = CliRunner().invoke(cli, ["backtest", "-c", str(bad), "--run-dir", str(tmp_path / "run")])
    assert result.exit_code == 2 and "backtest.strategy_params" in result.output
    assert not (tmp_path / "run" / "backtest").exists()
