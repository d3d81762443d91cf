"""`examples/quickstart-lstm.toml` end to end, beside the XGBoost quickstart on the same folds."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_quickstart_lstm_runs_end_to_end_on_the_quickstart_folds(run_qlop, tmp_path: Path) -> None:
    # the example as shipped but for its epochs (15, with early stopping): 1 keeps the suite short and
    # still train, predict every fold, export and backtest as the full run does
    text = (REPO / "examples" / "quickstart-lstm.toml").read_text(encoding="utf-8")
    assert "\nepochs = 15\n" in text
    short = tmp_path / "quickstart-lstm.toml"
    short.write_text(text.replace("\nepochs = 15\n", "\nepochs = 1\n"), encoding="utf-8")
    configs = {"quickstart": REPO / "examples" / "quickstart.toml", "quickstart-lstm": short}
    runs = {}
    for name, config in configs.items():
        run_dir = tmp_path / name
        proc = run_qlop("run", "-c", str(config), "--run-dir", str(run_dir))
        assert proc.returncode == 0, proc.stderr[-2000:] + proc.stdout[-2000:]
        runs[name] = run_dir
    lstm, xgb = runs["quickstart-lstm"], runs["quickstart"]
    assert "Prediction: lstm" in " ".join(proc.stdout.split())

    # the same out-of-sample rows, fold by fold: the LSTM scores every row XGBoost scores
    p_lstm, p_xgb = pd.read_parquet(lstm / "predictions.parquet"), pd.read_parquet(xgb / "predictions.parquet")
    assert p_lstm.index.equals(p_xgb.index) and (p_lstm["fold"] == p_xgb["fold"]).all()
    m_lstm = json.loads((lstm / "train_metrics.json").read_text())
    m_xgb = json.loads((xgb / "train_metrics.json").read_text())
    assert m_lstm["overall"]["n"] == m_xgb["overall"]["n"] > 20_000
    for m in (m_lstm, m_xgb):
        assert 0.0 < m["overall"]["auc"] < 1.0 and m["overall"]["log_loss"] > 0
    assert m_lstm["timings"]["library_seconds"] > 0

    # the export and the backtest ran on the LSTM's predictions
    bundle = json.loads((lstm / "export" / "bundle.json").read_text())
    assert bundle["lookback"] == 20 and bundle["parity_max_abs_diff"] <= 1e-5
    assert (lstm / "backtest" / "metrics.json").is_file()
