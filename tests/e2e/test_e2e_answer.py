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
