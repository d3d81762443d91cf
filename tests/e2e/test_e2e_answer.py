"""`qlop run` ends with the three-part answer, computed from the run's own artefacts."""

from __future__ import annotations

import json
import math

import pandas as pd
from e2e_helpers import qlop, write_config


def test_run_prints_the_answer_from_its_artefacts(tmp_path):
    config = write_config(tmp_path / "c.toml")
    run_dir = tmp_path / "runs" / "r"
    done = qlop("run", "-c", str(config), "--run-dir", str(run_dir), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = " ".join(done.stdout.split())  # undo the line wrapping

    labels = pd.read_parquet(run_dir / "labels.parquet").dropna(subset=["label"])
    assert f"paid off on {labels['label'].mean():.2%} of {len(labels):,} labelled days" in out

    overall = json.loads((run_dir / "train_metrics.json").read_text())["overall"]
    base = overall["base_rate"]
    base_ll = -(base * math.log(base) + (1 - base) * math.log(1 - base))
    assert f"AUC {overall['auc']:.3f}" in out and f"vs {base_ll:.4f} for the constant base rate" in out

    metrics = json.loads((run_dir / "backtest" / "metrics.json").read_text())
    assert f"earned {metrics['total_return']:+.2%}" in out and f"{metrics['n_trades']:,} trades" in out


def test_a_data_only_run_gives_no_answer(tmp_path):
    config = tmp_path / "data.toml"
    config.write_text('[data]\ndata_source_type = "sample"\ntickers = ["KO"]\nstart_date = 2010-01-01\n')
    done = qlop("run", "-c", str(config), "--run-dir", str(tmp_path / "r"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "The answer" not in done.stdout


def _labels_run(tmp_path, label_type, frame):
    run_dir = tmp_path / label_type
    run_dir.mkdir()
    frame.to_parquet(run_dir / "labels.parquet")
    params = {"leverage": 2.0, "take_profit": 0.04, "stop_loss": None, "horizon": 5}
    (run_dir / "config.json").write_text(json.dumps({"label": {"label_type": label_type, "label_params": params}}))
    return run_dir


def test_opportunities_come_from_the_labels_frame_and_the_labels_trade_rules(tmp_path):
    """No label name is special: a trade-outcome frame (``exit_reason`` beside a 0/1 label) gives the
    line, described by the label's ``trade_rules()`` when the label can be built."""
    from qlop.answer import answer_lines

    index = pd.MultiIndex.from_product([["A"], pd.date_range("2020-01-01", periods=4)], names=["ticker", "date"])
    trades = pd.DataFrame(
        {"label": [1.0, 0.0, 0.0, float("nan")], "exit_reason": ["tp", "sl", "horizon", None]}, index=index
    )
    known = answer_lines(_labels_run(tmp_path, "leverage_opportunity", trades))
    assert known == [
        "Opportunities: the 2.00x long, take-profit 4%, stop -, 5 bars paid off on 33.33% of 3 "
        "labelled days (exits: tp 33%, sl 33%, liquidation 0%, horizon 33%)."
    ]
    other = answer_lines(_labels_run(tmp_path, "someone_elses_trade_label", trades))
    assert other == [known[0].replace("2.00x long, take-profit 4%, stop -, 5 bars", "labelled trade")]
    returns = answer_lines(_labels_run(tmp_path, "forward_return", trades[["label"]] * 0.01))
    assert returns == []
